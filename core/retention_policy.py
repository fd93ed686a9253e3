"""Start-up checks of a record type's ISO-09 declarations: its ``Retention`` (what it means for
a record is computed in core.retention) and its ``phi_fields`` (masked by core.phi)."""

from __future__ import annotations

from core.errors import StartupError
from core.specs import RecordType, Retention

COUNTED_FROM = ("closed", "created")


def check_retention(plugin: str, record_type: RecordType) -> None:
    """Refuse a policy that cannot be applied, naming the plugin and the type."""
    policy = record_type.retention
    if policy is None:
        return
    where = f"plugin {plugin!r}: record type {record_type.key!r}: retention"
    if not isinstance(policy, Retention):
        raise StartupError(f"{where} must be a core.Retention")
    if policy.rule is not None:
        if not callable(policy.rule) or not policy.rule_text.strip():
            raise StartupError(f"{where}: a rule must be callable and described in rule_text")
        return
    if not isinstance(policy.years, int) or isinstance(policy.years, bool) or not (
            0 < policy.years <= 200):
        raise StartupError(f"{where}: years must be a whole number from 1 to 200")
    if policy.counted_from not in COUNTED_FROM:
        raise StartupError(f"{where}: counted_from must be one of {', '.join(COUNTED_FROM)}")


def check_phi_fields(plugin: str, record_type: RecordType) -> None:
    """Every PHI field is a column of the type's model."""
    columns = {a.key for a in record_type.model.__mapper__.column_attrs}  # type: ignore[attr-defined]
    unknown = [f for f in record_type.phi_fields if f not in columns]
    if unknown:
        raise StartupError(f"plugin {plugin!r}: record type {record_type.key!r}: unknown "
                           f"phi_fields {unknown}")
