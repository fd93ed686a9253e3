"""Several nodes on one PostgreSQL (issue 13): three gunicorn web nodes (each its own instance
folder, attachments in the database), two schedulers and two job workers on a Redis queue,
a bounded mixed load from several users (reads, numbered creates, uploads, signed
transitions, training-matrix exports run by the workers), one node killed with SIGKILL
mid-run. Nothing acknowledged is lost, nothing answers 5xx,
numbers stay unique and gapless, and the audit chains verify against every node's checkpoints.

CQMS_TEST_MULTI_NODE_SECONDS sets the load's length (default 20; the longer run in
docs/deployment.md uses 120).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from core.audit.verify import read_checkpoint_file, verify
from core.db import db
from core.integrity import integrity_key, key_path
from core.records.models import Record
from core.testing import DEFAULT_PASSWORD, redis_url
from plugins.documents.services import seed_types

ROOT = Path(__file__).resolve().parent.parent
SECONDS = float(os.environ.get("CQMS_TEST_MULTI_NODE_SECONDS", "20"))
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TEAMS = 3
pytestmark = [pytest.mark.plugins("documents", "training"), pytest.mark.backends("postgresql"),
              pytest.mark.timeout(300)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Ledger:
    """What the servers acknowledged, and what went wrong, across the client threads."""

    created: dict[int, str] = field(default_factory=dict)  # record id: number
    approved: set[int] = field(default_factory=set)
    exports: set[int] = field(default_factory=set)  # acknowledged export jobs
    server_errors: list[str] = field(default_factory=list)
    cycles: int = 0
    lost_connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """One user's bearer token, sent round the nodes still alive; a request whose node died is
    not acknowledged (ConnectionError) and the node is dropped."""

    def __init__(self, nodes: list[str], token: str, ledger: Ledger, offset: int,
                 username: str = ""):
        self.nodes, self.ledger, self.turn = list(nodes), ledger, offset
        self.username = username  # every API signature names its signer (P11-22)
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        while self.nodes:
            node = self.nodes[self.turn % len(self.nodes)]
            self.turn += 1
            try:
                response = requests.request(method, f"{node}/api/v1{path}", headers=self.headers,
                                            timeout=60, **kwargs)
            except requests.ConnectionError:
                with self.ledger.lock:
                    self.ledger.lost_connections += 1
                self.nodes.remove(node)
                raise
            if response.status_code >= 500:
                with self.ledger.lock:
                    self.ledger.server_errors.append(f"{method} {path}: {response.status_code} "
                                                     f"{response.text[:200]}")
            return response
        raise requests.ConnectionError("no node left")


def token(node: str, username: str) -> str:
    response = requests.post(f"{node}/api/v1/auth/tokens",
                             json={"username": username, "password": DEFAULT_PASSWORD}, timeout=60)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def cycle(author: Client, reviewer: Client, approver: Client, type_id: int, n: int,
          ledger: Ledger) -> None:
    """Create a document and its first version, upload, submit, review and approve (signed)."""
    made = author.call("POST", "/records/documents_document",
                       json={"title": f"Load document {n}", "document_type_id": type_id})
    assert made.status_code == 201, made.text
    document = made.json()
    with ledger.lock:
        ledger.created[document["id"]] = document["number"]
    made = author.call("POST", "/records/documents_version",
                       json={"title": f"Load document {n}", "document_id": document["id"]})
    assert made.status_code == 201, made.text
    version = made.json()
    with ledger.lock:
        ledger.created[version["id"]] = version["number"]
    url = f"/records/documents_version/{version['id']}"
    uploaded = author.call("POST", f"{url}/attachments", files={"file": ("sop.pdf", PDF)})
    assert uploaded.status_code == 201, uploaded.text
    assert author.call("POST", f"{url}/transitions/submit", json={}).status_code == 200
    def signed(signer: Client) -> dict:
        return {"signature": {"username": signer.username, "password": DEFAULT_PASSWORD,
                              "attest": True}}

    assert reviewer.call("POST", f"{url}/transitions/review",
                         json=signed(reviewer)).status_code == 200
    approved = approver.call("POST", f"{url}/transitions/approve", json=signed(approver))
    assert approved.status_code == 200, approved.text
    with ledger.lock:
        ledger.approved.add(version["id"])
    assert author.call("GET", "/records/documents_document", params={"limit": 20}).ok
    assert author.call("GET", f"/records/documents_document/{document['id']}").ok
    with ledger.lock:
        ledger.cycles += 1


def team_load(clients: tuple[Client, Client, Client], type_id: int, team: int, until: float,
              ledger: Ledger, failures: list[str]) -> None:
    n = 0
    while time.monotonic() < until:
        n += 1
        try:
            cycle(*clients, type_id, team * 10_000 + n, ledger)
        except requests.ConnectionError:
            continue  # the node died under this request: start the next cycle elsewhere
        except AssertionError as exc:
            failures.append(f"team {team}, cycle {n}: {exc}"[:400])
            return


def export_load(client: Client, until: float, ledger: Ledger, failures: list[str]) -> None:
    """A QA manager asks for the training matrix as CSV about once a second."""
    while time.monotonic() < until:
        try:
            started = client.call("POST", "/training/matrix/export.csv")
        except requests.ConnectionError:
            continue
        if started.status_code != 202:
            failures.append(f"export: {started.status_code} {started.text[:200]}")
            return
        with ledger.lock:
            ledger.exports.add(started.json()["id"])
        time.sleep(1)


def exports_finished(client: Client, ledger: Ledger) -> list[str]:
    """Wait for every acknowledged export; what is not done with a file matching its SHA-256."""
    deadline, problems = time.monotonic() + 90, []
    for job_id in sorted(ledger.exports):
        while True:
            job = client.call("GET", f"/jobs/{job_id}").json()
            if job["state"] in ("done", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        if job["state"] != "done":
            problems.append(f"job {job_id}: {job['state']} {job['error']}")
            continue
        data = client.call("GET", f"/jobs/{job_id}/file").content
        if hashlib.sha256(data).hexdigest() != job["file"]["sha256"]:
            problems.append(f"job {job_id}: the file does not match its SHA-256")
    return problems


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(node: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            if requests.get(f"{node}/healthz", timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or its workers still starting
            pass
        time.sleep(0.2)
    raise AssertionError(f"{node} did not start: {log.read_text()[-2000:]}")


def test_three_nodes_two_schedulers_and_two_workers_lose_nothing_when_a_node_is_killed(
        app, make_user, system_actor, tmp_path):
    redis = redis_url()
    seed_types()
    db.session.commit()
    from core import attest
    from plugins.documents.models import DocumentType

    teams = []
    for n in range(TEAMS):
        author = make_user(f"author{n}", "author")
        reviewer = make_user(f"reviewer{n}", "reviewer")
        approver = make_user(f"approver{n}", "approver")
        for user in (reviewer, approver):
            attest(user, DEFAULT_PASSWORD)
        teams.append((author.username, reviewer.username, approver.username))
    make_user("quality", "qa_manager")
    type_id = db.session.scalar(select(DocumentType.id).where(DocumentType.code == "SOP"))
    db.session.commit()
    integrity_key()  # made now: the nodes key their entries with the deployment's key
    env = {**os.environ, "CQMS_ENV": "testing", "CQMS_PLUGINS": "documents,training",
           "CQMS_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "CQMS_INTEGRITY_KEY_FILE": str(key_path()),
           "CQMS_SECRET_KEY": "multi-node-test-secret-key-0123456789abcdef",
           "CQMS_ATTACHMENT_STORAGE": "database",  # no folder shared by the nodes
           "CQMS_RATE_LIMIT_STORAGE_URL": redis, "CQMS_AUDIT_CHECKPOINT_SECONDS": "0",
           # a load test signs faster than people do; sign-in and token limits stay on
           "CQMS_SIGNING_RATE_LIMIT": "100000 per minute",
           "CQMS_JOB_QUEUE_URL": redis, "CQMS_JOB_QUEUE_NAME": f"cqms-multi-node-{os.getpid()}"}
    procs, nodes, logs = [], [], []
    try:
        for n in range(3):
            port = free_port()
            node_env = {**env, "CQMS_INSTANCE_PATH": str(tmp_path / f"node{n}")}
            logs.append(tmp_path / f"node{n}.log")
            procs.append(start([sys.executable, "-m", "gunicorn", "-w", "2", "-b",
                                f"127.0.0.1:{port}", "wsgi:app"], node_env, logs[-1]))
            nodes.append(f"http://127.0.0.1:{port}")
        cqms = str(Path(sys.executable).parent / "cqms")
        schedulers = [start([cqms, "scheduler", "--interval", "1"],
                            {**env, "CQMS_INSTANCE_PATH": str(tmp_path / f"sched{n}")},
                            tmp_path / f"sched{n}.log") for n in range(2)]
        schedulers += [start([cqms, "jobs", "worker"],
                             {**env, "CQMS_INSTANCE_PATH": str(tmp_path / f"worker{n}")},
                             tmp_path / f"worker{n}.log") for n in range(2)]
        for node, proc, log in zip(nodes, procs, logs, strict=True):
            wait_healthy(node, proc, log)

        ledger, failures = Ledger(), []
        clients = [tuple(Client(nodes, token(nodes[0], name), ledger, i, name)
                         for i, name in enumerate(team)) for team in teams]
        until = time.monotonic() + SECONDS
        threads = [threading.Thread(target=team_load, args=(clients[n], type_id, n, until,
                                                            ledger, failures))
                   for n in range(TEAMS)]
        quality = Client(nodes, token(nodes[0], "quality"), ledger, 0)
        threads.append(threading.Thread(target=export_load,
                                        args=(quality, until, ledger, failures)))
        for thread in threads:
            thread.start()
        time.sleep(SECONDS / 2)
        os.killpg(procs[1].pid, signal.SIGKILL)  # node 1, master and workers, mid-run
        for thread in threads:
            thread.join(timeout=SECONDS + 120)
        assert failures == []
        assert ledger.server_errors == []
        assert ledger.cycles >= TEAMS, ledger.cycles  # the load ran on the surviving nodes
        for proc in schedulers:
            assert proc.poll() is None  # both schedulers and both workers still running
        assert ledger.exports and exports_finished(quality, ledger) == []
    finally:
        for proc in procs + locals().get("schedulers", []):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs + locals().get("schedulers", []):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    db.session.rollback()
    stored = dict(db.session.execute(select(Record.id, Record.number).where(
        Record.id.in_(ledger.created))).all())
    assert stored == ledger.created  # every acknowledged create is there, with its number
    states = dict(db.session.execute(select(Record.id, Record.state).where(
        Record.id.in_(ledger.approved))).all())
    assert set(states.values()) <= {"approved"} and len(states) == len(ledger.approved)
    numbers = sorted(int(number.split("-")[1]) for number in db.session.scalars(
        select(Record.number).where(Record.type == "documents_document")))
    assert numbers == list(range(1, len(numbers) + 1))  # unique and gapless
    points = [point for n in range(3) for path in [tmp_path / f"node{n}" /
                                                   "audit-checkpoints.jsonl"]
              if path.exists() for point in read_checkpoint_file(path)]
    with db.engine.connect() as conn:  # the chains, and every row and file reconciled
        report = verify(conn, points, app.extensions["cqms"].reconcilers)
    assert report.ok, [f.line() for f in report.findings]
    assert len(report.heads) > 1  # the nodes wrote on several chains
    print(f"multi-node: {ledger.cycles} cycles in {SECONDS:.0f} s, {len(ledger.created)} "
          f"records acknowledged, {ledger.lost_connections} requests lost with node 1, "
          f"{report.entries} audit entries on {len(report.heads)} chains, "
          f"{len(points)} checkpoints, {len(ledger.exports)} exports run by the workers")
