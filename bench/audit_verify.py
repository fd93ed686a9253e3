"""``cqms audit verify`` end to end (``python -m bench.audit_verify``): SQLite, and PostgreSQL
when CQMS_TEST_POSTGRES_URL is set (its database is wiped).

The application writes the trail itself (studies created, a title amended, sites opened: audited
ORM commits of 500 studies each) until it holds N entries (CQMS_BENCH_AUDIT_APP_ROWS, default
200,000); then ``verify()`` runs as the command runs it, with the app's reconcilers (rows of
every audited table against the trail, record hashes, signatures, attachments), and with none
(the chain alone). Best of two runs each. Target: >= 100,000 entries/s with the reconcilers.
Prints a table and writes bench/results/audit_verify.json.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import backends, build_app

RESULTS = Path(__file__).resolve().parent / "results"
ROWS = int(os.environ.get("CQMS_BENCH_AUDIT_APP_ROWS", "200000"))
STUDIES_PER_COMMIT = 500
TARGET_PER_S = 100_000


def trail_length() -> int:
    from core.audit.models import AuditEntry
    from core.db import db

    return db.session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def write_trail(app, target: int) -> float:  # type: ignore[no-untyped-def]
    """Audited commits (studies, an amended title, sites) until the trail holds ``target``."""
    from core.audit.context import audit_context
    from core.db import db
    from core.studies import Site, Study
    from core.users.service import system_context

    start, batch = time.perf_counter(), 0
    with app.app_context():
        ctx = system_context("bench")
        db.session.commit()
        with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name, reason="bench"):
            while trail_length() < target:
                studies = [Study(code=f"V{batch}-{i}", title=f"Study {batch}-{i}")
                           for i in range(STUDIES_PER_COMMIT)]
                db.session.add_all(studies)
                db.session.commit()
                for study in studies[::2]:
                    study.title += " (amended)"
                    db.session.add(Site(study=study, code="S1", name="Site Zürich", country="CH"))
                db.session.commit()
                batch += 1
    return time.perf_counter() - start


def best_of_two(connection: Any, reconcilers: list[Any]) -> tuple[float, Any]:
    from core.audit.verify import verify

    runs = []
    for _ in range(2):
        connection.rollback()
        start = time.perf_counter()
        report = verify(connection, (), reconcilers)
        runs.append((time.perf_counter() - start, report))
    connection.rollback()
    return min(runs, key=lambda run: run[0])


def run_target(label: str, url: str, workdir: Path) -> dict[str, Any]:
    from flask import current_app

    from core.db import db

    app = build_app(url, workdir, PLUGINS=[])
    write_s = write_trail(app, ROWS)
    with app.app_context(), db.engine.connect() as conn:
        reconcilers = list(current_app.extensions["cqms"].reconcilers)
        full_s, report = best_of_two(conn, reconcilers)
        chain_s, _ = best_of_two(conn, [])
        db.engine.dispose()
    result = {"entries": report.entries, "write_s": write_s, "verified": report.ok,
              "findings": [f.line() for f in report.findings[:3]],
              "full_verify_s": full_s, "full_verify_per_s": report.entries / full_s,
              "chain_verify_s": chain_s, "chain_verify_per_s": report.entries / chain_s}
    print(f"[{label}] cqms audit verify {result['full_verify_per_s']:.0f} entries/s over "
          f"{report.entries} entries (chain alone {result['chain_verify_per_s']:.0f}/s)",
          flush=True)
    return result


def main() -> int:
    results: dict[str, Any] = {"machine": platform.node(), "python": platform.python_version(),
                               "cpus": os.cpu_count(), "rows": ROWS,
                               "target_verify_per_s": TARGET_PER_S}
    with tempfile.TemporaryDirectory() as tmp:
        targets = backends(Path(tmp), "audit_verify.sqlite3")
        for label, url in targets:
            results[label] = run_target(label, url, Path(tmp) / label)
    print()
    print(f"{'backend':<11} {'entries':>9} {'write s':>8} {'verify/s':>9} {'chain/s':>9}  ok")
    for label in ("sqlite", "postgresql"):
        if label in results:
            r = results[label]
            print(f"{label:<11} {r['entries']:>9} {r['write_s']:>8.1f} "
                  f"{r['full_verify_per_s']:>9.0f} {r['chain_verify_per_s']:>9.0f}  "
                  f"{'yes' if r['verified'] else 'NO'}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit_verify.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    failed = [label for label in ("sqlite", "postgresql")
              if label in results and not results[label]["verified"]]
    if failed:
        print(f"trail did not verify on: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
