"""Kernel benchmarks (``python -m bench.kernel``): SQLite, and PostgreSQL when
CQMS_TEST_POSTGRES_URL is set.

(a) audited update of 3 fields of a controlled record (``update_record``: version check,
    content hash, per-field audit entries in the hash chain) vs the same ORM update in a bare
    session with no listeners (goal: <= 1.3x), and vs the *floor*: the bare update plus the
    writes any audit trail kept in the same transaction cannot avoid (the record's version and
    content hash, one audit row into a table shaped and indexed like the trail), which shows
    how much of the distance is the database's and how much ours;
(b) numbered creates per second vs bare ORM inserts of the same rows (goal: >= 50%), and vs
    the create floor (the bare insert plus a gapless number from a counter row and one audit
    row, in the same transaction); the CPU (this process and the database server) each uses:
    the machine's cores divided by it cap what any number of writers can reach;
(c) statements per audited update and create, and per bare one, and the time each spends in
    the database driver and in Python;
(d) PostgreSQL: 1 and 8 processes creating numbered records, and 8 processes of bare inserts of
    the same rows, each timed from a barrier (bench.kernel_writers): throughput ratios,
    duplicate and missing numbers, the audit chains verified.
Prints a table and writes bench/results/kernel.json.
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

from sqlalchemy import (
    event,
    insert,
)
from sqlalchemy.orm import Session

from bench import backends
from bench.kernel_app import BenchItem, bare_item, bench_user, make_app
from bench.write_costs import (
    cpu_seconds,
    floor_counter,
    floor_row,
    floor_trail,
    next_floor_number,
)

RESULTS = Path(__file__).resolve().parent / "results"
UPDATES = 300
UPDATE_ROUNDS = 6
CREATES = 300
CREATE_ROUNDS = 6


def measure_updates(app) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Interleaved rounds of audited, bare and floor updates of the same row; medians per
    update, so a burst of machine noise hits one round rather than one side."""
    from statistics import median

    from core import create_record, update_record
    from core.db import db

    per_round = UPDATES // UPDATE_ROUNDS
    audited_rounds, bare_rounds, floor_rounds = [], [], []
    with app.app_context():
        user = bench_user()
        record = create_record("bench_item", user, title="t", alpha="a", beta="b", gamma="c")
        db.session.commit()
        record_id, user_id = record.id, user.id
        db.session.rollback()
        trail = floor_trail(db.engine)
        written = iter(range(1, 10**9))
        # The same ORM update without any listener: a bare SQLAlchemy session on the engine.
        with Session(db.engine) as bare:
            item = bare.get(BenchItem, record_id)
            bare.commit()
            for round_no in range(UPDATE_ROUNDS):
                start = time.perf_counter()
                for i in range(per_round):
                    update_record(record, user, expected_version=record.version,
                                  alpha=f"a{round_no}.{i}", beta=f"b{i}", gamma=f"c{i}")
                    db.session.commit()
                audited_rounds.append((time.perf_counter() - start) / per_round)
                db.session.rollback()  # end the read transaction (SQLite: it holds the write lock)
                start = time.perf_counter()
                for i in range(per_round):
                    item.alpha, item.beta, item.gamma = f"x{round_no}.{i}", f"y{i}", f"z{i}"
                    bare.commit()
                bare_rounds.append((time.perf_counter() - start) / per_round)
                start = time.perf_counter()
                for i in range(per_round):
                    n = next(written)
                    item.alpha, item.beta, item.gamma = f"f{round_no}.{i}", f"g{i}", f"h{i}"
                    item.content_hash = f"{n:064x}"
                    bare.execute(insert(trail), [floor_row(n, record_id, user_id)])
                    bare.commit()
                floor_rounds.append((time.perf_counter() - start) / per_round)
    audited, plain, floor = median(audited_rounds), median(bare_rounds), median(floor_rounds)
    return {"audited_ms": audited * 1000, "bare_ms": plain * 1000, "ratio": audited / plain,
            "floor_ms": floor * 1000, "floor_ratio": floor / plain,
            "ratio_to_floor": audited / floor}


