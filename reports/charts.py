"""The Push Validation Report's charts as Plotly figures: the page and the PDF draw the same.

Pure builders: a small DataFrame (or ``ExpiryOutlook``) from ``data/reports.py`` in, a
``go.Figure`` out; no database, no Dash. Colours come from the one status table
(through ``STYLES``), and every push state also has its own bar pattern so that a
grey-scale print still tells them apart. The template is plain white with system
fonts: nothing is fetched from a CDN.

Clickable traces carry ``customdata`` the page turns into a drill-down ``Selection``:
trend bars ``[bucket_first, bucket_last, state]``, breakdown bars ``[index value]``.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from data.domain.periods import Granularity
from data.domain.push_validation import STYLES, PushValidation
from data.domain.status import STATUS_TABLE
from data.reports import EXPIRY_HORIZONS, ExpiryOutlook

STATES = list(PushValidation)
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
TEXT = "#212529"
GRID = "#e5e5e5"
RATE_LINE = "#1b1b1b"  # the success-rate line: dark, so it prints over any bar colour


def _base_layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        font={"family": FONT, "color": TEXT, "size": 12},
        paper_bgcolor="white",
        plot_bgcolor="white",
        height=height,
        margin={"l": 50, "r": 50, "t": 50, "b": 40},
        legend={
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.02,
            "xanchor": "right",
            "x": 1,
            "traceorder": "normal",
        },
        barmode="stack",
        bargap=0.25,
    )
    return fig


def _marker(state: PushValidation) -> dict:
    style = STYLES[state]
    return {
        "color": style.colour,
        "line": {"color": "white", "width": 0.5},
        "pattern": {"shape": style.pattern, "fgcolor": "white", "size": 6, "solidity": 0.3},
    }


def _iso(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _bucket_label(first, last) -> str:
    return _iso(first) if first == last else f"{_iso(first)} to {_iso(last)}"


def trend_figure(trend: pd.DataFrame, granularity: Granularity | str) -> go.Figure:
    """Pushes per day (or week), stacked by state, with the success rate on a 0-100 % axis."""
    granularity = Granularity(granularity)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = [_iso(d) for d in trend["bucket"]]
    firsts = [_iso(d) for d in trend["bucket"]]
    lasts = [_iso(d) for d in trend["bucket_last"]]
    labels = [_bucket_label(f, last) for f, last in zip(firsts, lasts, strict=True)]
    for state in STATES:
        style = STYLES[state]
        fig.add_trace(
            go.Bar(
                x=x,
                y=[int(v) for v in trend[state.value]],
                name=style.label,
                marker=_marker(state),
                customdata=[[f, last, state.value] for f, last in zip(firsts, lasts, strict=True)],
                hovertext=labels,
                hovertemplate=f"%{{hovertext}}<br>{style.label}: %{{y}}<extra></extra>",
                meta=state.value,
            ),
            secondary_y=False,
        )
    rate = [None if pd.isna(v) else round(float(v) * 100, 1) for v in trend["success_rate"]]
    fig.add_trace(
        go.Scatter(
            x=x,
            y=rate,
            name="Success rate %",
            mode="lines+markers",
            line={"color": RATE_LINE, "width": 2, "dash": "dot"},
            marker={"symbol": "diamond", "size": 7, "color": RATE_LINE},
            customdata=[[f, last, None] for f, last in zip(firsts, lasts, strict=True)],
            hovertext=labels,
            hovertemplate="%{hovertext}<br>Success rate: %{y:.1f} %<extra></extra>",
            connectgaps=False,
        ),
        secondary_y=True,
    )
    unit = "day" if granularity is Granularity.DAY else "week (first day)"
    _base_layout(fig, f"Pushes per {granularity.value}", 380)
    fig.update_layout(hovermode="closest", clickmode="event")
    fig.update_xaxes(title_text=unit, type="date" if granularity is Granularity.DAY else "category")
    fig.update_xaxes(showgrid=False, tickformat="%d %b" if granularity is Granularity.DAY else None)
    fig.update_yaxes(title_text="pushes", gridcolor=GRID, rangemode="tozero", secondary_y=False)
    fig.update_yaxes(
        title_text="success rate %",
        range=[0, 105],
        tickvals=[0, 25, 50, 75, 100],
        showgrid=False,
        ticksuffix=" %",
        secondary_y=True,
    )
    return fig


def breakdown_figure(frame: pd.DataFrame, index_col: str, title: str) -> go.Figure:
    """Horizontal stacked bars per state, one row per ``index_col`` value (first on top)."""
    fig = go.Figure()
    names = [str(v) for v in frame[index_col]] if len(frame) else []
    for state in STATES:
        style = STYLES[state]
        values = [int(v) for v in frame[state.value]] if len(frame) else []
        fig.add_trace(
            go.Bar(
                y=names,
                x=values,
                orientation="h",
                name=style.label,
                marker=_marker(state),
                customdata=[[n] for n in names],
                hovertemplate=f"%{{y}}<br>{style.label}: %{{x}}<extra></extra>",
                meta=state.value,
            )
        )
    height = max(240, 130 + 28 * len(names))
    _base_layout(fig, title, height)
    # the legend goes under the axis: a long title and four states do not fit one line
    fig.update_layout(
        hovermode="closest",
        clickmode="event",
        margin={"l": 140, "b": 80},
        legend={"yref": "container", "yanchor": "bottom", "y": 0, "xanchor": "left", "x": 0},
    )
    fig.update_yaxes(autorange="reversed", type="category", automargin=True)
    fig.update_xaxes(title_text="pushes", gridcolor=GRID, rangemode="tozero")
    if not names:
        fig.add_annotation(
            text="No pushes in this period", showarrow=False, x=0.5, y=0.5, xref="paper",
            yref="paper",
        )  # fmt: skip
    return fig


def expiry_figure(outlook: ExpiryOutlook) -> go.Figure:
    """Certificates per status colour now, and how many expire within 7, 30 and 90 days."""
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.68, 0.32],
        horizontal_spacing=0.1,
        subplot_titles=("Certificates by status", "Expiring within"),
    )
    styles = [STATUS_TABLE[s] for s in outlook.by_colour]
    counts = [int(n) for n in outlook.by_colour.values()]
    fig.add_trace(
        go.Bar(
            x=[s.label for s in styles],
            y=counts,
            marker={"color": [s.hex for s in styles], "line": {"color": TEXT, "width": 0.5}},
            text=counts,
            textposition="outside",
            hovertext=[s.meaning for s in styles],
            hovertemplate="%{x}: %{y}<br>%{hovertext}<extra></extra>",
            showlegend=False,
        ),
        row=1,
        col=1,
    )
    horizons = [f"{d} days" for d in EXPIRY_HORIZONS]
    soon = [int(outlook.expiring.get(d, 0)) for d in EXPIRY_HORIZONS]
    fig.add_trace(
        go.Bar(
            x=horizons,
            y=soon,
            marker={
                "color": "white",
                "line": {"color": TEXT, "width": 1},
                "pattern": {"shape": "/", "fgcolor": TEXT, "size": 6},
            },
            text=soon,
            textposition="outside",
            hovertemplate="Expiring within %{x}: %{y}<extra></extra>",
            showlegend=False,
        ),
        row=1,
        col=2,
    )
    _base_layout(fig, "Expiry outlook", 330)
    fig.update_layout(margin={"t": 70})
    top = max([*counts, *soon, 1])
    fig.update_yaxes(gridcolor=GRID, rangemode="tozero", range=[0, top * 1.2])
    fig.update_xaxes(type="category")
    return fig
