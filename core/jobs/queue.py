"""Where a queued job runs: ``JOB_QUEUE_URL`` empty hands it to a small thread pool of the web
process (``JOB_THREADS``; nothing more to run for ``make run``), a ``redis://`` URL puts it on
an RQ queue that ``cqms jobs worker`` processes (on any node) take from.

A job the queue loses (a web process stopped with jobs in its threads, Redis flushed) stays
queued in the database and is marked failed by the scheduler once ``JOB_STALE_SECONDS`` pass.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from flask import Flask, current_app

log = logging.getLogger("cqms.jobs")
EXECUTOR = "cqms_job_threads"


def rq_queue(config: Any) -> Any:
    from redis import Redis
    from rq import Queue

    return Queue(config["JOB_QUEUE_NAME"], connection=Redis.from_url(config["JOB_QUEUE_URL"]))


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
