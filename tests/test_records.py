"""Records, numbering, workflows and signatures of the compliance kernel."""

from __future__ import annotations

import pytest
from kernel_plugin import AcmeWidget, make_plugin
from sqlalchemy import select, text

from core import (
    AuthenticationFailed,
    ConflictError,
    PermissionDenied,
    SignatureRequest,
    ValidationError,
    WorkflowError,
    attest,
    create_record,
    link_records,
    links_of,
    signatures_of,
    transition,
    update_record,
)
from core.audit.models import AuditEntry
from core.audit.verify import verify
from core.db import db
from core.testing import DEFAULT_PASSWORD


@pytest.fixture
def app(app_factory, temp_plugin):
    """The harness's ``app`` (used by make_user) is the kernel test app here."""
    calls = []
    plugin = make_plugin(
        temp_plugin,
        record_transitioned=lambda record, transition, user: calls.append(
            ("transitioned", record.number, transition.name)),
        signature_applied=lambda record, signature: calls.append(
            ("signed", record.number, signature.meaning)),
        record_created=lambda record: calls.append(("created", record.number)),
    )
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
    app.hook_calls = calls
    with app.app_context():
        yield app


@pytest.fixture
def kapp(app):
    return app


@pytest.fixture
def people(kapp, make_user):
    author = make_user("alice", "author")
    approver = make_user("bob", "approver")
    other = make_user("carol", "approver")
    for user in (approver, other):
        attest(user, DEFAULT_PASSWORD)
    db.session.commit()
    return author, approver, other


def new_widget(user, **values):
    values.setdefault("title", "Widget")
    values.setdefault("description", "Blue")
    widget = create_record("acme_widget", user, **values)
    db.session.commit()
    return widget


def sig(password=DEFAULT_PASSWORD, **kwargs):
    return SignatureRequest(password=password, **kwargs)


def entries(**where):
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(AuditEntry, key) == value)
    return list(db.session.scalars(stmt))


@pytest.mark.req("P11-05", "DI-C2", "DI-C3", "E6-12")
def test_create_numbers_gaplessly_and_audits_a_baseline(kapp, people):
    author, *_ = people
    first, second = new_widget(author), new_widget(author, title="Second")
    year = first.created_at.year
    assert (first.number, second.number) == (f"WID-{year}-0001", f"WID-{year}-0002")
    assert (first.state, first.version, first.owner_id) == ("draft", 1, author.id)
    assert len(first.content_hash) == 64
    baseline = {e.field: e for e in entries(entity_id=str(first.id), action="create",
                                            entity_type="acme_widget")}
    assert {"number", "title", "description", "state", "owner_id", "created_by_id",
            "created_at"} <= set(baseline)
    # Not stated: what each entry carries (id, version, time, actor) or verify recomputes (the
    # content hash), and empty texts the record starts with
    assert not {"id", "version", "updated_at", "updated_by_id", "content_hash", "notes"} & set(
        baseline)
    assert baseline["description"].new_value == "Blue"
    assert baseline["title"].entity_version == 1
    assert baseline["title"].actor_id == author.id
    assert ("created", first.number) in kapp.hook_calls


@pytest.mark.req("DI-C3")
def test_a_rolled_back_creation_gives_its_number_back(kapp, people):
    author, *_ = people
    create_record("acme_widget", author, title="doomed", description="x")
    db.session.rollback()
    widget = new_widget(author)
    assert widget.number.endswith("-0001")


def test_server_owned_and_unknown_fields_are_refused(kapp, people):
    author, *_ = people
    for field in ("state", "number", "version", "content_hash", "bogus"):
        with pytest.raises(ValidationError) as info:
            create_record("acme_widget", author, title="t", **{field: "x"})
        assert field in info.value.errors
    with pytest.raises(ValidationError, match="title"):
        create_record("acme_widget", author, title="  ")
    db.session.rollback()


@pytest.mark.req("P11-05", "A11-09")
def test_updates_are_versioned_and_stale_versions_refused(kapp, people):
    author, *_ = people
    widget = new_widget(author)
    update_record(widget, author, expected_version=1, description="Green")
    db.session.commit()
    assert widget.version == 2
    change = entries(entity_id=str(widget.id), field="description", action="update")[-1]
    assert (change.old_value, change.new_value, change.entity_version) == ("Blue", "Green", 2)
    with pytest.raises(ConflictError, match="changed by someone else"):
        update_record(widget, author, expected_version=1, description="Red")
    db.session.rollback()
    db.session.refresh(widget)
    assert widget.description == "Green"


@pytest.mark.req("P11-08")
def test_state_changes_only_through_transitions(kapp, people):
    author, *_ = people
    widget = new_widget(author)
    widget.state = "approved"
    with pytest.raises(WorkflowError, match="only through a workflow transition"):
        db.session.flush()
    db.session.rollback()
    sneaky = AcmeWidget(title="x", description="d", state="approved", owner_id=author.id,
                        created_by_id=author.id, updated_by_id=author.id, number="X-1",
                        content_hash="")
    db.session.add(sneaky)
    with pytest.raises(WorkflowError, match="starts in state 'draft'"):
        db.session.flush()
    db.session.rollback()


