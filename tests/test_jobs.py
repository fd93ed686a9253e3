"""Jobs (issue 13): long work outside the web request, run once, as the user who started it,
with progress they watch and a file only they download; on a Redis queue with ``cqms jobs
worker`` processes, or in threads of the web process when no queue is configured."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import types
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import select

from core import (
    JobFile,
    JobKind,
    ValidationError,
    audit_export,
    audit_reason,
    start_job,
    utcnow,
)
from core.audit.context import acting_as
from core.audit.models import AuditEntry
from core.db import db
from core.errors import StartupError
from core.hookspecs import hookimpl
from core.integrity import integrity_key, key_path
from core.jobs.models import DONE, FAILED, QUEUED, Job
from core.jobs.queue import wait_for_threads
from core.jobs.service import STOPPED, perform, sweep_jobs
from core.testing import DEFAULT_PASSWORD, redis_url

API = "/api/v1"
ROOT = Path(__file__).resolve().parent.parent


def run_echo(job, mode="file", text="hello"):  # type: ignore[no-untyped-def]
    job.progress(0, 2, "Counting")
    if mode == "refuse":
        raise ValidationError({"study": "No study 'X' in your scope."})
    if mode == "crash":
        raise RuntimeError("secret internals /srv/cqms")
    data = text.encode()
    audit_export("csv", "core_user", job.user.id,
                 detail=f"echo; sha256 {hashlib.sha256(data).hexdigest()}")
    job.progress(1, 2, "Writing")
    return JobFile("echo.csv", "text/csv", data)


def exporter() -> types.ModuleType:
    module = types.ModuleType("cqms_test_plugin_exporter", "Test plugin exporter.")
    module.register_jobs = hookimpl(lambda: [JobKind("exporter.echo", "Echo", run_echo)])
    return module


@pytest.fixture
def app_config():
    return {"plugins": ["exporter"], "extra_plugins": {"exporter": exporter()}}


def started(user, **params):  # type: ignore[no-untyped-def]
    job = start_job("exporter.echo", user, params, "Echo export")
    db.session.commit()
    wait_for_threads(current_app)
    db.session.expire_all()
    return db.session.get(Job, job.id)


def test_a_job_runs_as_who_started_it_and_keeps_its_file(app, make_user):
    alice = make_user("alice", "author")
    db.session.commit()
    job = started(alice, text="a,b\n1,2\n")
    assert job.state == DONE and (job.done, job.total, job.percent) == (1, 1, 100)
    assert job.result == b"a,b\n1,2\n" and job.result_name == "echo.csv"
    assert job.result_sha256 == hashlib.sha256(job.result).hexdigest()
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "export"))
    assert entry.actor_id == alice.id and entry.client == f"job {job.id} (exporter.echo)"
    job_id = job.id
    db.session.rollback()  # the test's read ends, as a worker's would
    assert perform(job_id) == "skipped"  # a second worker given the same job does nothing
    assert db.session.scalar(select(db.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "export")) == 1


def test_a_failed_job_says_why_in_words_and_never_leaks_internals(app, make_user):
    alice = make_user("alice", "author")
    db.session.commit()
    refused = started(alice, mode="refuse")
    assert refused.state == FAILED and refused.error == "study: No study 'X' in your scope."
    crashed = started(alice, mode="crash")
    assert crashed.state == FAILED and "/srv/cqms" not in crashed.error
    assert f"job {crashed.id}" in crashed.error and crashed.result is None


def test_a_locked_account_s_job_does_not_run(app, make_user):
    alice = make_user("alice", "author")
    db.session.commit()
    job = start_job("exporter.echo", alice, {}, "Echo export")
    with acting_as(alice), audit_reason("locked after five failed sign-ins"):
        alice.locked_at = utcnow()
        db.session.commit()
    wait_for_threads(app)
    db.session.expire_all()
    assert job.state == FAILED and "locked" in job.error and job.result is None


def test_the_scheduler_fails_a_silent_job_and_removes_old_ones(app, make_user):
    alice = make_user("alice", "author")
    now = utcnow()
    silent = Job(kind="exporter.echo", label="lost", requested_by_id=alice.id, state=QUEUED,
                 heartbeat_at=now - timedelta(hours=1))
    fresh = Job(kind="exporter.echo", label="waiting", requested_by_id=alice.id, state=QUEUED,
                heartbeat_at=now)
    old = Job(kind="exporter.echo", label="old", requested_by_id=alice.id, state=DONE,
              finished_at=now - timedelta(days=8))
    db.session.add_all([silent, fresh, old])
    db.session.commit()
    silent_id, fresh_id, old_id = silent.id, fresh.id, old.id
    assert sweep_jobs(now) == (1, 1)
    db.session.commit()
    db.session.expunge_all()
    assert db.session.get(Job, silent_id).state == FAILED
    assert db.session.get(Job, silent_id).error == STOPPED
    assert db.session.get(Job, fresh_id).state == QUEUED
    assert db.session.get(Job, old_id) is None


def test_a_job_kind_must_be_the_plugin_s_and_declared_once(app_factory):
    twice = types.ModuleType("cqms_test_plugin_twice")
    twice.register_jobs = hookimpl(lambda: [JobKind("twice.a", "A", run_echo)] * 2)
    with pytest.raises(StartupError, match="job kind 'twice.a' declared twice"):
        app_factory(plugins=["twice"], extra_plugins={"twice": twice}, schema=False)
    other = types.ModuleType("cqms_test_plugin_other")
    other.register_jobs = hookimpl(lambda: [JobKind("capa.a", "A", run_echo)])
    with pytest.raises(StartupError, match="must start with 'other.'"):
        app_factory(plugins=["other"], extra_plugins={"other": other}, schema=False)


def test_only_who_started_a_job_sees_it_over_the_api(app, client, make_user):
    alice = make_user("alice", "author")
    make_user("mallory", "author")
    db.session.commit()
    job = started(alice, text="x")

    def bearer(username):  # type: ignore[no-untyped-def]
        token = client.post(f"{API}/auth/tokens", json={
            "username": username, "password": DEFAULT_PASSWORD}).get_json()["token"]
        return {"Authorization": f"Bearer {token}"}

    mine = client.get(f"{API}/jobs/{job.id}", headers=bearer("alice"))
    assert mine.status_code == 200
    body = mine.get_json()
    assert body["state"] == "done" and body["percent"] == 100
    assert body["file"]["sha256"] == hashlib.sha256(b"x").hexdigest()
    download = client.get(body["file"]["href"], headers=bearer("alice"))
    assert download.data == b"x" and "echo.csv" in download.headers["Content-Disposition"]
    assert [j["id"] for j in client.get(f"{API}/jobs", headers=bearer("alice"))
            .get_json()["items"]] == [job.id]
    theirs = bearer("mallory")
    assert client.get(f"{API}/jobs/{job.id}", headers=theirs).status_code == 404
    assert client.get(f"{API}/jobs/{job.id}/file", headers=theirs).status_code == 404
    assert client.get(f"{API}/jobs", headers=theirs).get_json()["items"] == []
    assert client.get(f"{API}/jobs/{job.id}").status_code == 401


def test_a_file_altered_in_the_database_is_not_served(app, client, make_user, login):
    alice = make_user("alice", "author")
    db.session.commit()
    job = started(alice, text="original")
    db.session.execute(db.update(Job).where(Job.id == job.id).values(result=b"forged"))
    db.session.commit()
    login(client, "alice")
    response = client.get(f"/admin/core_jobs/{job.id}/file")
    assert response.status_code == 409 and b"forged" not in response.data
    assert "no longer matches" in response.get_data(as_text=True)


WORKER_PLUGIN = """
import sys
sys.path.insert(0, {tests!r})
from core.app import create_app
from core.cli import main
from test_jobs import exporter
if __name__ == "__main__":
    main(["jobs", "worker", "--burst"], app=create_app(extra_plugins={{"exporter": exporter()}}))
