"""Items owned by a record (issue 12 item 9): ``RecordItem`` rows are audited under their record,
frozen with it, written only by who may write it, listed on its page and exported with it."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from kernel_plugin import LINK_KINDS, WORKFLOW, AcmeWidget
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from core import (
    Permission,
    PermissionDenied,
    RecordItem,
    RecordType,
    RoleTemplate,
    SignatureRequest,
    StartupError,
    ValidationError,
    attest,
    audit_reason,
    create_record,
    items_of,
    transition,
)
from core.audit.context import acting_as
from core.db import db
from core.exports.history import record_entries
from core.testing import DEFAULT_PASSWORD, post_with_token

pytestmark = pytest.mark.backends("sqlite", "postgresql")


class AcmeCheck(RecordItem):
    __tablename__ = "acme_check"
    __item_label__ = "check"
    __item_columns__ = (("question", "Question"), ("answer", "Answer"))

    question: Mapped[str] = mapped_column(String(200))
    answer: Mapped[str] = mapped_column(String(200), default="")


def _plugin(temp_plugin, items=(AcmeCheck,)):  # type: ignore[no-untyped-def]
    return temp_plugin(
        "acme",
        register_models=lambda: [AcmeWidget, AcmeCheck],
        register_permissions=lambda: [Permission("acme.edit", "Edit widgets"),
                                      Permission("acme.approve", "Approve widgets")],
        register_roles=lambda: [RoleTemplate("author", None, ("acme.edit",)),
                                RoleTemplate("approver", None, ("acme.edit", "acme.approve")),
                                RoleTemplate("inspector", None, ("acme.edit",))],
        register_workflows=lambda: [WORKFLOW],
        register_link_kinds=lambda: list(LINK_KINDS),
        register_record_types=lambda: [RecordType(
            "acme_widget", "Widget", AcmeWidget, "WID", "acme_widget",
            controlled_fields=("description",), view_permission="acme.edit",
            manage_permission="acme.approve", frozen_states=("approved", "retired"),
            items=items)],
    )


@pytest.fixture
def app_config(temp_plugin):  # type: ignore[no-untyped-def]
    return {"plugins": ["acme"], "extra_plugins": {"acme": _plugin(temp_plugin)}}


@pytest.fixture
def people(app, make_user):  # type: ignore[no-untyped-def]
    bob, cara = make_user("bob", "approver"), make_user("cara", "approver")
    attest(cara, DEFAULT_PASSWORD)
    db.session.commit()
    return bob, cara


def _add(widget, user, question):  # type: ignore[no-untyped-def]
    with acting_as(user), audit_reason("Checklist"):
        check = AcmeCheck(record_id=widget.id, question=question, created_by_id=user.id)
        db.session.add(check)
        db.session.commit()
    return check


def test_items_are_audited_under_their_record_and_frozen_with_it(people, client, login):
    bob, cara = people
    widget = create_record("acme_widget", bob, title="Pump", description="d")
    db.session.commit()
    check = _add(widget, bob, "Is the seal intact?")
    with acting_as(bob), audit_reason("Answered"):
        check.answer = "Yes"
        db.session.commit()
    tables = {e.entity_type for e in record_entries(widget)}
    assert "acme_check" in tables
    assert [(m, [r.answer for r in rows]) for m, rows in items_of(widget)] == [(AcmeCheck, ["Yes"])]
    transition(widget, "submit", bob)
    transition(widget, "approve", cara, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    with pytest.raises(ValidationError, match="is approved"), acting_as(bob), \
            audit_reason("late"):
        check.answer = "No"
        db.session.flush()
    db.session.rollback()
    with pytest.raises(ValidationError, match="is approved"):
        _add(widget, bob, "One more?")
    db.session.rollback()
    with pytest.raises(ValidationError, match="is approved"), acting_as(bob), \
            audit_reason("gone"):
        db.session.delete(db.session.get(AcmeCheck, check.id))
        db.session.flush()
    db.session.rollback()

    login(client, "bob")
    page = client.get(f"/admin/acme_widget/details/?id={widget.id}").get_data(as_text=True)
    assert "<th>Question</th>" in page and "Is the seal intact?" in page
    copy = post_with_token(client, f"/admin/acme_widget/{widget.id}/certified-copy.zip")
    with zipfile.ZipFile(io.BytesIO(copy.data)) as archive:
        items = json.loads(archive.read("items.json"))
    assert items[0]["kind"] == "check"
    assert [(r["question"], r["answer"]) for r in items[0]["rows"]] == [
        ("Is the seal intact?", "Yes")]


def test_items_are_written_only_by_who_may_write_the_record(people, make_user):
    bob, _ = people
    reader = make_user("ivy", "inspector")  # may read widgets, not write them
    widget = create_record("acme_widget", bob, title="Pump", description="d")
    db.session.commit()
    with pytest.raises(PermissionDenied):
        _add(widget, reader, "Sneaky?")
    db.session.rollback()
    with pytest.raises(ValidationError, match="belongs to a record"), acting_as(bob), \
            audit_reason("orphan"):
        db.session.add(AcmeCheck(record_id=None, question="Orphan", created_by_id=bob.id))
        db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(AcmeCheck.id)) is None


def test_an_item_model_must_be_a_record_item_of_the_plugin(app_factory, temp_plugin):
    with pytest.raises(StartupError, match="must subclass core.RecordItem"):
        app_factory(plugins=["acme"], extra_plugins={"acme": _plugin(temp_plugin,
                                                                    items=(AcmeWidget,))})
