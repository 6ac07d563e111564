"""Schemas shared by several routes: pages, endpoints, tasks, queued work.

Response schemas describe what the routes really send (schemathesis checks every
response against them), so a field that may be empty is declared ``allow_none``.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

F = ma.fields
MAX_LIMIT = 1000


class StrictBoolean(F.Boolean):
    """JSON true or false only: marshmallow's Boolean also takes 0, 1, "yes"…, which a
    client sending the wrong type should hear about."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ma.ValidationError("must be true or false")
        return value


class Strict(ma.Schema):
    """Request schemas refuse unknown fields: a typo is a 422, not silently ignored."""

    class Meta:
        unknown = ma.RAISE


class PageArgs(Strict):
    limit = F.Integer(
        load_default=100,
        validate=validate.Range(1, MAX_LIMIT),
        metadata={"description": f"Rows to return (1-{MAX_LIMIT})"},
    )
    offset = F.Integer(
        load_default=0, validate=validate.Range(0, 10**9), metadata={"description": "Rows to skip"}
    )


class PageMeta(ma.Schema):
    total = F.Integer(required=True, metadata={"description": "Rows matching the filters"})
    limit = F.Integer(required=True)
    offset = F.Integer(required=True)


class EndpointOut(ma.Schema):
    id = F.Integer(required=True)
    host = F.String(required=True)
    port = F.Integer(required=True)
    sni = F.String(allow_none=True, required=True)
    state = F.String(required=True, metadata={"description": "What the last sweep saw"})
    detail = F.String(required=True)
    checked_at = F.DateTime(allow_none=True, required=True)


class TaskOut(ma.Schema):
    id = F.Integer(required=True)
    kind = F.String(required=True)
    status = F.String(required=True, metadata={"description": "queued, running or done"})
    result = F.Dict(
        allow_none=True, required=True, metadata={"description": "The outcome once done"}
    )
    requested_by = F.String(required=True)
    links = F.Dict(required=True, metadata={"description": "Where to poll (self)"})


def task_json(view) -> dict:
    """A data.tasks.TaskView as the API shows it."""
    return {
        "id": view.id,
        "kind": view.kind,
        "status": view.status,
        "result": view.result,
        "requested_by": view.requested_by,
        "links": {"self": f"/api/v1/tasks/{view.id}"},
    }
