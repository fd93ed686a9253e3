"""PostgreSQL writers in separate processes for bench.kernel: 1 and ``PROCESSES`` processes
creating numbered records, and as many bare inserts, timed from a barrier in interleaved rounds;
then the numbers are checked for duplicates and gaps and the audit chains verified."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench import timed_from_barrier
from bench.kernel_app import bare_item, bench_user, make_app
from core import Record

PROCESSES = 8
CREATES_PER_PROCESS = 100
CONCURRENT_ROUNDS = 3
WARM_UP = 10


def _create_worker(url: str, instance: str, count: int, bare: bool, tag: str,
                   barrier: Any) -> tuple[float, float]:
    """One writer process: ``count`` numbered creates (``create_record``), or as many bare ORM
    inserts of the same rows in a session with no listeners, timed from a common barrier once
    ``WARM_UP`` untimed ones have run (steady state, not start-up, is measured)."""
    from core import create_record
    from core.db import db

    app = make_app(url, Path(instance), fresh=False)
    with app.app_context():
        user = bench_user()
        user_id = user.id
        db.session.commit()
        with Session(db.engine) as session:

            def one(title: str) -> None:
                if bare:
                    bare_item(session, user_id, title)
                else:
                    create_record("bench_item", user, title=title, alpha="a")
                    db.session.commit()

            for i in range(WARM_UP):  # a new process's first writes compile its statements
                one(f"{tag}-p{os.getpid()}-warm-{i}")
            barrier.wait(timeout=120)
            start = time.time()
            for i in range(count):
                one(f"{tag}-p{os.getpid()}-{i}")
            end = time.time()
        db.session.remove()
        db.engine.dispose()
    return start, end


def _run_writers(url: str, instance: Path, processes: int, bare: bool, tag: str) -> float:
    """Creates per second of ``processes`` writers, from the barrier to the last one's end."""
    wall = timed_from_barrier(_create_worker,
                              [(url, str(instance), CREATES_PER_PROCESS, bare, tag)] * processes)
    return processes * CREATES_PER_PROCESS / wall


def measure_concurrent_creates(url: str, instance: Path) -> dict[str, Any]:
    """1 vs ``PROCESSES`` audited writers, and ``PROCESSES`` bare writers, in interleaved rounds
    of one run (medians); then the numbers are checked for duplicates and gaps and the audit
    chains verified."""
    from statistics import median

    from core.audit.verify import verify
    from core.db import db

    app = make_app(url, instance)
    with app.app_context():
        bench_user()
        db.session.commit()
    ones, manys, bares = [], [], []
    for round_no in range(CONCURRENT_ROUNDS):  # interleaved, so noise hits a round, not a side
        ones.append(_run_writers(url, instance, 1, bare=False, tag=f"r{round_no}"))
        manys.append(_run_writers(url, instance, PROCESSES, bare=False, tag=f"r{round_no}"))
        bares.append(_run_writers(url, instance, PROCESSES, bare=True, tag=f"r{round_no}"))
    one, many, bare = median(ones), median(manys), median(bares)
    with app.app_context():
        numbers = [int(n.rsplit("-", 1)[1]) for n in db.session.scalars(
            select(Record.number).where(Record.type == "bench_item",
                                        Record.number.not_like("BARE-%")))]
        db.session.commit()
        with db.engine.connect() as conn:
            report = verify(conn)
        db.engine.dispose()
    expected = (1 + PROCESSES) * (CREATES_PER_PROCESS + WARM_UP) * CONCURRENT_ROUNDS
    return {"processes": PROCESSES, "rounds": CONCURRENT_ROUNDS, "creates": len(numbers),
            "one_writer_per_s": one,
            "creates_per_s": many, "bare_creates_per_s": bare, "speedup": many / one,
            "share_of_bare": many / bare, "duplicates": len(numbers) - len(set(numbers)),
            "missing": len(set(range(1, expected + 1)) - set(numbers)),
            "audit_chains": len(report.heads), "audit_verified": report.ok}
