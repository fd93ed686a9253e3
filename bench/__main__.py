"""Foundation benchmarks on a throwaway SQLite file (and PostgreSQL when CQMS_TEST_POSTGRES_URL
is set): cost of the audit listener per write, sign-in cost with production argon2 parameters,
and request latency of the dashboard; then the kernel (bench.kernel), API list latency
(bench.api), record reads under gunicorn (bench.read), reminder (bench.reminders), training
matrix (bench.training), quality event and CAPA pages (bench.capa) and audit-trail size
(bench.audit_trail) benchmarks. Prints medians and ratios; asserts nothing."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert

from bench import backends, build_app
from core.audit.context import audit_context
from core.db import db
from core.testing import DEFAULT_PASSWORD, login

ROWS = 500


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_audited_writes(app, label: str) -> None:  # type: ignore[no-untyped-def]
    from core.studies import Study
    from core.users.service import system_context

    counter = iter(range(10**9))
    with app.app_context():
        ctx = system_context("bench")

        def orm_audited() -> None:
            with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name):
                for _ in range(ROWS):
                    db.session.add(Study(code=f"A{next(counter)}", title="t"))
                db.session.commit()

        def core_unaudited() -> None:
            rows = [{"code": f"C{next(counter)}", "title": "t"} for _ in range(ROWS)]
            db.session.execute(insert(Study), rows)
            db.session.commit()

        audited = timed(orm_audited)
        raw = timed(core_unaudited)
    print(f"[{label}] {ROWS} study inserts, ORM + audit listener (6 entries each): "
          f"{audited * 1000:.0f} ms ({audited / ROWS * 1e6:.0f} us/row)")
    print(f"[{label}] {ROWS} study inserts, bulk Core without audit (baseline):      "
          f"{raw * 1000:.0f} ms; ratio audited/baseline = {audited / raw:.1f}x")


def bench_requests(app, label: str) -> None:  # type: ignore[no-untyped-def]
    from core.users.models import Role
    from core.users.service import assign_role, create_user, system_context

    with app.app_context():
        ctx = system_context("bench")
        with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name):
            user = create_user("benchadmin", "Bench Admin", "", DEFAULT_PASSWORD)
            role = db.session.query(Role).filter_by(key="system_admin").one()
            assign_role(user, role, reason="bench")
        db.session.commit()
    client = app.test_client()
    sign_in = timed(lambda: login(app.test_client(), "benchadmin"), repeat=5)
    login(client, "benchadmin")
    dashboard = timed(lambda: client.get("/admin/"), repeat=30)
    users = timed(lambda: client.get("/admin/core_users/"), repeat=30)
    print(f"[{label}] sign-in (form + argon2id verify, production parameters): "
          f"{sign_in * 1000:.0f} ms")
    print(f"[{label}] dashboard GET median {dashboard * 1000:.1f} ms; users list GET median "
          f"{users * 1000:.1f} ms")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        targets = backends(workdir, "bench.sqlite3")
        for label, url in targets:
            app = build_app(url, workdir / label)
            bench_audited_writes(app, label)
            prod = build_app(url, workdir / f"{label}-prod", env="development")
            bench_requests(prod, label)
            with prod.app_context():
                db.engine.dispose()
    from bench import api, audit_trail, capa, kernel, read, reminders, training

    status = max(kernel.main(), api.main(), read.main(), reminders.main(), training.main(),
                 capa.main(), audit_trail.main())
    if os.environ.get("CQMS_BENCH_AUDIT_CHAIN"):  # 1M-entry verify bench: minutes, opt-in
        from bench import audit_chain, audit_verify

        status = audit_chain.main() or status
        status = audit_verify.main() or status
    return status


if __name__ == "__main__":
    sys.exit(main())
