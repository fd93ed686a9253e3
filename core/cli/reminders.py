"""``cqms reminders``: run the reminder sweeps and deliver the outbox once (cron), or
``cqms scheduler``: do it every INTERVAL seconds in one dedicated process until SIGTERM/SIGINT.

Never run sweeps inside web workers: every worker would run them. Several schedulers (one per
node, for availability) take turns: a cycle runs only in the process holding the scheduler's
lease (core.db.locks.lease), the others skip it. Sweeps are idempotent anyway, so an overlapping
cron run sends nothing twice; it only wastes work.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from core.cli.context import _missing_tables, as_system, state, system_principal
from core.db import db
from core.db.engine import refresh_statistics
from core.db.locks import lease
from core.jobs.service import sweep_jobs
from core.notifications.outbox import deliver_outbox
from core.notifications.reminders import run_reminders
from core.reactions.service import run_due

DEFAULT_INTERVAL = 300
LEASE = "scheduler.cycle"


@click.group("reminders", help="Reminder sweeps and the e-mail outbox.")
def group() -> None:
    pass


def run_cycle(echo: Callable[[str], Any]) -> int:
    """Every sweep once, the reactions due, then the outbox; one summary line each. Returns the
    failed sweeps."""
    results = run_reminders()
    for result in results:
        echo(result.line())
    done, failed = run_due()
    if done or failed:
        echo(f"reactions: {done} run, {failed} failed (retried later; see System > Reactions)")
    echo(deliver_outbox().line())
    stopped, removed = sweep_jobs()
    if stopped or removed:
        echo(f"jobs: {stopped} marked failed (their worker stopped), {removed} old ones removed")
    return sum(1 for r in results if r.error)


def run_leased_cycle(echo: Callable[[str], Any]) -> bool:
    """``run_cycle`` if no other scheduler is running one now (on any node); False if skipped."""
    with lease(db.engine, LEASE) as held:
        if not held:
            echo("scheduler: another scheduler is running this cycle; skipped")
            return False
        with system_principal():  # the commit's reactions act as the system too
            run_cycle(echo)
            db.session.commit()
        with db.engine.begin() as connection:
            refresh_statistics(connection)
        return True


@group.command("run", help="Run every reminder sweep once, then deliver the outbox (for cron). "
                           "Exit status 1 when a sweep failed.")
@as_system
def run() -> None:
    failed = run_cycle(click.echo)
    if failed:
        click.echo(f"cqms: {failed} reminder sweep(s) failed; see the lines above", err=True)
        sys.exit(1)


@group.command("list", help="Print the registered reminder sweeps.")
@as_system
def list_reminders() -> None:
    registry, host = state().registry, state().host
    for key, reminder in registry.reminders.items():
        plugin = registry.reminder_owner[key]
        enabled = "enabled" if host.is_enabled(plugin) else "plugin disabled"
        click.echo(f"{key}  {reminder.label}  ({enabled})")


class _Stop:
    """SIGTERM/SIGINT ask the loop to stop after the current cycle; a second one stops now."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.25))


@click.command("scheduler", help="Run the reminder sweeps and deliver e-mail every INTERVAL "
                                 "seconds until SIGTERM or SIGINT, as its own process (never "
                                 "inside the web workers). Several (one per node) take turns.")
@click.option("--interval", type=click.IntRange(min=1), default=DEFAULT_INTERVAL, show_default=True,
              help="Seconds between the start of one cycle and the next.")
def scheduler(interval: int) -> None:
    cycles = 0
    with _Stop() as stop:
        click.echo(f"scheduler: started, a cycle every {interval} s; stop with SIGTERM or SIGINT")
        while not stop.requested:
            started = time.monotonic()
            try:
                run_leased_cycle(click.echo)
            except Exception as exc:  # noqa: BLE001 - a bad cycle must not end the scheduler
                db.session.rollback()
                if cycles == 0 and _missing_tables(exc):
                    raise click.ClickException(
                        "the database is not set up: run `cqms db upgrade` first") from None
                click.echo(f"scheduler: cycle failed: {exc.__class__.__name__}: {exc}"[:500],
                           err=True)
            cycles += 1
            stop.sleep(interval - (time.monotonic() - started))
    db.session.remove()
    click.echo(f"scheduler: stopped after {cycles} cycle(s)")
