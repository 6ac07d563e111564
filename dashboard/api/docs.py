"""``/api/v1/docs``: the API reference, Swagger UI rendering ``/api/v1/openapi.json``.

Swagger UI's files come from the swagger-ui-py package and are served by the app itself
(air-gapped networks have no CDN); the page's one script is a file, so the
Content-Security-Policy needs no inline allowance.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from flask import Blueprint, Response, abort, send_from_directory

blp = Blueprint("api_docs", __name__, url_prefix="/api/v1/docs")
SWAGGER_DIR = Path(swagger_ui.__file__).resolve().parent / "static"
OWN_DIR = Path(__file__).resolve().parent / "static"
SWAGGER_FILES = {"swagger-ui-bundle.js", "swagger-ui.css"}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>certpush API v1 reference</title>
<link rel="stylesheet" href="/api/v1/docs/static/swagger-ui.css">
</head><body>
<div id="swagger-ui"></div>
<script src="/api/v1/docs/static/swagger-ui-bundle.js"></script>
<script src="/api/v1/docs/static/docs.js"></script>
</body></html>
"""


@blp.get("")
def page() -> Response:
    return Response(PAGE, mimetype="text/html")


@blp.get("/static/<name>")
def static(name: str) -> Response:
    """Only the named files: never a path a caller chooses."""
    if name in SWAGGER_FILES:
        return send_from_directory(SWAGGER_DIR, name, max_age=3600)
    if name == "docs.js":
        return send_from_directory(OWN_DIR, name, max_age=3600)
    abort(404)
