"""The configuration change's record type and workflow: proposed -> approved (signed by someone
other than the proposer) -> activated (applied), or rejected / withdrawn."""

from __future__ import annotations

import json
from typing import Any

from core.audit.context import audit_reason
from core.config_changes.models import PROPOSAL_FIELDS, SERVER_FIELDS, ConfigurationChange
from core.config_changes.values import apply, current_value, proposed
from core.config_versions import KINDS, active_version, lock_configuration
from core.db import db
from core.errors import ConflictError, ValidationError
from core.specs import RecordType, Retention, Transition, Workflow

KEY = "core_config_change"
VIEW, PROPOSE, APPROVE = "core.config.view", "core.config.propose", "core.config.approve"


def _encoded(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def prepare(change: ConfigurationChange) -> None:
    """Check the proposal and note the value it changes (``prepare_new``)."""
    with db.session.no_autoflush:
        if change.kind not in KINDS:
            raise ValidationError({"kind": "Choose what to change: a setting, a role or a "
                                           "plugin."})
        new = proposed(change.kind, (change.target or "").strip(), change.proposed_value or "")
        base = current_value(change.kind, change.target.strip())
    if new == base:
        raise ValidationError({"proposed_value": "That is the current value already: nothing "
                                                 "would change."})
    if not (change.justification or "").strip():
        raise ValidationError({"justification": "Say why the change is needed."})
    change.target = change.target.strip()
    change.base_value, change.new_value = _encoded(base), _encoded(new)


def not_stale(change: ConfigurationChange, _user: Any) -> list[str]:
    with db.session.no_autoflush:
        now = _encoded(current_value(change.kind, change.target))
    if now != change.base_value:
        return [f"the current value changed since {change.number} was proposed (then "
                f"{change.base_value}, now {now}): withdraw it and propose the change again"]
    return []


def activate(change: ConfigurationChange, user: Any) -> None:
    """Apply the change in the transition's transaction: all of it, or nothing. The value in
    force is checked again under the configuration lock (a concurrent change may have
    committed since the guard looked)."""
    lock_configuration()
    stale = not_stale(change, user)
    if stale:
        raise ConflictError(f"Cannot activate {change.number}: {stale[0]}.")
    reason = f"{change.number}: {change.justification.strip()}"
    with audit_reason(reason):
        apply(change, reason)
    change.activated_version = active_version().number


WORKFLOW = Workflow(
    KEY, ("proposed", "approved", "activated", "rejected", "withdrawn"), "proposed",
    (
        Transition("approve", ("proposed",), "approved", APPROVE, "Approve",
                   signature="approved", not_by=("created_by_id",), guards=(not_stale,)),
        Transition("reject", ("proposed",), "rejected", APPROVE, "Reject", reason_required=True),
        Transition("activate", ("approved",), "activated", PROPOSE, "Activate",
                   guards=(not_stale,), effects=(activate,)),
        Transition("withdraw", ("proposed", "approved"), "withdrawn", PROPOSE, "Withdraw",
                   reason_required=True),
    ),
    categories={"proposed": "draft", "approved": "open", "activated": "closed",
                "rejected": "cancelled", "withdrawn": "cancelled"},
)


def record_type() -> RecordType:
    return RecordType(
        KEY, "Configuration change", ConfigurationChange, "CFG", KEY, number_per_year=True,
        retention=Retention(years=25),
        controlled_fields=(*PROPOSAL_FIELDS, "base_value", "new_value"),
        view_permission=VIEW, manage_permission=PROPOSE, server_fields=SERVER_FIELDS,
        fixed_fields=("kind", "target", "proposed_value"),
        frozen_states=("approved", "activated", "rejected", "withdrawn"),
        frozen_hint="propose a new change instead", prepare_new=prepare,
        admin_category="System", list_columns=("kind", "target", "activated_version"),
        field_order=("title", "kind", "target", "proposed_value", "justification"),
        choices={"kind": tuple(KINDS.items())},
        labels={"kind": "What to change", "target": "Which one",
                "proposed_value": "New value", "justification": "Why",
                "base_value": "Value when proposed", "new_value": "Value to activate",
                "activated_version": "Configuration version made"},
        help_texts={
            "target": "The setting's name (e.g. core.site_name), the role's key (e.g. "
                      "qa_manager) or the plugin's key (e.g. capa).",
            "proposed_value": "A setting's new value; a role's permissions (the whole list, or "
                              "+name / -name to add or remove); enabled or disabled for a "
                              "plugin.",
            "justification": "Why the change is needed: shown to the approver and kept with "
                             "the configuration version.",
        },
    )