def measure_creates(app) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Interleaved rounds of numbered creates and of bare ORM inserts of the same rows: rates,
    and the CPU each create uses (this process and the database server), which caps what
    any number of writers can reach on this machine's cores."""
    from statistics import median

    from core import create_record
    from core.db import db

    per_round = CREATES // CREATE_ROUNDS
    audited_rounds, bare_rounds, floor_rounds, audited_cpu, bare_cpu = [], [], [], [], []
    with app.app_context():
        user = bench_user()
        user_id = user.id
        db.session.commit()
        trail, counter = floor_trail(db.engine), floor_counter(db.engine)
        with Session(db.engine) as bare:
            for round_no in range(CREATE_ROUNDS):
                start, cpu = time.perf_counter(), cpu_seconds()
                for i in range(per_round):
                    create_record("bench_item", user, title=f"item {round_no}.{i}", alpha="a")
                    db.session.commit()
                audited_rounds.append(per_round / (time.perf_counter() - start))
                audited_cpu.append((cpu_seconds() - cpu) / per_round)
                db.session.rollback()
                start, cpu = time.perf_counter(), cpu_seconds()
                for i in range(per_round):
                    bare_item(bare, user_id, f"{round_no}.{i}")
                bare_rounds.append(per_round / (time.perf_counter() - start))
                bare_cpu.append((cpu_seconds() - cpu) / per_round)
                start = time.perf_counter()
                for _ in range(per_round):
                    n = next_floor_number(bare, counter)
                    item = BenchItem(number=f"FLOOR-{n}", title=f"floor {n}", state="draft",
                                     owner_id=user_id, version=1, content_hash="0" * 64,
                                     created_by_id=user_id, updated_by_id=user_id, alpha="a")
                    bare.add(item)
                    bare.flush()
                    # Past the update floor's rows: the trail's hashes are unique.
                    bare.execute(insert(trail), [floor_row(10**9 + n, item.id, user_id)])
                    bare.commit()
                floor_rounds.append(per_round / (time.perf_counter() - start))
    audited, plain, floor = median(audited_rounds), median(bare_rounds), median(floor_rounds)
    cores = os.cpu_count() or 1
    return {"creates_per_s": audited, "bare_creates_per_s": plain,
            "create_share_of_bare": audited / plain, "floor_creates_per_s": floor,
            "floor_create_share_of_bare": floor / plain,
            "create_cpu_ms": median(audited_cpu) * 1000, "bare_create_cpu_ms": median(bare_cpu) * 1000,
            "cores": cores, "cpu_ceiling_creates_per_s": cores / median(audited_cpu),
            "cpu_ceiling_bare_per_s": cores / median(bare_cpu)}


def statement_costs(app, repeat: int = 100) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    """For one audited update and one numbered create (warmed up, as in the timed loops) and
    their bare counterparts: statements sent (COMMIT included, and SQLite's BEGIN IMMEDIATE;
    psycopg sends PostgreSQL's BEGIN itself), and the median time in all, in the database
    driver (statements and the commit) and in Python (the rest)."""
    from statistics import median

    from core import create_record, update_record
    from core.db import db

    marks: list[tuple[str, float]] = []

    def mark(name: str):  # type: ignore[no-untyped-def]
        return lambda *_args: marks.append((name, time.perf_counter()))

    listeners = [(n, mark(n)) for n in ("before_cursor_execute", "after_cursor_execute",
                                         "commit")]

    def measured(action) -> dict[str, float]:  # type: ignore[no-untyped-def]
        counts, totals, in_db = [], [], []
        for name, fn in listeners:
            event.listen(db.engine, name, fn)
        try:
            for _ in range(repeat):
                marks.clear()
                start = time.perf_counter()
                action()
                end = time.perf_counter()
                sent = [t for n, t in marks if n == "before_cursor_execute"]
                done = [t for n, t in marks if n == "after_cursor_execute"]
                commit = next(t for n, t in marks if n == "commit")
                counts.append(len(sent) + 1)
                totals.append(end - start)
                in_db.append(sum(b - a for a, b in zip(sent, done, strict=True)) + end - commit)
        finally:
            for name, fn in listeners:
                event.remove(db.engine, name, fn)
        total, database = median(totals) * 1000, median(in_db) * 1000
        return {"statements": median(counts), "total_ms": total, "database_ms": database,
                "python_ms": total - database}

    with app.app_context():
        user = bench_user()
        record = create_record("bench_item", user, title="t", alpha="a")
        db.session.commit()
        user_id, record_id = user.id, record.id
        values = iter(range(10**9))

        def audited_update() -> None:
            n = next(values)
            update_record(record, user, expected_version=record.version, alpha=f"b{n}",
                          beta=f"c{n}", gamma=f"d{n}")
            db.session.commit()

        def audited_create() -> None:
            create_record("bench_item", user, title="counted", alpha="a")
            db.session.commit()

        audited_update()
        audited_create()
        costs = {"audited_update": measured(audited_update),
                 "audited_create": measured(audited_create)}
        db.session.rollback()
        with Session(db.engine) as bare:
            item = bare.get(BenchItem, record_id)
            bare.commit()

            def bare_update() -> None:
                n = next(values)
                item.alpha, item.beta, item.gamma = f"e{n}", f"f{n}", f"g{n}"
                bare.commit()

            bare_update()
            costs["bare_update"] = measured(bare_update)
            costs["bare_create"] = measured(
                lambda: bare_item(bare, user_id, f"counted {next(values)}"))
    return costs