@pytest.mark.req("P11-08", "P11-09")
def test_illegal_unpermitted_and_vetoed_transitions_change_nothing(kapp, people, make_user):
    author, approver, _ = people
    widget = new_widget(author, description=" ")
    with pytest.raises(WorkflowError, match="the description is empty"):
        transition(widget, "submit", author)
    db.session.rollback()
    update_record(widget, author, expected_version=widget.version, description="Filled")
    with pytest.raises(WorkflowError, match="cannot approve"):
        transition(widget, "approve", approver, signature=sig())
    db.session.rollback()
    with pytest.raises(WorkflowError, match="no transition 'teleport'"):
        transition(widget, "teleport", author)
    db.session.rollback()
    outsider = make_user("olga", "trainee")
    update_record(widget, author, expected_version=widget.version, description="Filled")
    with pytest.raises(PermissionDenied, match="acme.edit"):
        transition(widget, "submit", outsider)
    db.session.rollback()
    db.session.refresh(widget)
    assert widget.state == "draft"
    assert not entries(entity_id=str(widget.id), action="transition")


@pytest.mark.req("P11-09", "P11-15", "P11-21", "P11-12", "A11-15")
def test_approval_needs_signature_attestation_and_a_different_person(kapp, people, make_user):
    author, approver, _ = people
    widget = new_widget(author)
    transition(widget, "submit", author)
    db.session.commit()
    with pytest.raises(ValidationError) as info:
        transition(widget, "approve", approver)
    assert "signature" in info.value.errors
    db.session.rollback()
    dave = make_user("dave", "approver")
    with pytest.raises(PermissionDenied, match="attestation"):
        transition(widget, "approve", dave, signature=sig())
    db.session.rollback()
    transition(widget, "approve", approver, signature=sig(comment="Fine"))
    db.session.commit()
    assert widget.state == "approved"
    [signature] = signatures_of(widget)
    assert (signature.signer_id, signature.meaning, signature.printed_name) == (
        approver.id, "approved", approver.full_name)
    assert signature.content_hash == widget.content_hash
    assert signature.record_version == widget.version - 1
    assert signature.signed_at.tzinfo is not None
    assert signature.manifestation.startswith(f"{approver.full_name}, ")
    assert signature.manifestation.endswith(" UTC, approved")
    assert entries(entity_id=str(widget.id), action="signature.applied")
    moves = entries(entity_id=str(widget.id), action="transition")
    assert [(m.field, m.old_value, m.new_value) for m in moves] == [
        ("submit", "draft", "in_review"), ("approve", "in_review", "approved")]
    assert ("signed", widget.number, "approved") in kapp.hook_calls
    assert ("transitioned", widget.number, "approve") in kapp.hook_calls


@pytest.mark.req("P11-09")
def test_separation_of_duties(kapp, people):
    _, approver, other = people
    widget = new_widget(approver)  # the approver created it
    transition(widget, "submit", approver)
    with pytest.raises(WorkflowError, match="separation of duties"):
        transition(widget, "approve", approver, signature=sig())
    db.session.rollback()
    transition(widget, "submit", approver)
    transition(widget, "approve", other, signature=sig())
    db.session.commit()
    assert widget.state == "approved"


@pytest.mark.req("P11-21", "P11-27")
@pytest.mark.backends("sqlite", "postgresql")
def test_a_wrong_signing_password_is_refused_and_counts_towards_lockout(kapp, people):
    author, approver, _ = people
    widget = new_widget(author)
    transition(widget, "submit", author)
    db.session.commit()
    with pytest.raises(AuthenticationFailed):
        transition(widget, "approve", approver, signature=sig(password="not-the-password!"))
    db.session.commit()  # the failure record is kept, the transition was never applied
    db.session.refresh(approver)
    db.session.refresh(widget)
    assert approver.failed_logins == 1
    assert widget.state == "in_review"
    assert entries(action="signature.failed", entity_id=str(approver.id))
    transition(widget, "approve", approver, signature=sig())
    db.session.commit()
    assert approver.failed_logins == 0  # lockout counts consecutive failures only


@pytest.mark.req("P11-17", "A11-15")
@pytest.mark.backends("sqlite", "postgresql")
def test_changing_signed_content_invalidates_the_signature(kapp, people):
    author, approver, _ = people
    widget = new_widget(author)
    transition(widget, "submit", author)
    transition(widget, "approve", approver, signature=sig())
    db.session.commit()
    with pytest.raises(ValidationError) as info:
        update_record(widget, author, expected_version=widget.version, description="Changed")
    assert "reason" in info.value.errors
    db.session.rollback()
    update_record(widget, author, expected_version=widget.version, description="Changed",
                  reason="Typo in the approved text")
    db.session.commit()
    [signature] = signatures_of(widget)
    assert signature.invalidated_at is not None
    assert signatures_of(widget, valid_only=True) == []


