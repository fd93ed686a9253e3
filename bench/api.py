"""List latency (``python -m bench.api``) on 10,000 and on 1,000,000 records of one type
(CQMS_BENCH_API_SIZES, default "10000,1000000"), SQLite and, when CQMS_TEST_POSTGRES_URL is set,
PostgreSQL: ``GET /api/v1/records/<type>`` first page, a deep keyset page (90% in) and a search
(``q``) for one title; the admin list page of the type, first page and a search for one title.
Targets (issue 13): the larger within 1.2x of the smaller; searches <= 50 ms at the larger.

The rows are bulk-inserted with Core statements (no audit entries: this measures reads).
Prints a table and writes bench/results/api.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench import backends
from bench.kernel import RESULTS
from bench.kernel_app import BenchItem, bench_user, make_app

SIZES = tuple(int(n) for n in os.environ.get("CQMS_BENCH_API_SIZES", "10000,1000000").split(","))
REPEAT = 40
BATCH = 5_000


def _fill(app, count: int) -> None:  # type: ignore[no-untyped-def]
    from core.db import db
    from core.db.engine import refresh_statistics
    from core.records.models import Record

    with app.app_context():
        user = bench_user()
        start = db.session.scalar(select(Record.id).order_by(Record.id.desc()).limit(1)) or 0
        now = datetime.now(UTC)
        for offset in range(0, count, BATCH):
            ids = range(start + offset + 1, start + min(offset + BATCH, count) + 1)
            db.session.execute(insert(Record.__table__), [{
                "id": i, "type": "bench_item", "number": f"BEN-{i:07d}", "title": f"Item {i}",
                "state": "draft", "owner_id": user.id, "version": 1, "content_hash": "x",
                "attachments_digest": "", "created_at": now, "created_by_id": user.id,
                "updated_at": now, "updated_by_id": user.id} for i in ids])
            db.session.execute(insert(BenchItem.__table__),
                               [{"id": i, "alpha": "a", "beta": "b", "gamma": "c"} for i in ids])
            db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.connection().exec_driver_sql("ANALYZE")  # planner statistics
        else:  # what the scheduler's cycle and `cqms db upgrade` do on SQLite
            refresh_statistics(db.session.connection())
        db.session.commit()


def _median_ms(client, url: str, headers: dict[str, str]) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, response.get_data(as_text=True)
    return statistics.median(samples) * 1000


def measure(url: str, instance: Path) -> dict[str, Any]:
    from core.api.pagination import encode_cursor
    from core.testing import DEFAULT_PASSWORD, login

    app = make_app(url, instance)
    client = app.test_client()
    browser = app.test_client()
    rows: dict[str, Any] = {}
    filled = 0
    for size in SIZES:
        _fill(app, size - filled)
        filled = size
        with app.app_context():
            bench_user()
        token = client.post("/api/v1/auth/tokens", json={"username": "bencher",
                                                         "password": DEFAULT_PASSWORD}).get_json()
        headers = {"Authorization": f"Bearer {token['token']}"}
        deep = int(size * 0.9)
        cursor = encode_cursor(f"BEN-{deep:07d}", deep)
        base = "/api/v1/records/bench_item?limit=50"
        rows[str(size)] = {"first_ms": _median_ms(client, base, headers),
                           "deep_ms": _median_ms(client, f"{base}&after={cursor}", headers),
                           "search_ms": _median_ms(client, f"{base}&q=Item+{deep}", headers)}
        if size == SIZES[0]:
            login(browser, "bencher")
        rows[str(size)]["admin_ms"] = _median_ms(browser, "/admin/bench_item/", {})
        rows[str(size)]["admin_search_ms"] = _median_ms(
            browser, f"/admin/bench_item/?search=Item+{deep}", {})
    from core.db import db

    with app.app_context():
        db.engine.dispose()
    small, large = rows[str(SIZES[0])], rows[str(SIZES[1])]
    rows["ratio_first"] = large["first_ms"] / small["first_ms"]
    rows["ratio_deep"] = large["deep_ms"] / small["deep_ms"]
    rows["ratio_admin"] = large["admin_ms"] / small["admin_ms"]
    rows["ratio_search"] = large["search_ms"] / small["search_ms"]
    rows["ratio_admin_search"] = large["admin_search_ms"] / small["admin_search_ms"]
    return rows


def main() -> int:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        targets = backends(Path(tmp), "api.sqlite3")
        for label, url in targets:
            results[label] = measure(url, Path(tmp) / label)
    print(f"{'backend':<11} {'records':>8} {'API first':>10} {'API deep':>9} {'API search':>11} "
          f"{'admin list':>11} {'admin search':>13}")
    for label, r in results.items():
        for size in SIZES:
            row = r[str(size)]
            print(f"{label:<11} {size:>8} {row['first_ms']:>8.1f}ms {row['deep_ms']:>7.1f}ms "
                  f"{row['search_ms']:>9.1f}ms {row['admin_ms']:>9.1f}ms "
                  f"{row['admin_search_ms']:>11.1f}ms")
        print(f"{label:<11} {'ratio':>8} {r['ratio_first']:>9.2f}x {r['ratio_deep']:>8.2f}x "
              f"{r['ratio_search']:>10.2f}x {r['ratio_admin']:>10.2f}x "
              f"{r['ratio_admin_search']:>12.2f}x   ({SIZES[1]:,} vs {SIZES[0]:,}; target "
              "<= 1.2x, searches <= 50 ms)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
