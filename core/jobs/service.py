"""Starting a job, running it once, its progress, and who may see its file.

``start_job`` writes the job's row in the caller's transaction; once that commits the job is
handed to the queue (core.jobs.queue). ``perform`` claims a queued job (one worker wins),
runs its kind's function acting as the user who started it, and stores the file it returns in
the row. A job whose worker stopped is marked failed by the scheduler (``sweep_jobs``): the user
starts it again; nothing it did before stopping was committed except its own audit entries.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update

from core.audit.context import acting_as, audit_context
from core.db import db, utcnow
from core.db.after_commit import after_commit
from core.db.engine import read_only_scope
from core.errors import ConflictError, CQMSError
from core.jobs import queue
from core.jobs.models import ACTIVE, DONE, FAILED, QUEUED, RUNNING, Job
from core.specs import JobFile
from core.users.models import User

log = logging.getLogger("cqms.jobs")
STOPPED = "The worker running this job stopped before it finished; start it again."
UNEXPECTED = "The job failed unexpectedly (job {id}); an administrator can find why in the log."


def _registry() -> Any:
    return current_app.extensions["cqms"].registry


def start_job(kind: str, user: Any, params: dict[str, Any], label: str) -> Job:
    """Queue ``kind`` for ``user`` with JSON ``params``; it starts once the caller commits."""
    if kind not in _registry().jobs:
        raise ValueError(f"no job kind {kind!r} is registered")
    job = Job(kind=kind, label=label[:300], params=json.dumps(params, sort_keys=True),
              requested_by_id=user.id, state=QUEUED)
    db.session.add(job)
    db.session.flush()
    job_id = job.id
    after_commit(db.session(), lambda: queue.dispatch(job_id))
    return job


def job_of(user: Any, job_id: int) -> Job | None:
    """The job if ``user`` started it; None for anyone else's (whether or not it exists)."""
    job = db.session.get(Job, job_id)
    return job if job is not None and job.requested_by_id == user.id else None


def jobs_of(user: Any, limit: int = 50) -> list[Job]:
    stmt = (select(Job).where(Job.requested_by_id == user.id).order_by(Job.id.desc())
            .limit(limit))
    return list(db.session.scalars(stmt))


def result_of(job: Job) -> JobFile | None:
    """The job's file (checked against its recorded SHA-256), or None if it made none."""
    if job.state != DONE or not job.result_name:
        return None
    data = job.result or b""
    if hashlib.sha256(data).hexdigest() != job.result_sha256:
        raise ConflictError(f"the file of job {job.id} no longer matches its SHA-256")
    return JobFile(job.result_name, job.result_type, data)


@dataclass
class JobRun:
    """What a job kind's function gets: the job's id, who started it, and a progress report."""

    id: int
    user: Any

    def progress(self, done: int, total: int, step: str = "") -> None:
        """Show ``done`` of ``total`` (and what is being done) to the user now, in a
        transaction of its own; it also tells the scheduler the worker is alive."""
        with db.engine.begin() as connection:
            connection.execute(update(Job).where(Job.id == self.id).values(
                done=max(0, min(done, total)), total=max(0, total), step=step[:200],
                heartbeat_at=utcnow()))


def _claim(job_id: int) -> bool:
    with db.engine.begin() as connection:
        now = utcnow()
        claimed = connection.execute(
            update(Job).where(Job.id == job_id, Job.state == QUEUED)
            .values(state=RUNNING, started_at=now, heartbeat_at=now)).rowcount
    return claimed == 1


def _end(job_id: int, **values: Any) -> None:
    with db.engine.begin() as connection:
        connection.execute(update(Job).where(Job.id == job_id).values(
            finished_at=utcnow(), heartbeat_at=utcnow(), **values))


def perform(job_id: int) -> str:
    """Run a queued job once (a second worker given the same job does nothing); its end state."""
    if not _claim(job_id):
        return "skipped"
    try:
        with read_only_scope():  # SQLite: no write lock held while it works (progress writes)
            return _run_claimed(job_id)
    finally:
        db.session.remove()


def _run_claimed(job_id: int) -> str:
    try:
        job = db.session.get(Job, job_id)
        kind = _registry().jobs.get(job.kind)
        owner = _registry().job_owner.get(job.kind)
        user = db.session.get(User, job.requested_by_id)
        if kind is None or not current_app.extensions["cqms"].host.is_enabled(owner):
            raise CQMSError("The module that runs this job is switched off.")
        if user is None or not user.active or user.is_locked:
            raise CQMSError("The account that started this job is deactivated or locked.")
        params = json.loads(job.params)
        with acting_as(user), audit_context(client=f"job {job_id} ({job.kind})"):
            produced = kind.run(JobRun(job_id, user), **params)
        db.session.commit()  # whatever the job wrote, before it counts as done
        if produced is None:
            _end(job_id, state=DONE, done=1, total=1)
        else:
            _end(job_id, state=DONE, done=1, total=1, step="", result=produced.data,
                 result_name=produced.filename[:200], result_type=produced.media_type[:100],
                 result_size=len(produced.data),
                 result_sha256=hashlib.sha256(produced.data).hexdigest())
        return DONE
    except Exception as exc:  # noqa: BLE001 - a failed job is reported to its user, not raised
        db.session.rollback()
        if isinstance(exc, CQMSError):
            message = str(exc)
        else:
            log.exception("job %s failed", job_id)
            message = UNEXPECTED.format(id=job_id)
        _end(job_id, state=FAILED, error=message[:2000])
        return FAILED


def sweep_jobs(now: datetime | None = None) -> tuple[int, int]:
    """Mark jobs whose worker stopped as failed, and remove jobs ended ``JOB_KEEP_DAYS`` ago
    (their files with them; each export's audit entry stays). (stopped, removed) counts."""
    now = now or utcnow()
    config = current_app.config
    silent_since = now - timedelta(seconds=config["JOB_STALE_SECONDS"])
    ended_before = now - timedelta(days=config["JOB_KEEP_DAYS"])
    stopped = db.session.execute(
        update(Job).where(Job.state.in_(ACTIVE), Job.heartbeat_at < silent_since)
        .values(state=FAILED, error=STOPPED, finished_at=now)).rowcount
    removed = db.session.execute(
        delete(Job).where(Job.state.in_((DONE, FAILED)), Job.finished_at < ended_before)).rowcount
    return stopped, removed
