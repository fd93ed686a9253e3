"""Runtime settings declared by plugins (``register_settings``), stored and audited in the core."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from core.config_versions import record_config_version
from core.db import Base, UTCDateTime, db, utcnow
from core.errors import ConflictError, ValidationError
from core.specs import SETTING_TYPES, SettingSpec
from core.stamps import forget_for_use, kept_for_use

# With this on, configuration changes go through an approved configuration change (P11-13).
APPROVAL_REQUIRED = "core.config_approval_required"
SETTINGS_SLOT = "cqms_settings"  # g / session.info slot of the stored values (core.stamps)
PROPOSE_HINT = "propose a change (System > Configuration change > Create) instead"


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


def _read_values() -> dict[str, Any]:
    with db.session.no_autoflush:
        return {s.key: json.loads(s.value) for s in db.session.scalars(select(Setting))}


def _stored_values() -> dict[str, Any]:
    """Kept by the process while no setting changed (core.stamps), looked up once per request;
    outside one once per transaction."""
    return kept_for_use("settings", SETTINGS_SLOT, _read_values)


def get_setting(key: str) -> Any:
    """The stored value of a declared setting, or its default."""
    spec = current_app.extensions["cqms"].registry.settings.get(key)
    if spec is None:
        raise KeyError(f"unknown setting {key!r}")
    return _stored_values().get(key, spec.default)


def refuse_direct_change(what: str, approved_change: object | None) -> None:
    """ConflictError when configuration changes need approval and ``approved_change`` (the
    configuration change record being activated) is not given."""
    if approved_change is None and get_setting(APPROVAL_REQUIRED):
        raise ConflictError(f"{what} cannot be changed directly: configuration changes need "
                            f"approval in this deployment; {PROPOSE_HINT}.")


def set_setting(key: str, raw: Any, *, approved_change: Any = None) -> Any:
    """Validate and store a setting in the current transaction (the audit listener records it)
    as a new configuration version; ``approved_change``: the approved configuration change
    being activated (required when approval is)."""
    spec = current_app.extensions["cqms"].registry.settings.get(key)
    if spec is None:
        raise ValidationError({key: "Unknown setting."})
    value = coerce_setting(spec, raw)
    old = get_setting(key)
    row = db.session.get(Setting, key)
    encoded = json.dumps(value)
    if row is not None and row.value == encoded:
        return value
    changed = value != old  # storing the default that is in force changes nothing
    if changed:
        refuse_direct_change(f"The setting {key}", approved_change)
    if row is None:
        db.session.add(Setting(key=key, value=encoded))
    else:
        row.value = encoded
    if changed:
        record_config_version("setting", key, old, value, getattr(approved_change, "id", None))
    forget_for_use(SETTINGS_SLOT)
    return value
