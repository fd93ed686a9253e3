"""A throwaway record type for kernel tests: ``acme_widget`` with a review/approve workflow."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from core import LinkKind, Permission, Record, RecordType, RoleTemplate, Transition, Workflow


class AcmeWidget(Record):
    __tablename__ = "acme_widget"
    __mapper_args__ = {"polymorphic_identity": "acme_widget"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")  # not controlled


def no_empty_description(record, user):  # type: ignore[no-untyped-def]
    return [] if record.description.strip() else ["the description is empty"]


TRANSITIONS = (
    Transition("submit", ("draft",), "in_review", "acme.edit", guards=(no_empty_description,)),
    Transition("reject", ("in_review",), "draft", "acme.approve", reason_required=True),
    Transition("approve", ("in_review",), "approved", "acme.approve", signature="approved",
               not_by=("created_by_id",)),
    Transition("retire", ("approved",), "retired", "acme.approve", signature="approved",
               reason_required=True),
)
CATEGORIES = {"draft": "draft", "in_review": "open", "approved": "open", "retired": "closed"}
WORKFLOW = Workflow("acme_widget", ("draft", "in_review", "approved", "retired"), "draft",
                    TRANSITIONS, categories=CATEGORIES)


# Link kinds between widgets (the core declares ``relates_to`` for any records).
LINK_KINDS = (LinkKind("addresses", "addresses", "addressed by", ("acme_widget",), ("acme_widget",)),
              LinkKind("uses", "uses", "used by", ("acme_widget",), ("acme_widget",)),
              LinkKind("replaces", "replaces", "replaced by", ("acme_widget",), ("acme_widget",),
                       cardinality="one"))


def make_plugin(temp_plugin, reason_in_draft=False, rt_options=None,  # type: ignore[no-untyped-def]
                **extra):
    extra.setdefault("register_link_kinds", lambda: list(LINK_KINDS))
    return temp_plugin(
        "acme",
        register_models=lambda: [AcmeWidget],
        register_permissions=lambda: [Permission("acme.edit", "Edit widgets"),
                                      Permission("acme.approve", "Approve widgets")],
        register_roles=lambda: [RoleTemplate("author", None, ("acme.edit",)),
                                RoleTemplate("approver", None, ("acme.edit", "acme.approve")),
                                RoleTemplate("site_monitor", None, ("acme.edit",))],
        register_workflows=lambda: [WORKFLOW],
        register_record_types=lambda: [RecordType(
            "acme_widget", "Widget", AcmeWidget, "WID", "acme_widget",
            controlled_fields=("description",), number_per_year=True,
            reason_in_draft=reason_in_draft, view_permission="acme.edit", manage_permission="acme.edit",
            **(rt_options or {}))],
        **extra,
    )


def make_scoped_plugin(temp_plugin, read_filter=None):  # type: ignore[no-untyped-def]
    """The widget read with ``acme.view`` and written with ``acme.edit`` (``make_plugin`` uses
    one permission for both, which hides scope mistakes); inspectors and trainees only read."""
    return temp_plugin(
        "acme",
        register_models=lambda: [AcmeWidget],
        register_permissions=lambda: [Permission("acme.view", "Read widgets"),
                                      Permission("acme.edit", "Edit widgets"),
                                      Permission("acme.approve", "Approve widgets")],
        register_roles=lambda: [
            RoleTemplate("trainee", None, ("acme.view",)),
            RoleTemplate("inspector", None, ("acme.view",)),
            RoleTemplate("author", None, ("acme.view", "acme.edit")),
            RoleTemplate("approver", None, ("acme.view", "acme.edit", "acme.approve"))],
        register_workflows=lambda: [WORKFLOW],
        register_record_types=lambda: [RecordType(
            "acme_widget", "Widget", AcmeWidget, "WID", "acme_widget",
            controlled_fields=("description",), view_permission="acme.view",
            manage_permission="acme.edit", read_filter=read_filter)],
    )
