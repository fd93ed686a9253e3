"""Where a queued job runs: ``JOB_QUEUE_URL`` empty hands it to a small thread pool of the web
process (``JOB_THREADS``; nothing more to run for ``make run``), a ``redis://`` URL puts it on
an RQ queue that ``cqms jobs worker`` processes (on any node) take from.

A job the queue loses (a web process stopped with jobs in its threads, Redis flushed) stays
queued in the database and is marked failed by the scheduler once ``JOB_STALE_SECONDS`` pass.

With a queue, the reactions a change queued (``core.reactions``) go to the workers too, after
its commit; they act as the system principal, as when the scheduler runs them late. One the
queue loses stays pending in ``core_reaction`` and the scheduler runs it.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import cache
from typing import Any

from flask import Flask, current_app

from core.audit.context import audit_context
from core.db import db
from core.reactions.service import hand_off_to, run
from core.users.service import system_context

log = logging.getLogger("cqms.jobs")
EXECUTOR = "cqms_job_threads"


def rq_queue(config: Any) -> Any:
    """The RQ queue ``JOB_QUEUE_URL`` / ``JOB_QUEUE_NAME`` name (one client and connection
    pool per process: every commit with reactions uses it)."""
    return _queue(config["JOB_QUEUE_URL"], config["JOB_QUEUE_NAME"])


@cache
def _queue(url: str, name: str) -> Any:
    from redis import Redis
    from rq import Queue

    return Queue(name, connection=Redis.from_url(url))


def dispatch(job_id: int) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config["JOB_QUEUE_URL"]:
        _threads(app).submit(_run_in_app, app, job_id)
        return
    try:
        rq_queue(app.config).enqueue("core.jobs.service.perform", job_id,
                              job_id=f"cqms-job-{job_id}", job_timeout=-1, result_ttl=3600)
    except Exception:  # noqa: BLE001 - the job stays queued; the scheduler reports it stopped
        log.exception("job %s: the queue at JOB_QUEUE_URL cannot be reached", job_id)


def _threads(app: Flask) -> ThreadPoolExecutor:
    pool = app.extensions.get(EXECUTOR)
    if pool is None:
        pool = app.extensions[EXECUTOR] = _Pool(app.config["JOB_THREADS"])
    return pool


class _Pool(ThreadPoolExecutor):
    """A thread pool that remembers what it was given, so tests and shutdown can wait for it."""

    def __init__(self, workers: int) -> None:
        super().__init__(max_workers=workers, thread_name_prefix="cqms-job")
        self.futures: list[Future[Any]] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        self.futures = [f for f in self.futures if not f.done()] + [future]
        return future


def _run_in_app(app: Flask, job_id: int) -> None:
    from core.jobs.service import perform

    with app.app_context():
        perform(job_id)


def wait_for_threads(app: Flask, timeout: float = 60) -> None:
    """Wait until the jobs handed to this process's threads have ended (tests, shutdown)."""
    pool = app.extensions.get(EXECUTOR)
    if pool is not None:
        wait(list(pool.futures), timeout=timeout)


def take_reactions(ids: list[int]) -> bool:
    """Put committed reactions on the queue (True), unless there is none or it cannot be
    reached (False: they run in this process now)."""
    config = current_app.config
    if not config["JOB_QUEUE_URL"]:
        return False
    try:
        rq_queue(config).enqueue("core.jobs.queue.run_reactions", ids, job_timeout=-1,
                                 result_ttl=0)
    except Exception:  # noqa: BLE001 - run here instead; the change has committed
        log.warning("reactions %s: the queue at JOB_QUEUE_URL cannot be reached; running them "
                    "here", ids, exc_info=True)
        return False
    return True


def run_reactions(ids: list[int]) -> None:
    """A worker runs reactions queued by a change, as the system principal."""
    ctx = system_context("jobs worker (reactions)")
    try:
        with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name, client=ctx.client):
            run(ids)
    finally:
        db.session.remove()


hand_off_to(take_reactions)
