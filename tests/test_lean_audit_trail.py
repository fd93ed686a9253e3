"""A leaner, typed audit trail (issue 12 item 10): a signature is one ``signature.applied``
event, a transition one event, a field update one row per business field; event kinds come
from a declared catalogue; ``cqms audit verify`` still finds rows edited in SQL."""

from __future__ import annotations

import pytest
from kernel_plugin import AcmeWidget, make_plugin
from sqlalchemy import event, func, select, text

from core import (
    AuditEventKind,
    Record,
    SignatureRequest,
    StartupError,
    attest,
    create_record,
    record_event,
    transition,
    update_record,
)
from core.audit.listener import AuditError, _label
from core.audit.models import AuditEntry
from core.audit.verify import verify
from core.db import db
from core.testing import DEFAULT_PASSWORD

pytestmark = pytest.mark.backends("sqlite", "postgresql")


def _kinds():  # type: ignore[no-untyped-def]
    return [AuditEventKind("acme.calibrated", "Instrument calibrated", "new: the certificate")]


@pytest.fixture
def app(app_factory, temp_plugin):  # type: ignore[no-untyped-def]
    plugin = make_plugin(temp_plugin, register_audit_event_kinds=_kinds)
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
    with app.app_context():
        yield app


@pytest.fixture
def people(app, make_user):  # type: ignore[no-untyped-def]
    author, approver = make_user("alice", "author"), make_user("bob", "approver")
    attest(approver, DEFAULT_PASSWORD)
    db.session.commit()
    return author, approver


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEntry))


def _findings(app):  # type: ignore[no-untyped-def]
    report = verify(db.session.connection(), (), app.extensions["cqms"].reconcilers)
    db.session.rollback()
    return [f.line() for f in report.findings]


@pytest.mark.req("P11-07")
def test_a_signed_transition_and_a_field_update_write_few_typed_rows(app, people):
    author, approver = people
    widget = create_record("acme_widget", author, title="Pump", description="Blue")
    transition(widget, "submit", author)
    db.session.commit()
    before = _count()
    transition(widget, "approve", approver, reason="Checked against the spec",
               signature=SignatureRequest(password=DEFAULT_PASSWORD, comment="Fine"))
    db.session.commit()
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.id > before)
                              .order_by(AuditEntry.id)).all()
    assert len(rows) <= 4
    assert [r.action for r in rows] == ["signature.applied", "transition"]
    signed = rows[0]
    assert signed.entity_id == str(widget.id) and signed.reason == "Checked against the spec"
    for carried in ('"meaning": "approved"', '"printed_name": "Bob Tester"',
                    f'"content_hash": "{widget.content_hash}"', '"record_version": "2"'):
        assert carried in signed.new_value
    assert (rows[1].field, rows[1].old_value, rows[1].new_value) == (
        "approve", "in_review", "approved")

    retire_from = _count()
    update_record(widget, author, expected_version=widget.version, reason="Typo",
                  title="Pump P-1")
    db.session.commit()
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.id > retire_from)).all()
    # The title row, and the invalidation of the signature whose content changed.
    assert sorted((r.action, r.field) for r in rows) == [
        ("signature.invalidated", "signature"), ("update", "title")]
    assert _findings(app) == []


