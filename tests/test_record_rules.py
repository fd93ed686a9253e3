"""Declared record rules (issue 12 item 1): fixed fields, server fields, frozen states,
``prepare_new``, ``validate_change`` and ``ItemRules`` hold on every path: the services, the
API, the admin and a plain ORM write; a plugin declares them, the core enforces them."""

from __future__ import annotations

import io

import pytest
from kernel_plugin import WORKFLOW, AcmeWidget
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column

from core import (
    Base,
    ConflictError,
    ItemRules,
    Permission,
    RecordType,
    RoleTemplate,
    SignatureRequest,
    ValidationError,
    add_attachment,
    attest,
    audit_reason,
    create_record,
    link_records,
    server_write,
    transition,
    update_record,
)
from core.audit.context import acting_as
from core.db import db
from core.testing import DEFAULT_PASSWORD

pytestmark = pytest.mark.backends("sqlite", "postgresql")


class AcmeNote(Base):
    """A row the acme plugin keeps beside its widgets: text fixed, a flag that may change."""

    __tablename__ = "acme_note"
    __audit__ = True
    __rules__ = ItemRules("widget note", changeable=("resolved",), deletable=False)

    id: Mapped[int] = mapped_column(primary_key=True)
    widget_id: Mapped[int] = mapped_column(ForeignKey("acme_widget.id"))
    text: Mapped[str] = mapped_column(String(200))
    resolved: Mapped[bool] = mapped_column(default=False)


class AcmeReading(Base):
    __tablename__ = "acme_reading"
    __audit__ = True
    __rules__ = ItemRules("reading", append_only=True, deletable=False)

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[str] = mapped_column(String(20))


def _prepare(widget):  # type: ignore[no-untyped-def]
    widget.notes = f"prepared for {widget.title}"  # a server field, filled on every path


def _validate_change(record, changes):  # type: ignore[no-untyped-def]
    if isinstance(record, AcmeWidget) and "description" in changes \
            and "forbidden" in (record.description or ""):
        return [("description", "The description may not say forbidden.")]
    if isinstance(record, AcmeNote) and not record.text.strip():
        return ["A note says something."]
    return []


@pytest.fixture
def app(app_factory, temp_plugin):  # type: ignore[no-untyped-def]
    plugin = temp_plugin(
        "acme",
        register_models=lambda: [AcmeWidget, AcmeNote, AcmeReading],
        register_permissions=lambda: [Permission("acme.edit", "Edit widgets"),
                                      Permission("acme.approve", "Approve widgets")],
        register_roles=lambda: [RoleTemplate("author", None, ("acme.edit",)),
                                RoleTemplate("approver", None, ("acme.edit", "acme.approve"))],
        register_workflows=lambda: [WORKFLOW],
        register_record_types=lambda: [RecordType(
            "acme_widget", "Widget", AcmeWidget, "WID", "acme_widget",
            controlled_fields=("description",), view_permission="acme.edit",
            manage_permission="acme.edit", server_fields=("notes",),
            fixed_fields=("owner_id",), frozen_states=("approved", "retired"),
            frozen_hint="retire it and write a new one", prepare_new=_prepare)],
        validate_change=_validate_change,
    )
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
    with app.app_context():
        yield app


@pytest.fixture
def people(make_user):  # type: ignore[no-untyped-def]
    return make_user("ann", "author"), make_user("bob", "approver")


def _widget(author, **values):  # type: ignore[no-untyped-def]
    values = {"description": "A pump", **values}
    widget = create_record("acme_widget", author, title="Pump", **values)
    db.session.commit()
    return widget


def _approved(people):  # type: ignore[no-untyped-def]
    author, approver = people
    widget = _widget(author)
    transition(widget, "submit", author)
    attest(approver, DEFAULT_PASSWORD)
    transition(widget, "approve", approver,
               signature=SignatureRequest(password=DEFAULT_PASSWORD, meaning="approved"))
    db.session.commit()
    return widget


def test_prepare_new_fills_server_fields_on_every_create(people):
    widget = _widget(people[0])
    assert widget.notes == "prepared for Pump"


def test_server_fields_are_refused_to_services_and_plain_writes(people):
    author, _ = people
    with pytest.raises(ValidationError, match="Set by the server"):
        _widget(author, notes="mine")
    db.session.rollback()
    widget = _widget(author)
    widget.notes = "edited"
    with pytest.raises(ValidationError, match="Set by the server"), \
            audit_reason("plain ORM"), acting_as(author):
        db.session.flush()
    db.session.rollback()
    with server_write("acme_widget"), audit_reason("the plugin's own service"), \
            acting_as(author):
        widget.notes = "by the service"
        db.session.commit()
    assert db.session.get(AcmeWidget, widget.id).notes == "by the service"