def main() -> int:
    results: dict[str, Any] = {"machine": platform.node(), "python": platform.python_version()}
    with tempfile.TemporaryDirectory() as tmp:
        targets = backends(Path(tmp), "kernel.sqlite3")
        for label, url in targets:
            app = make_app(url, Path(tmp) / label)
            row: dict[str, Any] = {**measure_updates(app), **measure_creates(app),
                                   "costs": statement_costs(app)}
            from core.db import db

            with app.app_context():
                db.engine.dispose()
            if label == "postgresql":
                from bench.kernel_writers import measure_concurrent_creates

                row["concurrent"] = measure_concurrent_creates(url, Path(tmp) / "pg-conc")
            results[label] = row
    print(f"{'backend':<11} {'audited upd':>12} {'bare upd':>9} {'ratio':>6} {'floor':>8} "
          f"{'floor/bare':>10} {'creates/s':>10} {'bare/s':>7} {'share':>6}")
    for label in ("sqlite", "postgresql"):
        if label in results:
            r = results[label]
            print(f"{label:<11} {r['audited_ms']:>10.2f}ms {r['bare_ms']:>7.2f}ms "
                  f"{r['ratio']:>5.1f}x {r['floor_ms']:>6.2f}ms {r['floor_ratio']:>9.1f}x "
                  f"{r['creates_per_s']:>10.0f} {r['bare_creates_per_s']:>7.0f} "
                  f"{r['create_share_of_bare']:>6.0%}")
            print(f"{'':<11} create floor (bare + number + one audit row) "
                  f"{r['floor_creates_per_s']:.0f}/s = {r['floor_create_share_of_bare']:.0%} "
                  f"of bare")
            print(f"{'':<11} CPU per create {r['create_cpu_ms']:.2f} ms (bare "
                  f"{r['bare_create_cpu_ms']:.2f} ms): {r['cores']} cores cap any number of "
                  f"writers at {r['cpu_ceiling_creates_per_s']:.0f}/s (bare "
                  f"{r['cpu_ceiling_bare_per_s']:.0f}/s, share "
                  f"{r['bare_create_cpu_ms'] / r['create_cpu_ms']:.0%})")
            for op in ("update", "create"):
                a, b = r["costs"][f"audited_{op}"], r["costs"][f"bare_{op}"]
                print(f"{'':<11} {op}: {a['statements']:.0f} statements, {a['database_ms']:.2f} ms "
                      f"in the database, {a['python_ms']:.2f} ms in Python (bare: "
                      f"{b['statements']:.0f}, {b['database_ms']:.2f} ms, {b['python_ms']:.2f} ms)")
            if "concurrent" in r:
                c = r["concurrent"]
                print(f"{'':<11} 1 writer {c['one_writer_per_s']:.0f}/s; "
                      f"{c['processes']} writers {c['creates_per_s']:.0f}/s "
                      f"({c['speedup']:.2f}x one; goal >= 1.5x); {c['processes']} bare "
                      f"writers {c['bare_creates_per_s']:.0f}/s (audited = "
                      f"{c['share_of_bare']:.0%} of bare; goal >= 50%)")
                print(f"{'':<11} the CPU caps {c['processes']} writers at "
                      f"{r['cpu_ceiling_creates_per_s']:.0f}/s = "
                      f"{r['cpu_ceiling_creates_per_s'] / c['one_writer_per_s']:.2f}x one writer "
                      f"and {r['cpu_ceiling_creates_per_s'] / c['bare_creates_per_s']:.0%} of "
                      f"the bare writers")
                print(f"{'':<11} {c['creates']} numbers: duplicates {c['duplicates']}, missing "
                      f"{c['missing']}; {c['audit_chains']} audit chains, verified "
                      f"{c['audit_verified']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "kernel.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
