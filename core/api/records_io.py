"""Record bodies in and out: a per-type marshmallow schema for writes (the type's declared
``schema``, else one derived from its mapped columns) and the JSON shape of a record."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate
from marshmallow import ValidationError as SchemaError
from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, String, Text, exists, select
from sqlalchemy.sql.type_api import TypeEngine

from core.api.schemas import MAX_INT
from core.api.schemas import Text as TextField
from core.db import UTCDateTime, db
from core.errors import ValidationError
from core.phi import mask_values
from core.records.models import Record
from core.records.service import SERVER_OWNED
from core.specs import RecordType
from core.studies import Site
from core.users.models import User
from core.workflows.categories import category_of
from core.workflows.service import available_transitions

BASE_WRITABLE = ("title", "owner_id", "study_id", "site_id")
TEXT_LIMIT = 100_000


def _field_for(column: Any) -> fields.Field:
    kind: TypeEngine = column.type
    options: dict[str, Any] = {"allow_none": column.nullable}
    if isinstance(kind, UTCDateTime | DateTime):
        return fields.AwareDateTime(default_timezone=UTC, **options)
    if isinstance(kind, Date):
        return fields.Date(**options)
    if isinstance(kind, Boolean):
        return fields.Boolean(**options)
    if isinstance(kind, Integer):
        return fields.Integer(strict=True, validate=validate.Range(-MAX_INT, MAX_INT), **options)
    if isinstance(kind, Numeric):
        return fields.Decimal(as_string=True, allow_nan=False, **options)
    if isinstance(kind, String) and not isinstance(kind, Text) and kind.length:
        return TextField(validate=validate.Length(max=kind.length), **options)
    return TextField(validate=validate.Length(max=TEXT_LIMIT), **options)


def writable_columns(rt: RecordType) -> dict[str, Any]:
    mapper = rt.model.__mapper__
    return {attr.key: attr.columns[0] for attr in mapper.column_attrs
            if attr.key not in SERVER_OWNED and attr.key not in rt.server_fields}


@cache
def _derived_schema(rt: RecordType) -> type[Schema]:
    """Fields from the columns; those without default (and not filled by the core, like the
    owner) are required on create. Unknown fields are refused (marshmallow's RAISE)."""
    declared: dict[str, fields.Field] = {}
    for name, column in writable_columns(rt).items():
        field = _field_for(column)
        field.required = (name not in BASE_WRITABLE and not column.nullable
                          and column.default is None and column.server_default is None)
        declared[name] = field
    declared["title"] = TextField(required=True, validate=validate.Length(min=1, max=300))
    return Schema.from_dict(declared, name=f"{rt.model.__name__}Write")


def write_schema(rt: RecordType) -> Schema:
    return (rt.schema or _derived_schema(rt))()


def load_body(rt: RecordType, body: Any, *, creating: bool) -> tuple[dict[str, Any], str]:
    """Validated field values and the reason from a JSON body; ValidationError names fields."""
    if not isinstance(body, dict):
        raise ValidationError({"_body": "Send a JSON object."})
    body = dict(body)
    reason = body.pop("reason", "")
    if not isinstance(reason, str) or len(reason) > 2000 or "\x00" in reason:
        raise ValidationError({"reason": "A text of at most 2000 characters."})
    read_only = sorted(k for k in body if k in SERVER_OWNED or k in rt.server_fields)
    if read_only:
        raise ValidationError({k: "Read-only: set by the server." for k in read_only})
    try:
        values = write_schema(rt).load(body, partial=not creating)
    except SchemaError as exc:
        raise ValidationError({k: " ".join(_messages(v)) for k, v in exc.normalized_messages()
                               .items()}) from None
    if creating and not (values.get("title") or "").strip():
        raise ValidationError({"title": "A title is required."})
    _check_references(rt, values)
    return values, reason


def check_form_values(rt: RecordType, values: dict[str, Any]) -> None:
    """The admin form's values through the same write schema as the API's body (types, lengths,
    ranges, a declared schema's validators): one set of rules on both paths (DI-A2). Required
    fields stay the form's concern (a short create form leaves some for later), so the load is
    partial; empty values are left to the form and the database. ValidationError names fields."""
    given = {name: _plain(value) for name, value in values.items() if value is not None}
    try:
        write_schema(rt).load(given, partial=True, unknown=EXCLUDE)
    except SchemaError as exc:
        raise ValidationError({k: " ".join(_messages(v)) for k, v in exc.normalized_messages()
                               .items()}) from None


def _messages(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in _messages(v)]
    if isinstance(value, list):
        return [m for v in value for m in _messages(v)]
    return [str(value)]


def _check_references(rt: RecordType, values: dict[str, Any]) -> None:
    """Foreign keys must name existing rows (the database would refuse them less politely);
    a site must belong to the study."""
    columns = writable_columns(rt)
    errors = {}
    for name, value in values.items():
        column = columns.get(name)
        if value is None or column is None:
            continue
        for fk in column.foreign_keys:
            target = fk.column
            if not db.session.scalar(select(exists().where(target == value))):
                errors[name] = f"No {target.table.name.removeprefix('core_')} with id {value}."
    site_id = values.get("site_id")
    if site_id is not None and "site_id" not in errors:
        site = db.session.get(Site, site_id)
        study_id = values.get("study_id")
        if study_id is None:
            values["study_id"] = site.study_id
        elif site.study_id != study_id:
            errors["site_id"] = "This site belongs to another study."
    if errors:
        raise ValidationError(errors)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def record_json(record: Record, user: Any) -> dict[str, Any]:
    """The record as the API reads it, the PHI ``user`` may not see masked (core.phi)."""
    out = mask_values(record, {attr.key: _plain(getattr(record, attr.key))
                               for attr in record.__mapper__.column_attrs}, user)
    out["id"] = record.id
    out.update(
        owner=record.owner.username if record.owner else None,
        study=record.study.code if record.study else None,
        site=record.site.code if record.site else None,
        created_by=_username(record.created_by_id),
        updated_by=_username(record.updated_by_id),
        actions=[t.name for t in available_transitions(record, user)],
        category=category_of(record),
    )
    return out


def _username(user_id: int | None) -> str | None:
    user = db.session.get(User, user_id) if user_id else None
    return user.username if user else None


def field_info(rt: RecordType) -> list[dict[str, Any]]:
    schema = write_schema(rt)
    columns = {attr.key: attr.columns[0] for attr in rt.model.__mapper__.column_attrs}
    info = []
    for name, column in columns.items():
        field = schema.fields.get(name)
        length = getattr(column.type, "length", None)
        info.append({
            "name": name, "type": type(column.type).__name__.lower(),
            "required": bool(field and field.required) or name == "title",
            "nullable": bool(column.nullable), "max_length": length,
            "controlled": name in rt.controlled_fields or name in ("title", "study_id", "site_id"),
            "read_only": name in SERVER_OWNED or name in rt.server_fields,
            **_choices(rt, name),
        })
    return info


def _choices(rt: RecordType, name: str) -> dict[str, Any]:
    """A declared pick list's values and labels (a list administrators keep is read now)."""
    pairs = rt.choices.get(name)
    if pairs is None:
        return {"choices": None, "choice_labels": None}
    listed = list(pairs() if callable(pairs) else pairs)
    return {"choices": [value for value, _ in listed],
            "choice_labels": {value: label for value, label in listed}}