"""


@pytest.mark.backends("postgresql")
def test_on_a_redis_queue_a_worker_process_runs_the_job(app_factory, make_user, tmp_path):
    queue = f"cqms-test-{uuid.uuid4().hex[:12]}"
    app = app_factory(plugins=["exporter"], extra_plugins={"exporter": exporter()},
                      JOB_QUEUE_URL=redis_url(), JOB_QUEUE_NAME=queue)
    with app.app_context():
        alice = make_user("alice", "author")
        db.session.commit()
        job = start_job("exporter.echo", alice, {"text": "from the worker"}, "Echo export")
        db.session.commit()
        assert db.session.get(Job, job.id).state == QUEUED  # nothing ran in this process
        integrity_key()
        env = {**os.environ, "CQMS_ENV": "testing", "CQMS_PLUGINS": "exporter",
               "CQMS_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
               "CQMS_INTEGRITY_KEY_FILE": str(key_path()),
               "CQMS_INSTANCE_PATH": str(tmp_path / "worker"),
               "CQMS_JOB_QUEUE_URL": redis_url(), "CQMS_JOB_QUEUE_NAME": queue}
        worker = subprocess.run(
            [sys.executable, "-c", WORKER_PLUGIN.format(tests=str(ROOT / "tests"))],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert worker.returncode == 0, worker.stderr[-2000:]
        db.session.expire_all()
        done = db.session.get(Job, job.id)
        assert done.state == DONE and done.result == b"from the worker", done.error
