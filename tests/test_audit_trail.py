"""The core audit listener: baseline on insert, one entry per changed field, append-only."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from core.audit.context import audit_context, audit_reason
from core.audit.listener import AuditError
from core.audit.models import AuditEntry
from core.audit.service import entries_for
from core.studies import Study


def count_entries(db) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEntry))


@pytest.mark.req("P11-05", "DI-C2", "DI-A")
def test_insert_writes_a_baseline_entry_per_field(db, system_actor):
    with audit_reason("Study registered"):
        study = Study(code="ABC-001", title="Asthma study")
        db.session.add(study)
        db.session.commit()
    entries = entries_for("core_study", study.id)
    fields = {e.field: e for e in entries}
    assert {"code", "title", "active", "created_at"} <= set(fields)
    code = fields["code"]
    assert (code.action, code.old_value, code.new_value) == ("create", None, "ABC-001")
    assert code.actor_name == "CQMS system (system)" and code.actor_id is not None
    assert code.reason == "Study registered"
    assert code.client == "pytest"
    assert code.at.tzinfo is not None and code.at.utcoffset().total_seconds() == 0


@pytest.mark.req("P11-06", "P11-05")
def test_successive_edits_keep_every_value_in_order(db, system_actor):
    study = Study(code="S-1", title="v1")
    db.session.add(study)
    db.session.commit()
    for title in ("v2", "v3", "v4"):
        with audit_reason(f"retitled to {title}"):
            study.title = title
            db.session.commit()
    titles = [e for e in entries_for("core_study", study.id) if e.field == "title"]
    assert [(e.old_value, e.new_value) for e in titles] == [
        (None, "v1"), ("v1", "v2"), ("v2", "v3"), ("v3", "v4")]
    assert [e.reason for e in titles[1:]] == ["retitled to v2", "retitled to v3", "retitled to v4"]
    assert all(e.action == "update" for e in titles[1:])
    # Unchanged fields produce no entry on update.
    assert not [e for e in entries_for("core_study", study.id)
                if e.action == "update" and e.field != "title"]


@pytest.mark.req("P11-06")
def test_audit_entries_cannot_be_changed_or_deleted_through_the_orm(db, system_actor):
    db.session.add(Study(code="S-2", title="t"))
    db.session.commit()
    entry = db.session.scalars(select(AuditEntry)).first()
    entry.reason = "rewritten"
    with pytest.raises(AuditError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.scalars(select(AuditEntry)).first())
    with pytest.raises(AuditError, match="append-only"):
        db.session.flush()
    db.session.rollback()


@pytest.mark.req("DI-A")
def test_a_change_without_an_actor_is_refused_and_nothing_is_written(db, app):
    before_entries = count_entries(db)
    db.session.add(Study(code="S-3", title="anonymous"))
    with pytest.raises(AuditError, match="no actor"):
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(select(Study).where(Study.code == "S-3")) is None
    assert count_entries(db) == before_entries


@pytest.mark.req("P11-05")
def test_secrets_are_redacted_and_noise_fields_ignored(db, make_user):
    user = make_user("alice")
    entries = entries_for("core_user", user.id)
    hashes = [e for e in entries if e.field == "password_hash"]
    assert hashes and all(e.new_value == "(redacted)" for e in hashes)
    assert not [e for e in entries if e.field in ("failed_logins", "last_login_at")]
    assert user.password_hash not in {e.new_value for e in entries}


@pytest.mark.req("DI-C2")
@pytest.mark.backends("sqlite", "postgresql")
def test_bulk_service_writes_are_audited_like_single_ones(db, system_actor):
    before = count_entries(db)
    with audit_context(reason="bulk import"):
        db.session.add_all([Study(code=f"B-{i}", title=f"Study {i}") for i in range(5)])
        db.session.commit()
    created = db.session.scalars(
        select(AuditEntry).where(AuditEntry.id > 0, AuditEntry.field == "code",
                                 AuditEntry.entity_type == "core_study")).all()
    assert {e.new_value for e in created} >= {f"B-{i}" for i in range(5)}
    # 5 studies x (code, title, active, created_at): the id is each entry's entity id, and an
    # empty description needs no row
    assert count_entries(db) - before == 20


@pytest.mark.req("E6-16")
def test_naive_timestamps_are_refused(db, system_actor):
    study = Study(code="S-4", title="t", created_at=datetime(2026, 1, 1))
    db.session.add(study)
    with pytest.raises(Exception, match="naive datetime refused"):
        db.session.flush()
    db.session.rollback()
    aware = Study(code="S-5", title="t", created_at=datetime(2026, 1, 1, tzinfo=UTC))
    db.session.add(aware)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Study, aware.id).created_at == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.req("E6-14", "A11-01")
@pytest.mark.backends("sqlite", "postgresql")
def test_no_configuration_key_or_setting_can_switch_auditing_off(app):
    """Auditing has no switch: no deployment key and no runtime setting names it."""
    from config import load_defaults

    registry = app.extensions["cqms"].registry
    names = [*load_defaults(), *registry.settings]
    # (the audits plugin's own settings are about audit programmes, not the audit trail; the
    # checkpoint keys name where and how often the head is signed, the chain count how many
    # chains entries spread over (at least 1), and the review period how often people review
    # the trail (at least daily): none has an "off" value)
    checkpoints = {"AUDIT_CHECKPOINT_FILE", "AUDIT_CHECKPOINT_SECONDS", "AUDIT_CHAINS",
                   "core.audit_review_days"}
    assert [n for n in names if "audit" in n.lower() and not n.startswith("audits.")
            and n not in checkpoints] == []
    from flask_sqlalchemy.session import Session as FlaskSession
    from sqlalchemy import event

    from core.audit import listener

    assert event.contains(FlaskSession, "after_flush", listener._write_entries)
    assert event.contains(FlaskSession, "before_flush", listener._before_flush)


@pytest.mark.req("P11-05", "A11-09")
def test_orm_bulk_writes_that_would_skip_the_trail_are_refused(db, system_actor, make_user):
    from sqlalchemy import delete, update

    from core.users.models import User

    db.session.add(Study(code="S-1", title="Original"))
    db.session.commit()
    before = count_entries(db)
    for statement in (update(Study).values(title="Rewritten"), delete(Study)):
        with pytest.raises(AuditError, match="bypass the audit trail"):
            db.session.execute(statement)
        db.session.rollback()
    assert db.session.scalar(select(Study.title)) == "Original"
    assert count_entries(db) == before
    # Bookkeeping columns the trail ignores by design may be bulk-updated.
    alice = make_user("alice")
    db.session.execute(update(User).where(User.id == alice.id).values(failed_logins=0))
    db.session.commit()