@pytest.mark.req("P11-01")
def test_verify_finds_signature_and_state_rows_edited_in_sql(app, people):
    author, approver = people
    widget = create_record("acme_widget", author, title="Pump", description="Blue")
    transition(widget, "submit", author)
    transition(widget, "approve", approver,
               signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    assert _findings(app) == []
    db.session.execute(text("UPDATE core_signature SET printed_name = 'Someone Else'"))
    db.session.execute(text("UPDATE core_record SET state = 'retired' WHERE id = :i"),
                       {"i": widget.id})
    db.session.commit()
    found = _findings(app)
    assert any("core_signature" in f and "field printed_name" in f for f in found), found
    assert any(widget.number in f and "field state" in f for f in found), found


def test_event_kinds_are_declared(app, people):
    author, _ = people
    widget = create_record("acme_widget", author, title="Pump", description="Blue")
    db.session.commit()
    with pytest.raises(AuditError, match="not declared"):
        record_event("acme.undeclared", widget.audit_entity_type, widget.id, actor=author)
    db.session.rollback()
    record_event("acme.calibrated", widget.audit_entity_type, widget.id, actor=author,
                 new="CERT-7")
    db.session.commit()
    kinds = app.extensions["cqms"].registry.audit_event_kinds
    assert kinds["acme.calibrated"].label == "Instrument calibrated"
    assert kinds["signature.applied"].label == "Signed"


def test_record_page_shows_event_labels(app, people, client, login):
    author, approver = people
    widget = create_record("acme_widget", author, title="Pump", description="Blue")
    transition(widget, "submit", author)
    transition(widget, "approve", approver,
               signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    login(client, "bob")
    page = client.get(f"/admin/acme_widget/details/?id={widget.id}").get_data(as_text=True)
    assert "<td>Signed</td>" in page and "<td>Workflow step</td>" in page
    history = page[page.index('id="history"'):]
    assert "Approved by Bob Tester (bob), record version 2" in history
    assert '"mac"' not in history  # the JSON is for verification, not for people
    assert db.session.get(AcmeWidget, widget.id).state == "approved"


@pytest.mark.parametrize("kinds, message", [
    (lambda: [AuditEventKind("calibrated", "No prefix")], "must start with 'acme.'"),
    (lambda: [AuditEventKind("acme.x", "One"), AuditEventKind("acme.x", "Two")],
     "declared twice"),
])
def test_the_catalogue_refuses_bad_declarations(app_factory, temp_plugin, kinds, message):
    plugin = make_plugin(temp_plugin, register_audit_event_kinds=kinds)
    with pytest.raises(StartupError, match=message):
        app_factory(plugins=["acme"], extra_plugins={"acme": plugin})


def test_a_plain_field_update_writes_one_row(app, people):
    author, _ = people
    widget = create_record("acme_widget", author, title="Pump", description="Blue")
    db.session.commit()
    start, version, stamp = _count(), widget.version, widget.content_hash
    update_record(widget, author, expected_version=widget.version, description="Green")
    db.session.commit()
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.id > start)).all()
    assert [(r.action, r.field, r.old_value, r.new_value) for r in rows] == [
        ("update", "description", "Blue", "Green")]
    # The bookkeeping still moved, in the record and in its hash, without rows of its own.
    assert widget.version == version + 1 and widget.content_hash != stamp
    assert _findings(app) == []


def test_verify_finds_a_signature_row_no_event_carries(app, people):
    author, approver = people
    widget = create_record("acme_widget", author, title="Pump", description="Blue")
    transition(widget, "submit", author)
    transition(widget, "approve", approver,
               signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    db.session.execute(text("UPDATE core_signature SET meaning = 'reviewed', "
                            "content_hash = :h"), {"h": "0" * 64})
    db.session.commit()
    found = _findings(app)
    assert any("core_signature" in f and "field meaning" in f for f in found), found
    assert any("core_signature" in f and "field content_hash" in f for f in found), found


def _statements_of(work):  # type: ignore[no-untyped-def]
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement.lstrip())

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        work()
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    return statements


def test_labels_of_rows_the_session_holds_are_read_without_a_query(app, people):
    author, approver = people
    db.session.commit()
    author.username  # noqa: B018 - the author is loaded again, as a request holds its user
    created = []

    def create() -> None:
        created.append(create_record("acme_widget", author, title="Pump", description="Blue"))
        db.session.flush()

    statements = _statements_of(create)
    assert not any(s.startswith("SELECT core_user.username") for s in statements), statements
    widget = created[0]
    update_record(widget, author, expected_version=widget.version, owner_id=approver.id,
                  reason="Bob takes it over")
    db.session.commit()
    owners = db.session.scalars(select(AuditEntry.new_value).where(
        AuditEntry.entity_id == str(widget.id), AuditEntry.field == "owner_id")
        .order_by(AuditEntry.id)).all()
    assert owners == [f"alice (#{author.id})", f"bob (#{approver.id})"]


def test_a_label_the_session_does_not_hold_loaded_is_read_in_one_column(app, people):
    author_id = people[0].id
    db.session.commit()  # every object expired: nothing loaded is held
    column = Record.__table__.c.owner_id
    labels = []
    statements = _statements_of(lambda: labels.append(_label(db.session, column, author_id)))
    assert labels == [f"alice (#{author_id})"]
    assert [s.split()[1] for s in statements if "core_user" in s] == [
        "core_user.username"]
