"""``/api/v1/certificates``: the inventory, one certificate with its connectors, import."""

from __future__ import annotations

import base64
import binascii

import marshmallow as ma
from flask_smorest import Blueprint
from marshmallow import validate

from dashboard.api.caller import caller
from dashboard.api.schemas import EndpointOut, PageArgs, PageMeta, Strict
from dashboard.auth import now, settings
from data.connectors import bound_connectors, certificate_by_fingerprint
from data.crypto import load_vault
from data.db import session_scope
from data.domain.roles import Permission
from data.domain.status import STATUS_TABLE, Status, parse_status
from data.importer import Importer, ImportResult, Outcome
from data.queries import CertificateRow, certificate_detail, certificate_page, status_counts

PREFIX = "/certificates"
blp = Blueprint("certificates", __name__, description="The certificate inventory")
F = ma.fields
MAX_ITEMS = 100
SORTS = ("not_after", "-not_after", "common_name", "-common_name", "issuer", "-issuer")


class CertificateQuery(PageArgs):
    status = F.String(
        validate=validate.OneOf([s.value for s in Status]),
        metadata={"description": "Only this status colour"},
    )
    cn = F.String(
        validate=validate.Length(1, 256), metadata={"description": "Common Name contains this text"}
    )
    expiring_within = F.Integer(
        validate=validate.Range(0, 36500),
        metadata={"description": "Only certificates expiring in the next N days (not expired)"},
    )
    sort = F.String(
        load_default="not_after",
        validate=validate.OneOf(SORTS),
        metadata={"description": "Order; '-' for descending"},
    )


class CertificateOut(ma.Schema):
    fingerprint_sha256 = F.String(required=True)
    common_name = F.String(allow_none=True, required=True)
    sans = F.List(F.String(), required=True)
    issuer = F.String(required=True)
    serial = F.String(required=True)
    not_before = F.DateTime(required=True)
    not_after = F.DateTime(required=True)
    days_left = F.Integer(required=True)
    status = F.String(required=True, metadata={"description": "Status colour"})
    status_label = F.String(required=True)
    links = F.Dict(required=True)


class CertificateListOut(ma.Schema):
    items = F.List(F.Nested(CertificateOut), required=True)
    page = F.Nested(PageMeta, required=True)


class ConnectorStateOut(ma.Schema):
    name = F.String(required=True)
    type = F.String(required=True)
    state = F.String(required=True, metadata={"description": "not pushed, installed, failed"})
    detail = F.String(required=True)
    endpoints = F.List(F.Nested(EndpointOut), required=True)
    links = F.Dict(required=True)


class CertificateDetailOut(CertificateOut):
    subject = F.String(required=True)
    key_type = F.String(required=True)
    key_size = F.Integer(allow_none=True, required=True)
    signature_algorithm = F.String(required=True)
    has_private_key = F.Boolean(required=True)
    revoked_at = F.DateTime(allow_none=True, required=True)
    parse_warnings = F.List(F.String(), required=True)
    connectors = F.List(F.Nested(ConnectorStateOut), required=True)


class ImportItem(Strict):
    filename = F.String(required=True, validate=validate.Length(1, 255))
    content = F.String(
        required=True,
        validate=validate.Length(1, 2 * 1024 * 1024),
        metadata={"description": "PEM text, or base64 of DER / PKCS#12"},
    )
    encoding = F.String(load_default="pem", validate=validate.OneOf(["pem", "base64"]))
    password = F.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(0, 1024),
        metadata={"description": "PKCS#12 or key password"},
    )


class ImportIn(Strict):
    items = F.List(F.Nested(ImportItem), required=True, validate=validate.Length(1, MAX_ITEMS))


class ImportResultOut(ma.Schema):
    path = F.String(required=True)
    item = F.Integer(allow_none=True, required=True)
    kind = F.String(required=True)
    result = F.String(required=True, metadata={"description": "imported, duplicate, rejected"})
    reason = F.String(required=True)
    fingerprint_sha256 = F.String(allow_none=True, required=True)
    common_name = F.String(allow_none=True, required=True)
    not_after = F.String(allow_none=True, required=True)
    status = F.String(allow_none=True, required=True)


class ImportOut(ma.Schema):
    imported = F.Integer(required=True)
    results = F.List(F.Nested(ImportResultOut), required=True)


def certificate_json(row: CertificateRow) -> dict:
    return {
        "fingerprint_sha256": row.fingerprint_sha256,
        "common_name": row.common_name,
        "sans": list(row.sans),
        "issuer": row.issuer,
        "serial": row.serial,
        "not_before": row.not_before,
        "not_after": row.not_after,
        "days_left": row.days_left,
        "status": row.status.value,
        "status_label": STATUS_TABLE[row.status].label,
        "links": {"self": f"/api/v1/certificates/{row.fingerprint_sha256}"},
    }


