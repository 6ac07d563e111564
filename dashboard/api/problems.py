"""RFC 9457 problem details: every API error is ``application/problem+json``.

Each kind of error has a stable ``type`` (a URN: nothing to fetch from an air-gapped
network), so a script can branch on it; ``detail`` is the same human message the UI and
the CLI print; validation errors list each field that is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from flask import Response, request
from werkzeug.exceptions import HTTPException

from data.domain.connector_specs import ConnectorConfigError
from data.domain.errors import AuthError, CertpushError, NotFound, PermissionDenied
from data.domain.workflow import StateError
from data.idempotency import IdempotencyConflict
from data.user_admin import LastAdminError

API_PREFIX = "/api/"
MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class Kind:
    """One kind of problem: its stable type, title and HTTP status."""

    slug: str
    title: str
    status: int

    @property
    def type(self) -> str:
        return f"urn:certpush:problem:{self.slug}"


VALIDATION = Kind("validation", "The request is not valid", 422)
BAD_REQUEST = Kind("bad-request", "The request cannot be read", 400)
UNAUTHORIZED = Kind("unauthorized", "Authentication is required", 401)
FORBIDDEN = Kind("forbidden", "Your role or token does not allow this", 403)
FOUR_EYES = Kind("four-eyes", "Another person must do this (four-eyes policy)", 403)
NOT_FOUND = Kind("not-found", "Not found", 404)
METHOD = Kind("method-not-allowed", "Method not allowed", 405)
CONFLICT = Kind("conflict", "The request conflicts with the current state", 409)
TOO_LARGE = Kind("too-large", "The request is too large", 413)
MEDIA = Kind("unsupported-media-type", "Send JSON (application/json)", 415)
RATE_LIMITED = Kind("rate-limited", "Too many write calls: wait and try again", 429)
UNAVAILABLE = Kind("unavailable", "Not available now", 503)
INTERNAL = Kind("internal", "Internal error", 500)

_BY_STATUS = {
    k.status: k
    for k in (
        BAD_REQUEST,
        UNAUTHORIZED,
        FORBIDDEN,
        NOT_FOUND,
        METHOD,
        CONFLICT,
        TOO_LARGE,
        MEDIA,
        VALIDATION,
        RATE_LIMITED,
        UNAVAILABLE,
        INTERNAL,
    )
}


class Problem(CertpushError):
    """Raised by a route to answer with a problem of ``kind``."""

    def __init__(
        self,
        kind: Kind,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


class FieldErrorSchema(ma.Schema):
    location = ma.fields.String(metadata={"description": "json, query, path or header"})
    field = ma.fields.String(metadata={"description": "The field (dotted for nested ones)"})
    message = ma.fields.String()


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details (``application/problem+json``)."""

    type = ma.fields.String(
        required=True, metadata={"description": "Stable kind: urn:certpush:problem:<kind>"}
    )
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True, metadata={"description": "What went wrong"})
    instance = ma.fields.String(metadata={"description": "The path called"})
    errors = ma.fields.List(
        ma.fields.Nested(FieldErrorSchema),
        metadata={"description": "Validation errors, one per field"},
    )


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def problem_response(
    kind: Kind,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": kind.type,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
        "instance": request.path,
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=kind.status, mimetype=MEDIA_TYPE)
    response.headers.update(headers or {})
    return response


def _flatten(messages: Any, location: str, prefix: str = "") -> list[dict[str, str]]:
    """webargs' nested messages ({"json": {"a": {"0": ["..."]}}}) as one entry per field."""
    if isinstance(messages, dict):
        out: list[dict[str, str]] = []
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_flatten(value, location, name))
        return out
    if isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            return [
                {"location": location, "field": prefix or "(body)", "message": m} for m in messages
            ]
        out = []
        for i, value in enumerate(messages):
            out.extend(_flatten(value, location, f"{prefix}.{i}" if prefix else str(i)))
        return out
    return [{"location": location, "field": prefix or "(body)", "message": str(messages)}]


def field_errors(messages: dict[str, Any]) -> list[dict[str, str]]:
    """Validation messages keyed by location (json, query, ...) as a flat list."""
    out: list[dict[str, str]] = []
    for location, per_field in messages.items():
        out.extend(_flatten(per_field, str(location)))
    return out


def from_http_exception(exc: HTTPException) -> Response:
    data = getattr(exc, "data", None) or {}
    if exc.code == 422 and "messages" in data:
        errors = field_errors(data["messages"])
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(VALIDATION, f"invalid request: {summary}", errors=errors)
    kind = _BY_STATUS.get(exc.code or 500, BAD_REQUEST if (exc.code or 500) < 500 else INTERNAL)
    headers = {}
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    return problem_response(
        kind, data.get("message") or exc.description or kind.title, headers=headers
    )


def from_error(exc: CertpushError) -> Response:
    """A domain error as a problem: the class decides the kind, the message is the detail."""
    if isinstance(exc, Problem):
        return problem_response(exc.kind, exc.detail, errors=exc.errors, headers=exc.headers)
    if isinstance(exc, PermissionDenied):
        return problem_response(FORBIDDEN, str(exc))
    if isinstance(exc, AuthError):
        return problem_response(UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, NotFound):
        return problem_response(NOT_FOUND, str(exc))
    if isinstance(exc, ConnectorConfigError):
        errors = [
            {"location": "json", "field": name, "message": message}
            for name, message in exc.errors.items()
        ]
        return problem_response(VALIDATION, str(exc), errors=errors)
    if isinstance(exc, IdempotencyConflict):
        return problem_response(CONFLICT, str(exc))
    if isinstance(exc, StateError | LastAdminError):
        return problem_response(CONFLICT, str(exc))
    return problem_response(VALIDATION, str(exc))


def not_found(rest: str = "") -> Response:
    """Any /api/ path no route declares: a problem, never the Dash page behind it."""
    return problem_response(NOT_FOUND, f"no API route {request.method} {request.path}")
