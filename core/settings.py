"""Runtime settings declared by plugins (``register_settings``), stored and audited in the core."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import current_app, g, has_app_context, has_request_context
from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, db, utcnow
from core.errors import ValidationError
from core.specs import SETTING_TYPES, SettingSpec


class Setting(Base):
    __tablename__ = "core_setting"
    __audit__ = True

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def audit_label(self) -> str:
        return self.key


def coerce_setting(spec: SettingSpec, raw: Any) -> Any:
    """Validate ``raw`` (a form string or a typed value) against ``spec``; raise ValidationError."""
    expected = SETTING_TYPES[spec.type]
    value = raw
    if isinstance(raw, str) and expected is not str:
        text = raw.strip()
        if expected is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise ValidationError({spec.key: "Enter true or false."})
            value = text.lower() in ("true", "1", "yes", "on")
        else:
            try:
                value = int(text)
            except ValueError:
                raise ValidationError({spec.key: "Enter a whole number."}) from None
    if type(value) is not expected:
        raise ValidationError({spec.key: f"Expected a value of type {spec.type}."})
    if spec.choices and value not in spec.choices:
        raise ValidationError({spec.key: f"Choose one of: {', '.join(spec.choices)}."})
    if spec.minimum is not None and value < spec.minimum:
        raise ValidationError({spec.key: f"Must be at least {spec.minimum}."})
    if spec.maximum is not None and value > spec.maximum:
        raise ValidationError({spec.key: f"Must be at most {spec.maximum}."})
    if isinstance(value, str) and len(value) > 2000:
        raise ValidationError({spec.key: "Must be at most 2000 characters."})
    return value


def _stored_values() -> dict[str, Any]:
    if has_request_context() and "cqms_settings" in g:
        return g.cqms_settings
    values = {s.key: json.loads(s.value) for s in db.session.scalars(select(Setting))}
    if has_request_context():
        g.cqms_settings = values
    return values


def get_setting(key: str) -> Any:
    """The stored value of a declared setting, or its default."""
    spec = current_app.extensions["cqms"].registry.settings.get(key)
    if spec is None:
        raise KeyError(f"unknown setting {key!r}")
    return _stored_values().get(key, spec.default)


def set_setting(key: str, raw: Any) -> Any:
    """Validate and store a setting in the current transaction (the audit listener records it)."""
    spec = current_app.extensions["cqms"].registry.settings.get(key)
    if spec is None:
        raise ValidationError({key: "Unknown setting."})
    value = coerce_setting(spec, raw)
    row = db.session.get(Setting, key)
    encoded = json.dumps(value)
    if row is None:
        db.session.add(Setting(key=key, value=encoded))
    elif row.value != encoded:
        row.value = encoded
    if has_app_context() and has_request_context():
        g.pop("cqms_settings", None)
    return value
