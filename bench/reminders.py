"""Reminder and outbox throughput (``python -m bench.reminders``), SQLite and, when
CQMS_TEST_POSTGRES_URL is set, PostgreSQL: the core's overdue sweep over 2,000 overdue tasks
(first run queues 2,000 notifications, the second finds them all queued), delivering them to a
local SMTP server (aiosmtpd), and the My tasks query among 20,000 open tasks.

Tasks and records are bulk-inserted with Core statements (no audit entries: this measures the
sweep, the outbox and the read). Prints figures and writes bench/results/reminders.json.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench import backends
from bench.kernel import RESULTS
from bench.kernel_app import BenchItem, make_app

RECORDS = 200
USERS = 20
OVERDUE = 2_000
OPEN_TASKS = 20_000
REPEAT = 20


def _fill(app) -> list[int]:  # type: ignore[no-untyped-def]
    """RECORDS records, USERS users, OPEN_TASKS open tasks spread over them (OVERDUE overdue)."""
    from core.audit.context import audit_context
    from core.db import db
    from core.records.models import Record
    from core.tasks.models import Task
    from core.testing import DEFAULT_PASSWORD
    from core.users.models import Role
    from core.users.service import assign_role, create_user, system_context

    with app.app_context():
        ctx = system_context("bench")
        with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name):
            users = [create_user(f"user{i:02d}", f"User {i}", f"user{i}@example.org",
                                 DEFAULT_PASSWORD) for i in range(USERS)]
            # My tasks lists the tasks of records the user may read (bench.edit, the author's).
            author = db.session.scalar(select(Role).where(Role.key == "author"))
            for user in users:
                assign_role(user, author, reason="bench")
        db.session.commit()
        user_ids = [u.id for u in users]
        now = datetime.now(UTC)
        db.session.execute(insert(Record.__table__), [{
            "id": i, "type": "bench_item", "number": f"BEN-{i:05d}", "title": f"Item {i}",
            "state": "draft", "owner_id": user_ids[0], "version": 1, "content_hash": "x",
            "attachments_digest": "", "created_at": now, "created_by_id": user_ids[0],
            "updated_at": now, "updated_by_id": user_ids[0]} for i in range(1, RECORDS + 1)])
        db.session.execute(insert(BenchItem.__table__),
                           [{"id": i, "alpha": "", "beta": "", "gamma": ""}
                            for i in range(1, RECORDS + 1)])
        today = now.date()
        rows = []
        for n in range(OPEN_TASKS):
            record_id, user_id = n % RECORDS + 1, user_ids[n % USERS]
            due = today - timedelta(days=2) if n < OVERDUE else today + timedelta(days=30)
            kind = f"bench.step{n // RECORDS:03d}"  # distinct (kind, record) per task
            rows.append({"record_id": record_id, "kind": kind, "title": f"Task {n}",
                         "action": "", "assignee_id": user_id, "due": due, "state": "open",
                         "open_key": f"{record_id}:{kind}:u{user_id}:{n}", "created_at": now,
                         "created_by_id": user_ids[0]})
        for start in range(0, len(rows), 5_000):
            db.session.execute(insert(Task.__table__), rows[start:start + 5_000])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # The records were inserted with their ids: the sequence moves past them for the
            # sweeps that create records (the periodic reviews).
            db.session.connection().exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('core_record', 'id'), "
                "(SELECT max(id) FROM core_record))")
            db.session.commit()
            db.session.connection().exec_driver_sql("ANALYZE")
            db.session.commit()
        return user_ids


def _overdue_tasks(results) -> int:  # type: ignore[no-untyped-def]
    """What the overdue-task sweep queued (the core runs other sweeps beside it)."""
    return next(r.queued for r in results if r.key == "core.overdue_tasks")


def measure(url: str, instance: Path) -> dict[str, Any]:
    from core.audit.context import audit_context
    from core.db import db
    from core.notifications.outbox import deliver_outbox
    from core.notifications.reminders import run_reminders
    from core.tasks.service import tasks_for
    from core.users.models import User
    from core.users.service import system_context
    from tests.work_helpers import SmtpSink

    sink = SmtpSink().start()
    try:
        app = make_app(url, instance)
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port, SMTP_FROM="cqms@example.org")
        user_ids = _fill(app)
        with app.app_context():
            ctx = system_context("bench")
            db.session.commit()
            with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name):
                start = time.perf_counter()
                first = _overdue_tasks(run_reminders())
                first_s = time.perf_counter() - start
                start = time.perf_counter()
                second = _overdue_tasks(run_reminders())
                second_s = time.perf_counter() - start
                start = time.perf_counter()
                report = deliver_outbox()
                deliver_s = time.perf_counter() - start
            user = db.session.get(User, user_ids[3])
            samples = []
            for _ in range(REPEAT):
                db.session.expire_all()
                start = time.perf_counter()
                page = list(db.session.scalars(tasks_for(user).order_by(
                    "due", "id").limit(51)))
                samples.append(time.perf_counter() - start)
                db.session.rollback()
            assert len(page) == 51
            total_visible = len(db.session.scalars(select(tasks_for(user).subquery().c.id)).all())
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()
    finally:
        sink.stop()
    assert (first, second) == (OVERDUE, 0), (first, second)
    assert report.sent == OVERDUE == len(sink.messages), (report, len(sink.messages))
    return {"overdue_tasks": OVERDUE, "open_tasks": OPEN_TASKS,
            "sweep_first_s": round(first_s, 2), "sweep_again_s": round(second_s, 2),
            "deliver_s": round(deliver_s, 2), "mails_per_s": round(OVERDUE / deliver_s),
            "my_tasks_visible": total_visible,
            "my_tasks_first_page_ms": round(statistics.median(samples) * 1000, 1)}


def main() -> int:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        targets = backends(Path(tmp), "reminders.sqlite3")
        for label, url in targets:
            results[label] = r = measure(url, Path(tmp) / label)
            print(f"[{label}] overdue sweep over {OVERDUE} tasks: {r['sweep_first_s']} s "
                  f"(queues {OVERDUE}), again {r['sweep_again_s']} s (queues 0); delivery "
                  f"{r['deliver_s']} s ({r['mails_per_s']} mails/s); My tasks first page "
                  f"({r['my_tasks_visible']} of {OPEN_TASKS} open tasks visible) "
                  f"{r['my_tasks_first_page_ms']} ms")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "reminders.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
