"""Savepoints (``db.session.begin_nested()``, which a plugin may use) undo only what was done
inside them, and releasing one is not a commit: what waits for the commit (callbacks such as
reactions and job dispatch, audit checkpoints) waits for the transaction's own commit, and
what a rollback gives up (callbacks, placed files, claimed numbers) is only what it undid."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.audit.checkpoints import checkpoint_file
from core.audit.verify import read_checkpoint_file, verify
from core.db import db
from core.db.after_commit import after_commit
from core.studies import Study

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.plugins()]


@pytest.fixture
def app(app_factory):  # type: ignore[no-untyped-def]
    app = app_factory(AUDIT_CHECKPOINT_SECONDS=0)  # a checkpoint at every commit
    with app.app_context():
        yield app


def test_callbacks_run_at_the_commit_less_those_a_savepoint_rollback_undid(app):
    ran: list[str] = []
    after_commit(db.session(), lambda: ran.append("before the savepoint"))
    savepoint = db.session.begin_nested()
    after_commit(db.session(), lambda: ran.append("in the undone savepoint"))
    savepoint.rollback()
    released = db.session.begin_nested()
    after_commit(db.session(), lambda: ran.append("in the released savepoint"))
    released.commit()
    assert ran == []  # a release is no commit
    db.session.commit()
    assert ran == ["before the savepoint", "in the released savepoint"]


def test_a_transaction_rolled_back_after_a_released_savepoint_runs_none_of_its_callbacks(app):
    ran: list[str] = []
    savepoint = db.session.begin_nested()
    after_commit(db.session(), lambda: ran.append("in the released savepoint"))
    savepoint.commit()
    after_commit(db.session(), lambda: ran.append("after it"))
    db.session.rollback()
    db.session.commit()  # a later, empty transaction runs nothing of the undone one
    assert ran == []


def test_a_released_savepoint_writes_no_checkpoint_of_a_head_the_transaction_then_undoes(
        app, system_actor):
    db.session.add(Study(code="CP-1", title="kept"))
    db.session.commit()
    path = checkpoint_file()
    written = len(read_checkpoint_file(path))
    savepoint = db.session.begin_nested()
    db.session.add(Study(code="CP-2", title="undone"))
    savepoint.commit()
    assert len(read_checkpoint_file(path)) == written  # nothing committed yet
    db.session.rollback()
    assert db.session.scalar(select(Study).where(Study.code == "CP-2")) is None
    db.session.add(Study(code="CP-3", title="kept too"))
    db.session.commit()
    points = read_checkpoint_file(path)
    assert len(points) > written
    with db.engine.connect() as conn:
        report = verify(conn, points)
    assert report.ok, [f.line() for f in report.findings]


def test_callbacks_of_a_transaction_closed_without_a_commit_never_run(app):
    ran: list[str] = []
    db.session.execute(select(Study.id).limit(1))  # in a transaction, as after a flush
    after_commit(db.session(), lambda: ran.append("abandoned"))
    db.session.close()
    db.session.execute(select(Study.id).limit(1))
    db.session.commit()  # the session's next transaction
    assert ran == []
