"""``cqms jobs``: run queued jobs (``worker``, on any node, as many as wanted) and list them."""

from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select

from core.cli.context import as_system
from core.db import db
from core.jobs.models import Job
from core.jobs.queue import rq_queue


@click.group("jobs", help="Long work run outside web requests (exports).")
def group() -> None:
    pass


@group.command("worker", help="Run jobs from the queue at JOB_QUEUE_URL until SIGTERM/SIGINT "
                              "(--burst: until the queue is empty).")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
def worker(burst: bool) -> None:
    url = current_app.config["JOB_QUEUE_URL"]
    if not url:
        raise click.UsageError("JOB_QUEUE_URL is empty: jobs run inside the web process; set it "
                               "to a redis:// URL to run them in workers")
    from redis.exceptions import RedisError
    from rq import SimpleWorker

    queue = rq_queue(current_app.config)
    try:
        queue.connection.ping()
    except RedisError as exc:
        raise click.UsageError(f"JOB_QUEUE_URL: cannot reach {url}: {exc}") from None
    click.echo(f"jobs worker: taking jobs from {queue.name!r} at {url}")
    # SimpleWorker runs each job in this process, inside this command's application context.
    SimpleWorker([queue], connection=queue.connection).work(burst=burst,
                                                            logging_level="WARNING")
    db.session.remove()
    click.echo("jobs worker: stopped")


@group.command("list", help="Print the newest jobs: id, state, progress, who, what.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@as_system
def list_jobs(limit: int) -> None:
    for job in db.session.scalars(select(Job).order_by(Job.id.desc()).limit(limit)):
        progress = f"{job.done}/{job.total}" if job.total else "-"
        click.echo(f"{job.id}\t{job.state}\t{progress}\t{job.requested_by.username}\t"
                   f"{job.label}" + (f"\t{job.error}" if job.error else ""))
