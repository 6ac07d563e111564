"""REST API v1 (``/api/v1``) on the Flask server Dash runs, with flask-smorest.

The OpenAPI 3.1 document (``/api/v1/openapi.json``) is generated from the routes'
declarations and their marshmallow schemas; ``/api/v1/docs`` renders it with Swagger UI
served by the app itself. Routes are thin: authenticate and check the role
(``caller``), call the same services as the UI and the CLI, shape the answer. Errors
are RFC 9457 problems (problems.py).
"""

from __future__ import annotations

import http

from apispec import BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, current_app, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from dashboard.api.problems import (
    MEDIA_TYPE,
    ProblemSchema,
    from_error,
    from_http_exception,
    is_api_request,
    not_found,
)
from data.domain.errors import CertpushError

API_PREFIX = "/api/v1"

DESCRIPTION = """Drive certpush from other systems: list certificates, manage app
connectors, request pushes, approve and implement them (four eyes apply as in the UI),
run verification sweeps and read the Push Validation Report.

**Authentication**: `Authorization: Bearer <token>` with a personal API token
(`certpush tokens create`, or the *API tokens* page). A token acts with its user's role;
a `read` token cannot change anything. Write calls are rate limited per token (429 with
`Retry-After`).

**Errors** are RFC 9457 `application/problem+json` documents with a stable `type`
(`urn:certpush:problem:validation`, `…:not-found`, `…:forbidden`, `…:four-eyes`,
`…:conflict`, `…:rate-limited`, `…:unauthorized`).
"""


class CertpushApi(Api):
    """flask-smorest's Api, answering errors as problems, on API paths only.

    Dash's pages and the login form keep Flask's own error pages: the error handler
    returns the exception itself outside ``/api/``.
    """

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        def handle(exc: HTTPException):
            if not is_api_request():
                return exc
            return from_http_exception(exc)

        self._app.register_error_handler(HTTPException, handle)

    def _register_responses(self) -> None:
        """The error responses of the document, as problem+json."""
        for status in http.HTTPStatus:
            response: dict = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, MEDIA_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A problem (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, MEDIA_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


class OperationIds(BasePlugin):
    """Every operation gets a stable ``operationId`` (blueprint_function), which the
    document's links between operations (create, then read) name."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        for operation in operations.values():
            if isinstance(operation, dict):
                operation.setdefault("operationId", rule.endpoint.replace(".", "_"))


def _schema_name(schema) -> str:
    """Component names without the ``Schema`` suffix, as readers expect."""
    cls = schema if isinstance(schema, type) else schema.__class__
    name = cls.__name__.removesuffix("Schema") or cls.__name__
    if not isinstance(schema, type) and (schema.only or schema.exclude or schema.partial):
        return ""  # an inline variant; apispec names it itself
    return name


def init_api(server: Flask) -> CertpushApi:
    """Register every API blueprint, the document and its reference page."""
    server.config.update(
        API_TITLE="certpush API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": DESCRIPTION},
            "servers": [{"url": "/"}],
            "components": {
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A certpush API token (cpt_…)",
                    }
                }
            },
            "security": [{"bearerAuth": []}],
        },
    )
    api = CertpushApi(
        server,
        spec_kwargs={
            "marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=_schema_name),
            "extra_plugins": [OperationIds()],
        },
    )
    from dashboard.api import (
        audit,
        certificates,
        connectors,
        docs,
        health,
        push_requests,
        reports,
        rollouts,
        tasks,
        users,
        verification,
        work_orders,
    )

    for module in (
        certificates,
        connectors,
        push_requests,
        work_orders,
        rollouts,
        verification,
        reports,
        tasks,
        audit,
        users,
        health,
    ):
        # Domain errors raised in a route become problems (blueprint handlers come first).
        module.blp.register_error_handler(CertpushError, from_error)
        api.register_blueprint(module.blp, url_prefix=f"{API_PREFIX}{module.PREFIX}")
    server.register_blueprint(docs.blp)
    server.before_request(_unknown_api_path)
    server.after_request(_api_allow_header)
    return api


def _api_methods() -> set[str]:
    """The methods the API declares for this path (Dash's catch-all page route, GET on
    every path, is not part of the API)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = set()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            rule, _ = adapter.match(request.path, method=method, return_rule=True)
        except HTTPException:
            continue
        if rule.rule.startswith("/api/"):
            allowed.add(method)
    return allowed


def _api_allow_header(response):
    """``Allow`` lists only the methods the API declares for the path."""
    if not is_api_request() or (request.method != "OPTIONS" and response.status_code != 405):
        return response
    allowed = _api_methods()
    if "GET" in allowed:
        allowed.add("HEAD")
    response.headers["Allow"] = ", ".join(sorted(allowed | {"OPTIONS"}))
    return response


def _unknown_api_path():
    """An /api/ path no API route declares would reach Dash's catch-all page: answer 404.

    (A path a route declares with another method still gets Flask's 405 with ``Allow``.)
    """
    if not is_api_request() or request.routing_exception is not None:
        return None
    rule = request.url_rule
    if rule is None or not rule.rule.startswith("/api/"):
        if _api_methods():  # the path exists with other methods
            return from_http_exception(MethodNotAllowed())
        return not_found()
    return None
