"""Durable, isolated reactions (issue 12 item 4): written with the change, run after the commit
each in its own transaction, retried with backoff, failures shown to administrators; a crash
between the commit and the reactions loses none and runs none twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from kernel_plugin import make_plugin
from reaction_plugin import FLAKY, flaky, spy
from sqlalchemy import func, select

from core import create_record, utcnow
from core.audit.models import AuditEntry
from core.cli.context import system_principal
from core.db import db
from core.reactions.models import DONE, FAILED, PENDING, Reaction
from core.reactions.service import MAX_ATTEMPTS, run_due
from core.testing import DEFAULT_PASSWORD, csrf_token

pytestmark = pytest.mark.backends("sqlite", "postgresql")


def run_due_as_system(now=None):  # type: ignore[no-untyped-def]
    """As the scheduler and ``cqms reactions run`` call it: acting as the system principal."""
    with system_principal():
        return run_due(now)
TESTS = Path(__file__).resolve().parent


@pytest.fixture
def app_config(temp_plugin):  # type: ignore[no-untyped-def]
    FLAKY["broken"] = True
    return {"plugins": ["acme", "flaky", "spy"],
            "extra_plugins": {"acme": make_plugin(temp_plugin), "flaky": flaky(), "spy": spy()}}


def _reacted(kind: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == kind))


def _reactions(plugin: str) -> list[Reaction]:
    db.session.expire_all()
    return list(db.session.scalars(select(Reaction).where(Reaction.plugin == plugin)))


def test_a_failing_reaction_leaves_the_user_a_success_and_is_retried(app, client, make_user):
    make_user("alice", "author")
    token = client.post("/api/v1/auth/tokens", json={"username": "alice",
                                                     "password": DEFAULT_PASSWORD}).get_json()
    created = client.post("/api/v1/records/acme_widget", json={"title": "Pump"},
                          headers={"Authorization": f"Bearer {token['token']}"})
    assert created.status_code == 201, created.get_json()
    assert _reacted("spy.reacted") == 1  # the other plugin's reaction ran
    [failed] = _reactions("flaky")
    assert (failed.state, failed.attempts) == (PENDING, 1)
    assert "mail relay is down" in failed.last_error and failed.next_attempt_at > utcnow()
    assert run_due_as_system() == (0, 0)  # not due yet: backoff
    FLAKY["broken"] = False
    assert run_due_as_system(utcnow() + timedelta(hours=1)) == (1, 0)
    [done] = _reactions("flaky")
    assert (done.state, done.attempts) == (DONE, 2) and _reacted("flaky.reacted") == 1
    assert run_due_as_system(utcnow() + timedelta(days=2)) == (0, 0)  # exactly once
    assert _reacted("spy.reacted") == 1


def test_failures_are_shown_to_administrators_who_retry_them(app, client, make_user, login):
    alice = make_user("alice", "author")
    make_user("sam", "system_admin")
    create_record("acme_widget", alice, title="Pump", description="d")
    db.session.commit()
    later = utcnow()
    for _ in range(MAX_ATTEMPTS):
        later += timedelta(days=2)
        run_due_as_system(later)
    [given_up] = _reactions("flaky")
    assert given_up.state == FAILED and given_up.attempts == MAX_ATTEMPTS
    login(client, "sam")
    page = client.get("/admin/core_reactions/").get_data(as_text=True)
    assert "failed, given up" in page and "mail relay is down" in page
    assert "WID-" in page and "was created" in page
    FLAKY["broken"] = False
    token = csrf_token(client, "/admin/core_reactions/")
    answer = client.post(f"/admin/core_reactions/{given_up.id}/retry",
                         data={"csrf_token": token, "reason": "Relay repaired"},
                         follow_redirects=True).get_data(as_text=True)
    assert f"Reaction {given_up.id} ran." in answer
    assert _reactions("flaky")[0].state == DONE
    retried = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "reaction.retried"))
    assert retried.reason == "Relay repaired" and retried.actor_name.startswith("Sam Tester")


CHILD = """
import os, sys
sys.path.insert(0, {tests!r})
from core.app import create_app
from core.audit.context import acting_as
from core.db import db
from core.users.models import User
from kernel_plugin import make_plugin
from reaction_plugin import flaky, spy
from test_kernel_concurrency import _module_plugin
app = create_app({{"ENV": "testing", "DATABASE_URL": {url!r}, "INSTANCE_PATH": {instance!r},
                  "PLUGINS": ["acme", "flaky", "spy"]}}, environ={{}},
                 extra_plugins={{"acme": make_plugin(_module_plugin), "flaky": flaky(),
                                "spy": spy()}})
