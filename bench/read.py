"""Record reads under gunicorn (``python -m bench.read``), SQLite and, when
CQMS_TEST_POSTGRES_URL is set, PostgreSQL: ``GET /api/v1/records/bench_item/<id>`` with a
bearer token against a bare one-row endpoint served by the same gunicorn (bench/read_wsgi.py:
one select, no authentication, no audit). 2 gunicorn workers (the machine's cores), CLIENTS
keep-alive client threads in one process, interleaved rounds of ROUND_S seconds each; the
medians of the rounds. A third column reads the row from a plain Flask app mounted in the same
gunicorn (no CQMS request hooks: the floor of any Flask endpoint). Target (issue 13): the API
read >= 50% of the bare requests per second. Prints a table and writes
bench/results/read.json.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench import backends
from bench.kernel import RESULTS
from bench.kernel_app import bench_user, make_app

CLIENTS = 4
ROUNDS = 5
ROUND_S = 3.0
ROOT = Path(__file__).resolve().parent.parent


def _prepare(url: str, instance: Path) -> int:
    """A fresh database with one record of the bench user; its id."""
    from core import create_record
    from core.db import db

    app = make_app(url, instance)
    with app.app_context():
        user = bench_user()
        record = create_record("bench_item", user, title="Read me", alpha="a", beta="b",
                               gamma="c")
        db.session.commit()
        return record.id


def _token(base: str) -> str:
    from core.testing import DEFAULT_PASSWORD

    response = requests.post(f"{base}/api/v1/auth/tokens", timeout=30, json={
        "username": "bencher", "password": DEFAULT_PASSWORD})
    response.raise_for_status()
    return response.json()["token"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(url: str, instance: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "CQMS_ENV": "testing", "CQMS_DATABASE_URL": url,
           "CQMS_INSTANCE_PATH": str(instance), "CQMS_PLUGINS": "bench",
           "CQMS_INTEGRITY_KEY_FILE": str(instance.parent / "bench-integrity.key")}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "-b",
                               f"127.0.0.1:{port}", "bench.read_wsgi:application"], cwd=ROOT, env=env,
                              stdout=log.open("wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok:
                return server
        except requests.RequestException:
            time.sleep(0.2)
    os.killpg(server.pid, signal.SIGTERM)
    raise RuntimeError(f"gunicorn did not start: {log.read_text()[-2000:]}")


def _rate(url: str, headers: dict[str, str], seconds: float) -> float:
    """Requests per second of CLIENTS threads, each on its own keep-alive session."""
    counts, errors = [0] * CLIENTS, []
    until = time.monotonic() + seconds

    def client(n: int) -> None:
        with requests.Session() as session:
            while time.monotonic() < until:
                response = session.get(url, headers=headers, timeout=30)
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text[:200]}")
                    return
                counts[n] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{url}: {errors[0]}")
    return sum(counts) / (time.monotonic() - start)


def measure(url: str, instance: Path) -> dict[str, Any]:
    record_id = _prepare(url, instance)
    port = _free_port()
    server = _serve(url, instance, port, instance.parent / "gunicorn.log")
    base = f"http://127.0.0.1:{port}"
    try:
        api = (f"{base}/api/v1/records/bench_item/{record_id}",
               {"Authorization": f"Bearer {_token(base)}"})
        bare = (f"{base}/bench/bare/{record_id}", {})
        plain = (f"{base}/plain/bench/bare/{record_id}", {})
        for target, headers in (api, bare, plain):  # warm each
            _rate(target, headers, 1.0)
        api_rates, bare_rates, plain_rates = [], [], []
        for _ in range(ROUNDS):
            api_rates.append(_rate(*api, ROUND_S))
            bare_rates.append(_rate(*bare, ROUND_S))
            plain_rates.append(_rate(*plain, ROUND_S))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    api_per_s, bare_per_s = statistics.median(api_rates), statistics.median(bare_rates)
    plain_per_s = statistics.median(plain_rates)
    return {"api_per_s": api_per_s, "bare_per_s": bare_per_s, "plain_per_s": plain_per_s,
            "ratio": api_per_s / bare_per_s, "ratio_to_plain": api_per_s / plain_per_s,
            "rounds": ROUNDS, "round_s": ROUND_S, "clients": CLIENTS, "gunicorn_workers": 2}


def main() -> int:
    results: dict[str, Any] = {"target_ratio": 0.5}
    with tempfile.TemporaryDirectory(prefix="cqms-bench-read-") as tmp:
        for label, url in backends(Path(tmp), "read.sqlite3"):
            figures = measure(url, Path(tmp) / f"instance-{label}")
            results[label] = figures
            print(f"{label:10} API record GET {figures['api_per_s']:5.0f}/s | bare route in "
                  f"the app {figures['bare_per_s']:5.0f}/s, ratio {figures['ratio']:.2f} | "
                  f"plain Flask {figures['plain_per_s']:5.0f}/s, ratio "
                  f"{figures['ratio_to_plain']:.2f} (target >= {results['target_ratio']})")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "read.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
