"""Audit hash chain benchmarks (``python -m bench.audit_chain``): SQLite, and PostgreSQL when
CQMS_TEST_POSTGRES_URL is set (its database is wiped).

(1) Concurrent appends: k processes x m audited transactions (each creates a study: 6 chained
    entries), against one process doing the same m transactions alone, and against the same k
    processes on one chain (AUDIT_CHAINS=1, as before chains were partitioned): throughput,
    then the chains are checked for duplicate hashes and forks (two entries on one
    predecessor) and verified.
(2) The trail is then filled to N entries (CQMS_BENCH_AUDIT_ROWS, default 1,000,000) by a fast
    driver-level bulk insert (executemany on SQLite, COPY on PostgreSQL) of a valid chain built
    with the application's keyed hash (``core.audit.chain.app_hasher``), continuing (1).
(3) ``verify()`` over the whole trail (entries/s; the chain and checkpoints, no reconcilers:
    the synthetic entries name no real rows), against the same rows fetched the same way
    (verify's own stream of tuples) by a bare loop that only SHA-256es each row's values joined
    as text, and against fetching alone; on PostgreSQL also with VERIFY_JOBS processes (the
    fill spreads its entries over FILL_CHAINS chains, as concurrent writers do). Targets:
    verify >= 100,000 entries/s, and >= 0.5x the bare loop.

Prints a table and writes bench/results/audit_chain.json. CQMS_BENCH_AUDIT_WRITERS (k, default 8)
and CQMS_BENCH_AUDIT_WRITES (m, default 50) size (1).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import backends, build_app, timed_from_barrier

RESULTS = Path(__file__).resolve().parent / "results"
ROWS = int(os.environ.get("CQMS_BENCH_AUDIT_ROWS", "1000000"))
WRITERS = int(os.environ.get("CQMS_BENCH_AUDIT_WRITERS", "8"))
WRITES = int(os.environ.get("CQMS_BENCH_AUDIT_WRITES", "50"))
BATCH = 20_000
TARGET_PER_S = 100_000
FILL_CHAINS = 8  # PostgreSQL: the default AUDIT_CHAINS
VERIFY_JOBS = 2
# The order of the columns written by the bulk insert (every column of core_audit_entry).
COLUMNS = ("id", "chain", "at", "actor_id", "actor_name", "action", "entity_type", "entity_id",
           "entity_version", "field", "old_value", "new_value", "reason", "request_id", "ip",
           "client", "prev_hash", "hash")
INSERT_SQL = (f"INSERT INTO core_audit_entry ({', '.join(COLUMNS)}) "  # noqa: S608 - constants
              f"VALUES ({', '.join('?' * len(COLUMNS))})")
COPY_SQL = f"COPY core_audit_entry ({', '.join(COLUMNS)}) FROM STDIN"


def make_app(url: str, instance: Path, fresh: bool = True,  # type: ignore[no-untyped-def]
             chains: int | None = None):
    extra = {} if chains is None else {"AUDIT_CHAINS": chains}
    return build_app(url, instance, fresh=fresh, PLUGINS=[], **extra)


# --------------------------------------------------------------------------------------------
# (1) Concurrent appends


def _writer(url: str, instance: str, worker: int, writes: int, chains: int | None,
            barrier: Any) -> tuple[float, float]:
    """One writer process: its own app; ``writes`` audited transactions as the system user."""
    from core.audit.context import audit_context
    from core.db import db
    from core.studies import Study
    from core.users.service import system_context

    app = make_app(url, Path(instance), fresh=False, chains=chains)
    with app.app_context():
        ctx = system_context(f"bench-writer-{worker}")
        db.session.commit()  # end the read (SQLite: it holds the write lock)
        barrier.wait(timeout=120)
        start = time.time()
        with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name,
                           client=ctx.client, reason="bench"):
            for i in range(writes):
                db.session.add(Study(code=f"B{worker}-{i}-{os.getpid()}", title=f"bench {i}"))
                db.session.commit()
        end = time.time()
        db.session.remove()
        db.engine.dispose()
    return start, end


def run_writers(url: str, instance: Path, processes: int, writes: int,
                chains: int | None = None) -> dict[str, Any]:
    """``processes`` writers from a common barrier (``chains``: AUDIT_CHAINS, else the
    default)."""
    wall = timed_from_barrier(_writer, [(url, str(instance / f"w{n}"), n, writes, chains)
                                        for n in range(processes)])
    transactions = processes * writes
    return {"processes": processes, "transactions": transactions, "seconds": wall,
            "transactions_per_s": transactions / wall, "entries_per_s": transactions * 6 / wall}


def chain_shape(connection: Any) -> dict[str, int]:
    from core.audit.models import AuditEntry

    count, chains, hashes, prevs = connection.execute(select(
        func.count(), func.count(func.distinct(AuditEntry.chain)),
        func.count(func.distinct(AuditEntry.hash)),
        func.count(func.distinct(AuditEntry.prev_hash)))).one()
    return {"entries": count, "chains": chains, "duplicate_hashes": count - hashes,
            "forks": count - prevs}


def measure_appends(label: str, url: str, workdir: Path) -> dict[str, Any]:
    from core.audit.verify import verify
    from core.db import db

    app = make_app(url, workdir / "parent")
    serial = run_writers(url, workdir, 1, WRITES)
    one_chain = run_writers(url, workdir, WRITERS, WRITES, chains=1)
    concurrent = run_writers(url, workdir, WRITERS, WRITES)
    with app.app_context():
        db.session.rollback()
        with db.engine.connect() as conn:
            shape = chain_shape(conn)
            report = verify(conn)
        db.engine.dispose()
    concurrent.update(shape, verified=report.ok, findings=[f.line() for f in report.findings[:3]],
                      serial_transactions_per_s=serial["transactions_per_s"],
                      speedup=concurrent["transactions_per_s"] / serial["transactions_per_s"],
                      one_chain_transactions_per_s=one_chain["transactions_per_s"],
                      one_chain_speedup=one_chain["transactions_per_s"]
                      / serial["transactions_per_s"])
    return concurrent


# --------------------------------------------------------------------------------------------
# (2) Bulk fill


def _synthetic(rng: random.Random, seq: int, at: datetime, actors: list[tuple[int, str]]) -> dict:
    actor_id, actor_name = actors[seq % len(actors)]
    kind = rng.random()
    if kind < 0.7:
        action, field = ("update" if kind < 0.4 else "create"), rng.choice(
            ("title", "status", "description", "owner_id", "due_date", "version"))
        entity_type = rng.choice(("core_study", "core_site", "documents_document", "capa_capa",
                                  "training_assignment"))
        old = None if action == "create" else f"value {rng.randrange(10**6)} before the change"
        new = f"value {rng.randrange(10**6)} after the change, with some text"
        version = rng.randrange(1, 20)
    else:
        action, field, entity_type = rng.choice(("login", "logout", "sign")), "", "core_user"
        old = new = None
        version = None
    return {"id": seq, "at": at, "actor_id": actor_id, "actor_name": actor_name,
            "action": action, "entity_type": entity_type, "entity_id": str(rng.randrange(1, 5000)),
            "entity_version": version, "field": field, "old_value": old, "new_value": new,
            "reason": "Periodic review" if rng.random() < 0.3 else "",
            "request_id": f"{rng.getrandbits(64):016x}", "ip": f"10.0.{seq % 256}.{seq % 199}",
            "client": "Mozilla/5.0 (X11; Linux x86_64)"}


def fill(connection: Any, target: int) -> dict[str, float]:
    """Append synthetic entries, valid continuations of the chains (PostgreSQL: spread over
    FILL_CHAINS chains; SQLite: its one chain) numbered after every entry, until ``target``
    entries."""
    from core.audit.chain import app_hasher, chain_head
    from core.audit.models import AuditEntry
    from core.users.models import User

    hasher = app_hasher()
    chains = FILL_CHAINS if connection.dialect.name == "postgresql" else 1
    prevs = [chain_head(connection, chain)[1] for chain in range(chains)]
    seq = connection.scalar(select(func.max(AuditEntry.id))) or 0
    count = connection.scalar(select(func.count()).select_from(AuditEntry))
    actors = [(u.id, f"{u.full_name} ({u.username})")
              for u in connection.execute(select(User.id, User.full_name, User.username))]
    connection.rollback()
    raw = connection.connection.driver_connection
    sqlite = connection.dialect.name == "sqlite"
    rng = random.Random(20260101)
    at = datetime.now(UTC).replace(microsecond=0)
    hashing = inserting = 0.0
    start = time.perf_counter()
    while count < target:
        t0 = time.perf_counter()
        batch = []
        for _ in range(min(BATCH, target - count)):
            seq, count = seq + 1, count + 1
            at += timedelta(microseconds=rng.randrange(1, 5_000_000))
            row = _synthetic(rng, seq, at, actors)
            chain = row["chain"] = seq % chains
            row["prev_hash"] = prevs[chain]
            row["hash"] = prevs[chain] = hasher(prevs[chain], row)
            batch.append(row)
        t1 = time.perf_counter()
        if sqlite:
            # SQLAlchemy's SQLite DATETIME storage format (UTC, naive): what UTCDateTime writes.
            values = [tuple(r[c].strftime("%Y-%m-%d %H:%M:%S.%f") if c == "at" else r[c]
                            for c in COLUMNS) for r in batch]
            cursor = raw.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(INSERT_SQL, values)
            cursor.execute("COMMIT")
            cursor.close()
        else:
            with raw.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
                for r in batch:
                    copy.write_row(tuple(r[c] for c in COLUMNS))
            raw.commit()
        hashing += t1 - t0
        inserting += time.perf_counter() - t1
    if not sqlite:
        with raw.cursor() as cursor:
            cursor.execute("SELECT setval('core_audit_entry_id_seq', max(id)) "
                           "FROM core_audit_entry")
            cursor.execute("ANALYZE core_audit_entry")
        raw.commit()
    return {"fill_s": time.perf_counter() - start, "fill_hash_s": hashing,
            "fill_insert_s": inserting}


# --------------------------------------------------------------------------------------------
# (3) verify() against a bare SHA-256 loop


def _rows(connection: Any):  # type: ignore[no-untyped-def]
    """The rows fetched exactly as ``verify()`` fetches them (its own generator)."""
    from core.audit.entry_stream import stream_entries

    return stream_entries(connection)


def fetch_only(connection: Any) -> int:
    count = 0
    for _row in _rows(connection):
        count += 1
    return count


def bare_sha256(connection: Any) -> int:
    count = 0
    for row in _rows(connection):
        hashlib.sha256("\x00".join(map(str, row)).encode()).hexdigest()
        count += 1
    return count


def timed(fn, connection: Any) -> tuple[float, Any]:  # type: ignore[no-untyped-def]
    connection.rollback()
    start = time.perf_counter()
    value = fn(connection)
    elapsed = time.perf_counter() - start
    connection.rollback()
    return elapsed, value


def measure_verify(app) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from core.audit.verify import verify
    from core.db import db

    with app.app_context(), db.engine.connect() as conn:
        # Warm the caches once, then best of two for each loop (the table can exceed RAM).
        fetch_only(conn)
        conn.rollback()
        runs: dict[str, list[float]] = {"fetch": [], "bare": [], "verify": []}
        report = None
        for _ in range(2):
            runs["fetch"].append(timed(fetch_only, conn)[0])
            runs["bare"].append(timed(bare_sha256, conn)[0])
            elapsed, report = timed(verify, conn)
            runs["verify"].append(elapsed)
            if conn.dialect.name == "postgresql":
                elapsed, parallel = timed(lambda c: verify(c, jobs=VERIFY_JOBS), conn)
                runs.setdefault("parallel", []).append(elapsed)
                assert parallel.ok and parallel.entries == report.entries
        entries = report.entries
    best = {name: min(values) for name, values in runs.items()}
    return {"entries": entries, "verified": report.ok,
            "findings": [f.line() for f in report.findings[:3]],
            "verify_s": best["verify"], "verify_per_s": entries / best["verify"],
            "bare_sha256_per_s": entries / best["bare"], "fetch_per_s": entries / best["fetch"],
            "ratio_verify_to_bare": best["bare"] / best["verify"],
            **({"verify_jobs": VERIFY_JOBS, "verify_parallel_per_s": entries / best["parallel"]}
               if "parallel" in best else {})}


# --------------------------------------------------------------------------------------------


def run_target(label: str, url: str, workdir: Path) -> dict[str, Any]:
    from core.db import db

    result: dict[str, Any] = {"appends": measure_appends(label, url, workdir)}
    print(f"[{label}] appends done: {result['appends']['transactions_per_s']:.0f} tx/s "
          f"with {WRITERS} writers", flush=True)
    app = make_app(url, workdir / "parent", fresh=False)
    with app.app_context(), db.engine.connect() as conn:
        result.update(fill(conn, ROWS))
    print(f"[{label}] filled {ROWS} entries in {result['fill_s']:.1f} s", flush=True)
    result.update(measure_verify(app))
    print(f"[{label}] verify {result['verify_per_s']:.0f} entries/s over {result['entries']} "
          f"entries; bare SHA-256 loop {result['bare_sha256_per_s']:.0f}/s; ratio "
          f"{result['ratio_verify_to_bare']:.2f}x", flush=True)
    if "verify_parallel_per_s" in result:
        print(f"[{label}] verify --jobs {VERIFY_JOBS}: {result['verify_parallel_per_s']:.0f} "
              "entries/s", flush=True)
    with app.app_context():
        db.engine.dispose()
    return result


def main() -> int:
    results: dict[str, Any] = {"machine": platform.node(), "python": platform.python_version(),
                               "cpus": os.cpu_count(), "rows": ROWS, "writers": WRITERS,
                               "writes_per_writer": WRITES, "target_ratio": 0.5,
                               "target_verify_per_s": TARGET_PER_S}
    with tempfile.TemporaryDirectory() as tmp:
        targets = backends(Path(tmp), "audit_chain.sqlite3")
        for label, url in targets:
            results[label] = run_target(label, url, Path(tmp) / label)

    print()
    print(f"{'backend':<11} {'entries':>9} {'fill s':>7} {'verify/s':>9} {'bare/s':>9} "
          f"{'fetch/s':>9} {'ratio':>6}  ok")
    for label in ("sqlite", "postgresql"):
        if label in results:
            r = results[label]
            print(f"{label:<11} {r['entries']:>9} {r['fill_s']:>7.1f} {r['verify_per_s']:>9.0f} "
                  f"{r['bare_sha256_per_s']:>9.0f} {r['fetch_per_s']:>9.0f} "
                  f"{r['ratio_verify_to_bare']:>5.2f}x  {'yes' if r['verified'] else 'NO'}")
    print()
    print(f"{'backend':<11} {'writers':>7} {'tx':>6} {'tx/s':>7} {'1 writer':>9} {'speedup':>8} "
          f"{'1 chain':>8} {'chains':>6} {'dup':>4} {'forks':>6}  verified")
    for label in ("sqlite", "postgresql"):
        if label in results:
            a = results[label]["appends"]
            print(f"{label:<11} {a['processes']:>7} {a['transactions']:>6} "
                  f"{a['transactions_per_s']:>7.0f} {a['serial_transactions_per_s']:>9.0f} "
                  f"{a['speedup']:>7.2f}x {a['one_chain_speedup']:>7.2f}x {a['chains']:>6} "
                  f"{a['duplicate_hashes']:>4} "
                  f"{a['forks']:>6}  {'yes' if a['verified'] else 'NO'}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit_chain.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    failed = [label for label in ("sqlite", "postgresql") if label in results and not (
        results[label]["verified"] and results[label]["appends"]["verified"])]
    if failed:
        print(f"chain did not verify on: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