def test_fixed_fields_never_change(people, make_user):
    author, approver = people
    widget = _widget(author)
    with pytest.raises(ValidationError, match="Fixed when the widget was created"):
        update_record(widget, author, expected_version=widget.version, owner_id=approver.id)
    db.session.rollback()
    widget = db.session.get(AcmeWidget, widget.id)
    with pytest.raises(ValidationError, match="Fixed when"), \
            server_write("acme_widget"), acting_as(author):
        widget.owner_id = approver.id
        db.session.flush()


@pytest.mark.req("P11-02")
def test_a_frozen_record_changes_in_no_field_link_or_file(people):
    author, approver = people
    widget = _approved(people)
    other = _widget(author)
    with pytest.raises(ValidationError, match="is approved: retire it and write a new one"):
        update_record(widget, approver, expected_version=widget.version, reason="late",
                      description="changed")
    db.session.rollback()
    widget = db.session.get(AcmeWidget, widget.id)
    with pytest.raises(ValidationError, match="is approved"):
        link_records(widget, other, "relates_to", approver, reason="late link")
    db.session.rollback()
    widget = db.session.get(AcmeWidget, widget.id)
    with pytest.raises(ValidationError, match="is approved"):
        add_attachment(widget, approver, "late.pdf", io.BytesIO(b"%PDF-1.7\n%%EOF\n"),
                       reason="late file")
    db.session.rollback()
    widget = db.session.get(AcmeWidget, widget.id)
    widget.description = "plain SQL-free ORM edit"
    with pytest.raises(ValidationError, match="is approved"), \
            audit_reason("plain ORM"), acting_as(approver):
        db.session.flush()
    db.session.rollback()
    # A link *to* a frozen record is fine: it is the other record that changes.
    link_records(other, db.session.get(AcmeWidget, widget.id), "relates_to", author,
                 reason="cites the approved widget")
    db.session.commit()
    # The transition out of a frozen state is still allowed (its effects too).
    widget = db.session.get(AcmeWidget, widget.id)
    transition(widget, "retire", approver, reason="replaced",
               signature=SignatureRequest(password=DEFAULT_PASSWORD, meaning="approved"))
    db.session.commit()
    assert widget.state == "retired"


def test_validate_change_refuses_naming_the_field(people):
    author, _ = people
    with pytest.raises(ValidationError) as refused:
        _widget(author, description="a forbidden pump")
    assert refused.value.errors == {"description": "The description may not say forbidden."}
    db.session.rollback()
    widget = _widget(author)
    with pytest.raises(ValidationError, match="may not say forbidden"):
        update_record(widget, author, expected_version=widget.version,
                      description="forbidden now")


def test_validate_change_over_the_api_is_a_422_naming_the_field(people, client):
    token = client.post("/api/v1/auth/tokens", json={"username": "ann",
                                                     "password": DEFAULT_PASSWORD})
    response = client.post("/api/v1/records/acme_widget",
                           json={"title": "Pump", "description": "forbidden pump"},
                           headers={"Authorization": f"Bearer {token.get_json()['token']}"})
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert "description" in body["errors"]
    assert db.session.scalar(select(AcmeWidget.id)) is None


def test_item_rules_changeable_append_only_and_never_deleted(people):
    author, _ = people
    widget = _widget(author)
    with acting_as(author), audit_reason("notes"):
        note = AcmeNote(widget_id=widget.id, text="Check the seal")
        reading = AcmeReading(value="4.2")
        db.session.add_all([note, reading])
        db.session.commit()
        note.resolved = True
        db.session.commit()  # the one changeable column
        note.text = "something else"
        with pytest.raises(ValidationError, match="Fixed when the widget note was created"):
            db.session.flush()
        db.session.rollback()
        reading.value = "9.9"
        with pytest.raises(ValidationError, match="A reading is never changed"):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.get(AcmeNote, note.id))
        with pytest.raises(ValidationError, match="A widget note is never deleted"):
            db.session.flush()
        db.session.rollback()
        db.session.add(AcmeNote(widget_id=widget.id, text="  "))
        with pytest.raises(ValidationError, match="A note says something"):
            db.session.flush()
        db.session.rollback()


def test_records_are_never_deleted(people):
    widget = _widget(people[0])
    db.session.delete(widget)
    with pytest.raises(ConflictError, match="never deleted"), \
            acting_as(people[0]), audit_reason("gone"):
        db.session.flush()