@pytest.mark.req("P11-05", "E6-14", "E6-12")
@pytest.mark.backends("sqlite", "postgresql")
def test_any_field_change_past_draft_needs_a_reason_and_is_audited(kapp, people):
    """Uncontrolled fields (not in the content hash) are still audited changes needing a reason."""
    author, _, _ = people
    widget = new_widget(author)
    transition(widget, "submit", author)
    db.session.commit()
    version = widget.version
    with pytest.raises(ValidationError) as info:
        update_record(widget, author, expected_version=version, notes="Side remark")
    assert "reason" in info.value.errors
    db.session.rollback()
    assert widget.notes == "" and widget.version == version
    update_record(widget, author, expected_version=version, notes="Side remark",
                  reason="Context for the reviewer")
    db.session.commit()
    [entry] = entries(entity_id=str(widget.id), field="notes", action="update")
    assert (entry.new_value, entry.reason) == ("Side remark", "Context for the reviewer")


def test_a_type_can_require_reasons_in_draft_too(app_factory, temp_plugin, make_user):
    plugin = make_plugin(temp_plugin, reason_in_draft=True)
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
    with app.app_context():
        author = make_user("dora", "author")
        widget = new_widget(author)
        with pytest.raises(ValidationError) as info:
            update_record(widget, author, expected_version=widget.version, description="Red")
        assert "in draft too" in info.value.errors["reason"]
        db.session.rollback()
        update_record(widget, author, expected_version=widget.version, description="Red",
                      reason="Colour decided")
        db.session.commit()
        assert widget.description == "Red"


@pytest.mark.req("P11-08")
def test_retire_needs_reason_and_signature(kapp, people):
    author, approver, _ = people
    widget = new_widget(author)
    transition(widget, "submit", author)
    transition(widget, "approve", approver, signature=sig())
    db.session.commit()
    with pytest.raises(ValidationError) as info:
        transition(widget, "retire", approver, signature=sig())
    assert "reason" in info.value.errors
    db.session.rollback()
    transition(widget, "retire", approver, reason="Replaced by WID-2", signature=sig())
    db.session.commit()
    assert widget.state == "retired"
    move = entries(entity_id=str(widget.id), action="transition")[-1]
    assert move.reason == "Replaced by WID-2"


def test_after_commit_hooks_do_not_run_on_rollback(kapp, people):
    author, *_ = people
    widget = new_widget(author)
    kapp.hook_calls.clear()
    transition(widget, "submit", author)
    db.session.rollback()
    assert kapp.hook_calls == []


def test_links_are_queryable_both_ways_and_audited(kapp, people):
    author, *_ = people
    a, b = new_widget(author), new_widget(author)
    link_records(a, b, "replaces", author)
    db.session.commit()
    assert [link.target_id for link in links_of(a)] == [b.id]
    assert [link.source_id for link in links_of(b)] == [a.id]
    assert entries(entity_type="core_record_link", field="kind")
    with pytest.raises(ConflictError):
        link_records(a, b, "replaces", author)
    db.session.rollback()


@pytest.mark.req("P11-01", "P11-17")
def test_verify_finds_rows_edited_in_sql_and_copied_signatures(kapp, people):
    author, approver, _ = people
    widget, other = new_widget(author), new_widget(author, title="Other")
    transition(widget, "submit", author)
    transition(widget, "approve", approver, signature=sig())
    db.session.commit()
    reconcilers = kapp.extensions["cqms"].reconcilers

    def findings():
        report = verify(db.session.connection(), (), reconcilers)
        db.session.rollback()
        return [f.line() for f in report.findings]

    assert findings() == []
    db.session.execute(text("UPDATE acme_widget SET description = 'forged' WHERE id = :i"),
                       {"i": other.id})
    db.session.commit()
    assert any("edited outside the application" in f and other.number in f for f in findings())
    # Re-computing the stored hash in SQL too: the field still differs from the audit trail's
    # last value (the trail does not need the hash: verify recomputes it from the content).
    from core.records.content import content_hash, content_of

    db.session.expire_all()
    forged = content_hash(content_of(db.session.get(AcmeWidget, other.id)))
    db.session.execute(text("UPDATE core_record SET content_hash = :h WHERE id = :i"),
                       {"h": forged, "i": other.id})
    db.session.commit()
    assert any(f"{other.number} (acme_widget {other.id}): field description: " in f
               and "changed outside the application" in f for f in findings())
    db.session.execute(text("UPDATE core_signature SET record_id = :o"), {"o": other.id})
    db.session.commit()
    assert any("signature MAC does not match" in f for f in findings())


@pytest.mark.req("DI-C")
def test_a_controlled_field_left_to_its_default_is_hashed_as_stored(kapp, people):
    from core.records.content import content_hash, content_of

    author, _, _ = people
    widget = create_record("acme_widget", author, title="No description given")
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(AcmeWidget, widget.id)
    assert stored.description == ""
    assert content_hash(content_of(stored)) == stored.content_hash
    report = verify(db.session.connection(), (), kapp.extensions["cqms"].reconcilers)
    db.session.rollback()
    assert report.ok, [f.line() for f in report.findings]
