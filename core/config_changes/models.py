"""The configuration change record: what to change, to what, why; what it was when proposed."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.records.models import Record

PROPOSAL_FIELDS = ("kind", "target", "proposed_value", "justification")
SERVER_FIELDS = ("base_value", "new_value", "activated_version")


class ConfigurationChange(Record):
    __tablename__ = "core_config_change"
    __mapper_args__ = {"polymorphic_identity": "core_config_change"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    # setting / role / plugin (core.config_versions.KINDS)
    kind: Mapped[str] = mapped_column(String(20), default="")
    # The setting's key, the role's key or the plugin's key.
    target: Mapped[str] = mapped_column(String(120), default="")
    # As typed: the setting's value, the role's permissions, "enabled" or "disabled".
    proposed_value: Mapped[str] = mapped_column(Text, default="")
    justification: Mapped[str] = mapped_column(Text, default="")
    # Set by the server when proposed (JSON): the value then, and the value to activate.
    base_value: Mapped[str] = mapped_column(Text, default="")
    new_value: Mapped[str] = mapped_column(Text, default="")
    # The configuration version its activation made.
    activated_version: Mapped[int | None] = mapped_column(Integer)