with app.app_context():
    import core.reactions.service as reactions
    reactions.run = lambda ids: os._exit(3)  # the process dies right after the commit
    from core import create_record
    alice = db.session.scalar(db.select(User).where(User.username == "alice"))
    create_record("acme_widget", alice, title="Made before the crash", description="d")
    db.session.commit()
os._exit(0)
"""


def test_a_crash_after_the_commit_loses_no_reaction_and_runs_none_twice(app, make_user):
    make_user("alice", "author")
    db.session.commit()
    script = CHILD.format(tests=str(TESTS), url=app.config["DATABASE_URL"],
                          instance=app.config["INSTANCE_PATH"])
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                           text=True, timeout=120, cwd=TESTS.parent)
    assert child.returncode == 3, child.stderr[-2000:]
    assert {r.state for r in _reactions("spy")} == {PENDING}  # committed with the change
    assert _reacted("spy.reacted") == 0
    FLAKY["broken"] = False
    assert run_due_as_system() == (2, 0)  # the restart's first cycle
    assert run_due_as_system(utcnow() + timedelta(days=1)) == (0, 0)
    assert _reacted("spy.reacted") == 1 and _reacted("flaky.reacted") == 1


def test_a_reaction_queued_before_the_upgrade_still_runs(app, make_user):
    """Rows written before reactions kept (table, key) references name their objects by hook
    (``{"record_id": 7}``): after an upgrade a pending one still runs, exactly once."""
    FLAKY["broken"] = False
    author = make_user("alice", "author")
    with system_principal():
        record = create_record("acme_widget", author, title="Pump", description="d")
        db.session.commit()
    before = _reacted("spy.reacted")
    db.session.add(Reaction(hook="record_created", plugin="spy", state=PENDING,
                            payload=f'{{"record_id": {record.id}}}'))
    db.session.commit()
    assert run_due_as_system() == (1, 0)
    assert _reacted("spy.reacted") == before + 1
    assert run_due_as_system(utcnow() + timedelta(days=1)) == (0, 0)


def test_with_a_job_queue_reactions_run_on_a_worker_as_the_system(app_factory, app_config,
                                                                   make_user, cqms_backend):
    """A fan-out (here: two plugins reacting to a creation) leaves the request at its commit:
    the reactions wait in the queue until a worker runs them, as the system principal."""
    from rq import SimpleWorker

    from core.jobs.queue import rq_queue
    from core.testing import redis_url

    FLAKY["broken"] = False
    app = app_factory(**app_config, JOB_QUEUE_URL=redis_url(),
                      JOB_QUEUE_NAME=f"cqms-test-{uuid.uuid4().hex[:12]}")
    with app.app_context():
        alice = make_user("alice", "author")
        create_record("acme_widget", alice, title="Pump", description="d")
        db.session.commit()
        assert {r.state for r in _reactions("spy") + _reactions("flaky")} == {PENDING}
        assert _reacted("spy.reacted") == 0
        queue = rq_queue(app.config)
        try:
            SimpleWorker([queue], connection=queue.connection).work(burst=True,
                                                                    logging_level="WARNING")
        finally:
            queue.delete(delete_jobs=True)
        assert {r.state for r in _reactions("spy") + _reactions("flaky")} == {DONE}
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "spy.reacted"))
        assert entry.actor_name.startswith("CQMS system") and "reactions" in entry.client
