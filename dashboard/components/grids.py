"""Options shared by grids whose rows are paged, sorted and filtered on the server."""

from __future__ import annotations

from typing import Any


def server_side_grid_options(page_size: int, **extra: Any) -> dict[str, Any]:
    """AG Grid's infinite row model with one block per page.

    dash-ag-grid keeps only the latest block request, so requests are serialised.
    """
    return {
        "pagination": True,
        "paginationPageSize": page_size,
        "paginationPageSizeSelector": False,
        "cacheBlockSize": page_size,
        "maxBlocksInCache": 20,
        "maxConcurrentDatasourceRequests": 1,
        "tooltipShowDelay": 300,
        **extra,
    }