def _filters(args: dict) -> dict:
    """The API's filters as the inventory grid's filter model (one query for both)."""
    model: dict = {}
    if args.get("status"):
        model["status"] = {"filter": parse_status(args["status"]).value}
    if args.get("cn"):
        model["common_name"] = {"type": "contains", "filter": args["cn"]}
    if args.get("expiring_within") is not None:
        model["days_left"] = {"type": "inRange", "filter": 0, "filterTo": args["expiring_within"]}
    return model


@blp.route("", methods=["GET"])
@blp.arguments(CertificateQuery, location="query")
@blp.response(200, CertificateListOut)
def list_certificates(args: dict):
    """List certificates, soonest expiry first, with the total matching."""
    caller(Permission.VIEW_INVENTORY)
    sort = args["sort"]
    sort_model = [{"colId": sort.lstrip("-"), "sort": "desc" if sort.startswith("-") else "asc"}]
    limit, offset = args["limit"], args["offset"]
    with session_scope(settings().database_url) as db:
        page = certificate_page(
            db,
            start=offset,
            end=offset + limit,
            now=now(),
            sort_model=sort_model,
            filter_model=_filters(args),
        )
    return {
        "items": [certificate_json(r) for r in page.rows],
        "page": {"total": page.total, "limit": limit, "offset": offset},
    }


class StatusCountsOut(ma.Schema):
    counts = F.Dict(keys=F.String(), values=F.Integer(), required=True,
                    metadata={"description": "Certificates per status colour"})  # fmt: skip
    total = F.Integer(required=True)


@blp.route("/status-counts", methods=["GET"])
@blp.response(200, StatusCountsOut)
def counts():
    """How many certificates have each colour (the Overview page's cards)."""
    caller(Permission.VIEW_INVENTORY)
    with session_scope(settings().database_url) as db:
        found = status_counts(db, now())
    return {"counts": {s.value: n for s, n in found.items()}, "total": sum(found.values())}


def _endpoint_json(e) -> dict:
    return {
        "id": e.id,
        "host": e.host,
        "port": e.port,
        "sni": e.sni,
        "state": e.state.value,
        "detail": e.detail,
        "checked_at": e.checked_at,
    }


@blp.route("/<fingerprint>", methods=["GET"])
@blp.response(200, CertificateDetailOut)
def get_certificate(fingerprint: str):
    """One certificate with its status and the connectors it is bound to."""
    caller(Permission.VIEW_INVENTORY)
    with session_scope(settings().database_url) as db:
        detail = certificate_detail(db, fingerprint, now())
        cert = certificate_by_fingerprint(db, detail.row.fingerprint_sha256)
        connectors = bound_connectors(db, cert.id)
    body = certificate_json(detail.row)
    body.update(
        subject=detail.subject,
        key_type=detail.key_type,
        key_size=detail.key_size,
        signature_algorithm=detail.signature_algorithm,
        has_private_key=detail.has_private_key,
        revoked_at=detail.revoked_at,
        parse_warnings=list(detail.parse_warnings),
        connectors=[
            {
                "name": c.name,
                "type": c.type,
                "state": c.state.value,
                "detail": c.detail,
                "endpoints": [_endpoint_json(e) for e in c.endpoints],
                "links": {"self": f"/api/v1/connectors/{c.name}"},
            }
            for c in connectors
        ],
    )
    return body


def _decode(item: dict) -> bytes | None:
    """The item's bytes; None when its base64 is damaged (a rejected item, not an error)."""
    if item["encoding"] == "pem":
        return item["content"].encode()
    try:
        return base64.b64decode(item["content"], validate=True)
    except (binascii.Error, ValueError):
        return None


@blp.route("", methods=["POST"])
@blp.arguments(ImportIn)
@blp.response(200, ImportOut)
def import_certificates(body: dict):
    """Import PEM, DER or PKCS#12 files (and keys): one result per item, as the CLI prints.

    A file that cannot be read is a ``rejected`` result with the reason, not an error:
    the rest of the batch still imports.
    """
    who = caller(Permission.IMPORT_CERTIFICATES, write=True)
    app_settings = settings()
    vault = load_vault(app_settings, required=False)  # keys are refused without it
    with session_scope(app_settings.database_url) as db:
        importer = Importer(db, vault, now(), who.username, app_settings.max_file_bytes)
        for item in body["items"]:
            data = _decode(item)
            if data is None:
                importer.results.append(
                    ImportResult(
                        item["filename"],
                        None,
                        "file",
                        Outcome.REJECTED,
                        "content is not valid base64",
                    )
                )
                continue
            passwords = [item["password"].encode()] if item.get("password") else []
            importer.add_bytes(item["filename"], data, passwords)
        results = importer.finish()
    return {
        "imported": sum(r.result is Outcome.IMPORTED for r in results),
        "results": [r.to_json() for r in results],
    }
