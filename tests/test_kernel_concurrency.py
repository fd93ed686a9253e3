"""The kernel under real concurrency: separate OS processes, each with its own app and pool.

Creates: 8 processes number ``acme_widget`` records at the same time (with a rolled-back creation
now and then); afterwards the numbers are exactly 1..N (no duplicate, no gap), every record has
its one ``create`` entry and the audit hash chain verifies, gapless, with the reconcilers.

Edits: 8 processes append their own tokens to the same few records by read-modify-write, as a
browser does (read in one transaction, submit ``expected_version`` in the next), retrying on
``ConflictError``; afterwards every token is there exactly once (no lost update), the version is
1 + the successful updates, and the audit trail of the field is an unbroken old -> new chain.

Transitions: 8 processes press "submit" on the same draft at the same moment, record after
record; exactly one wins, the others get a WorkflowError (SQLite: the write lock serialises, the
version check refuses) or a ConflictError (PostgreSQL: the UPDATE's version guard), and there is
one ``transition`` entry per record.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import re
import threading
import time
import traceback
import types
from collections import Counter
from typing import Any

import pytest
from flask import current_app
from kernel_plugin import AcmeWidget
from sqlalchemy import func, select

from core import ConflictError, create_record, update_record
from core.audit.models import AuditEntry
from core.audit.verify import verify
from core.db import db
from core.hookspecs import hookimpl
from core.integrity import integrity_key
from core.records.models import Counter as NumberCounter
from core.records.models import Record
from core.testing import close_app

WORKERS = 8
CREATES = {"postgresql": 250, "sqlite": 60}
ROLLBACK_EVERY = 25  # every 25th creation is flushed (number drawn) and rolled back
RECORDS = 3
SUBMIT_RECORDS = 10
TOKENS_PER_RECORD = 4  # tokens each worker appends to each record
SPAWN_TIMEOUT = 120


# --------------------------------------------------------------------------------------------
# The kernel plugin, built in whichever process needs it (module objects do not pickle)


def _module_plugin(key: str, doc: str = "", **members: Any) -> types.ModuleType:
    """What the harness's ``temp_plugin`` fixture does, without the fixture."""
    module = types.ModuleType(f"cqms_test_plugin_{key}", doc or f"Test plugin {key}.")
    for name, value in members.items():
        setattr(module, name, hookimpl(value) if callable(value) else value)
    return module


def kernel_plugin_module() -> types.ModuleType:
    from kernel_plugin import make_plugin

    return make_plugin(_module_plugin)


def child_app(url: str, instance: str):  # type: ignore[no-untyped-def]
    from core.app import create_app

    return create_app({"ENV": "testing", "DATABASE_URL": url, "INSTANCE_PATH": instance,
                       "PLUGINS": ["acme"]},
                      extra_plugins={"acme": kernel_plugin_module()}, environ={})


@pytest.fixture
def app(app_factory):
    """The harness's ``app`` (used by make_user) is the kernel test app here."""
    app = app_factory(plugins=["acme"], extra_plugins={"acme": kernel_plugin_module()})
    with app.app_context():
        yield app


# --------------------------------------------------------------------------------------------
# A pool of spawned processes, started once per module (spawning 8 interpreters on 2 cores
# costs seconds); every job builds its own app on the test's database and disposes of it.


def _serve(worker: int, inbox, results, barrier, sync) -> None:  # type: ignore[no-untyped-def]
    while (job := inbox.get()) is not None:
        name, url, instance, args = job
        try:
            payload = globals()[name](url, instance, worker, barrier, sync, *args)
            results.put((worker, "ok", payload))
        except BaseException:  # noqa: BLE001 - report anything to the parent
            results.put((worker, traceback.format_exc(), None))
            barrier.abort()  # release everyone waiting for this worker
            sync.abort()
    results.close()
    results.join_thread()
    os._exit(0)  # skip the interpreter's slow teardown (seconds for 8 processes on 2 cores)


class Pool:
    def __init__(self) -> None:
        self.procs: list[Any] = []
        self.inboxes: list[Any] = []

    def start(self) -> None:
        mp = multiprocessing.get_context("spawn")
        # ``barrier``: all workers and the parent (the start); ``sync``: the workers only.
        self.barrier, self.sync = mp.Barrier(WORKERS + 1), mp.Barrier(WORKERS)
        self.results = mp.Queue()
        self.inboxes = [mp.Queue() for _ in range(WORKERS)]
        self.procs = [mp.Process(target=_serve, daemon=True, args=(
                          n, self.inboxes[n], self.results, self.barrier, self.sync))
                      for n in range(WORKERS)]
        for proc in self.procs:
            proc.start()

    def stop(self) -> None:
        for inbox, proc in zip(self.inboxes, self.procs, strict=True):
            if proc.is_alive():
                inbox.put(None)
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        self.procs, self.inboxes = [], []

    def run(self, job: str, tmp_path, args_of) -> tuple[dict[int, Any], float]:  # type: ignore[no-untyped-def]
        """Run ``job(url, instance, worker, barrier, sync, *args_of(worker))`` in every process, after
        the parent released its transaction; returns each worker's result and the wall time from
        the common start (all apps built, barrier passed) to the last result."""
        url = current_app.config["SQLALCHEMY_DATABASE_URI"]
        args = [args_of(n) for n in range(WORKERS)]
        db.session.commit()  # SQLite: BEGIN IMMEDIATE holds the write lock until the end
        if not self.procs:
            self.start()
        key = integrity_key()  # one deployment, one key: each worker's instance gets a copy
        for n, inbox in enumerate(self.inboxes):
            instance = tmp_path / f"{job}{n}"
            instance.mkdir(parents=True, exist_ok=True)
            (instance / "integrity.key").write_bytes(key)
            inbox.put((job, url, str(instance), args[n]))
        ok = False
        try:
            try:
                self.barrier.wait(timeout=SPAWN_TIMEOUT)
            except threading.BrokenBarrierError:
                pass  # a worker failed before the start: its traceback is in the results
            started = time.monotonic()
            outcomes, failures = {}, []
            for _ in self.procs:
                worker, status, payload = self.results.get(timeout=SPAWN_TIMEOUT)
                if status == "ok":
                    outcomes[worker] = payload
                elif "BrokenBarrierError" not in status or not failures:
                    failures.insert(0 if "BrokenBarrierError" not in status else 1,
                                    f"worker {worker} failed:\n{status}")
            assert not failures, failures[0]
            ok = True
            return outcomes, time.monotonic() - started
        finally:
            if not ok:  # start afresh for the next test
                self.stop()


@pytest.fixture(scope="module")
def pool():
    workers = Pool()
    workers.start()  # the interpreters start while the first test sets up
    yield workers
    workers.stop()


def assert_chain_ok(app) -> int:  # type: ignore[no-untyped-def]
    report = verify(db.session.connection(), (), app.extensions["cqms"].reconcilers)
    db.session.rollback()
    assert report.ok, [f.line() for f in report.findings]
    ids = db.session.execute(select(func.count(), func.count(func.distinct(AuditEntry.id)),
                                    func.min(AuditEntry.id), func.max(AuditEntry.id))).one()
    assert tuple(ids) == (report.entries, report.entries, 1, report.head_seq)  # gapless seq
    return report.entries


# --------------------------------------------------------------------------------------------
# Concurrent creation: gapless, unique numbers


def create_job(url: str, instance: str, worker: int, barrier, sync,  # type: ignore[no-untyped-def]
               user_id: int, creates: int) -> dict[str, Any]:
    from core.audit.context import audit_context
    from core.users.models import User

    app = child_app(url, instance)
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.commit()
        barrier.wait(timeout=SPAWN_TIMEOUT)
        numbers = []
        with audit_context(client=f"worker-{worker}"):
            for i in range(creates):
                if i % ROLLBACK_EVERY == ROLLBACK_EVERY - 1:
                    create_record("acme_widget", user, title="doomed", description="x")
                    db.session.rollback()  # gives its number back
                record = create_record("acme_widget", user, title=f"w{worker} #{i}",
                                       description=f"made by worker {worker}")
                numbers.append(record.number)
                db.session.commit()
    close_app(app)
    return {"numbers": numbers}


@pytest.mark.req("DI-C3", "P11-05", "P11-01")
@pytest.mark.backends("sqlite", "postgresql")
def test_concurrent_creations_number_gaplessly_and_the_chain_holds(
        app, pool, make_user, tmp_path, cqms_backend, record_property):
    creates = CREATES[cqms_backend]
    total = WORKERS * creates
    user = make_user("alice", "author")
    entries_before = db.session.scalar(select(func.count()).select_from(AuditEntry))

    outcomes, elapsed = pool.run("create_job", tmp_path, lambda n: (user.id, creates))

    # What each worker saw: no number is handed out twice, and its own numbers increase, except
    # (PostgreSQL) a number a rolled back creation handed back, which the next creation takes.
    seen = Counter()
    late = 0
    for worker, result in outcomes.items():
        numbers = result["numbers"]
        assert len(numbers) == creates
        late += sum(1 for i, n in enumerate(numbers) if i and n < max(numbers[:i]))
        if cqms_backend == "sqlite":
            assert numbers == sorted(numbers), f"worker {worker} got numbers out of order"
        seen.update(numbers)
    assert late <= WORKERS * (creates // ROLLBACK_EVERY)
    assert [n for n, c in seen.items() if c > 1] == []
    # What the database holds: numbers 1..total exactly, and the counter agrees.
    rows = db.session.execute(select(Record.number, Record.title).where(
        Record.type == "acme_widget")).all()
    assert len(rows) == total
    assert all(title != "doomed" for _, title in rows)
    prefixes = {number.rsplit("-", 1)[0] for number, _ in rows}
    assert len(prefixes) == 1 and re.fullmatch(r"WID-\d{4}", prefix := prefixes.pop())
    assert sorted(int(number.rsplit("-", 1)[1]) for number, _ in rows) == list(range(1, total + 1))
    assert set(seen) == {number for number, _ in rows}
    assert db.session.scalar(select(NumberCounter.value).where(
        NumberCounter.record_type == "acme_widget", NumberCounter.period == prefix[4:])) == total
    # The workers really interleaved (otherwise the test proves little).
    owner = {number: worker for worker, r in outcomes.items() for number in r["numbers"]}
    order = [owner[f"{prefix}-{n:04d}"] for n in range(1, total + 1)]
    switches = sum(1 for x, y in zip(order, order[1:], strict=False) if x != y)
    # SQLite's busy-wait lock is unfair (one writer may run many transactions in a row), so
    # only PostgreSQL is required to interleave every worker.
    assert switches >= (WORKERS if cqms_backend == "postgresql" else 1), switches
    # One create entry per record (its number), every worker's entries attributed to it.
    created = db.session.scalars(select(AuditEntry.new_value).where(
        AuditEntry.entity_type == "acme_widget", AuditEntry.action == "create",
        AuditEntry.field == "number")).all()
    assert sorted(created) == sorted(seen)
    for n in range(WORKERS):
        assert db.session.scalar(select(func.count()).where(
            AuditEntry.client == f"worker-{n}", AuditEntry.field == "number")) == creates
    entries = assert_chain_ok(app)
    assert entries > entries_before + total

    rate = total / elapsed
    record_property("creates_per_second", round(rate, 1))
    print(f"\n[{cqms_backend}] {WORKERS} processes x {creates} creations: {total} in "
          f"{elapsed:.2f} s = {rate:.0f} creations/s ({entries} audit entries verified)")


# --------------------------------------------------------------------------------------------
# Concurrent edits of the same records: no lost update


def edit_job(url: str, instance: str, worker: int, barrier, sync,  # type: ignore[no-untyped-def]
             user_id: int, record_ids: list[int], tokens_per_record: int) -> dict[str, Any]:
    from core.audit.context import audit_context
    from core.db.engine import read_only_scope
    from core.users.models import User

    app = child_app(url, instance)
    rng = random.Random(worker)
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.commit()
        barrier.wait(timeout=SPAWN_TIMEOUT)
        todo = [(rid, f"w{worker}t{k}") for k in range(tokens_per_record) for rid in record_ids]
        rng.shuffle(todo)
        early = late = 0
        with audit_context(client=f"worker-{worker}"):
            for rid, token in todo:
                while True:
                    with read_only_scope():  # the GET that renders the form
                        record = db.session.get(AcmeWidget, rid)
                        version, description = record.version, record.description
                        db.session.commit()
                    if rng.random() < 0.5:
                        time.sleep(rng.random() / 500)  # the user types
                    try:  # the POST that submits it
                        record = db.session.get(AcmeWidget, rid)
                        update_record(record, user, expected_version=version,
                                      description=f"{description} {token}")
                        db.session.commit()
                        break
                    except ConflictError as exc:
                        db.session.rollback()
                        if "(now version" in str(exc):
                            early += 1  # refused by the version check before writing
                        else:
                            late += 1  # the UPDATE ... WHERE version = ... matched no row
    close_app(app)
    return {"early": early, "late": late, "updates": len(todo)}


@pytest.mark.req("DI-C3", "P11-05", "P11-06")
@pytest.mark.backends("sqlite", "postgresql")
def test_concurrent_edits_lose_no_update(app, pool, make_user, tmp_path, cqms_backend,
                                         record_property):
    per_record = TOKENS_PER_RECORD
    users = [make_user(f"editor{n}", "author") for n in range(WORKERS)]
    records = [create_record("acme_widget", users[0], title=f"shared {i}", description="start")
               for i in range(RECORDS)]
    db.session.commit()
    ids = [r.id for r in records]

    outcomes, elapsed = pool.run("edit_job", tmp_path, lambda n: (users[n].id, ids, per_record))

    early = sum(r["early"] for r in outcomes.values())
    late = sum(r["late"] for r in outcomes.values())
    updates = sum(r["updates"] for r in outcomes.values())
    assert updates == WORKERS * RECORDS * per_record
    assert early + late > 0, "no conflict at all: the workers did not really compete"
    db.session.expire_all()
    for rid in ids:
        record = db.session.get(AcmeWidget, rid)
        words = record.description.split()
        assert words[0] == "start"
        tokens = Counter(words[1:])
        expected = {f"w{w}t{k}" for w in range(WORKERS) for k in range(per_record)}
        assert set(tokens) == expected, f"lost: {sorted(expected - set(tokens))}"
        assert max(tokens.values()) == 1, "a token was applied twice"
        assert record.version == 1 + WORKERS * per_record
        # The trail of the field is one unbroken chain of old -> new, version by version.
        trail = db.session.execute(select(
            AuditEntry.old_value, AuditEntry.new_value, AuditEntry.entity_version).where(
            AuditEntry.entity_type == "acme_widget", AuditEntry.entity_id == str(rid),
            AuditEntry.action == "update", AuditEntry.field == "description",
        ).order_by(AuditEntry.id)).all()
        assert len(trail) == WORKERS * per_record
        assert trail[0].old_value == "start" and trail[-1].new_value == record.description
        assert all(a.new_value == b.old_value for a, b in zip(trail, trail[1:], strict=False))
        assert [t.entity_version for t in trail] == list(range(2, record.version + 1))
    assert_chain_ok(app)

    record_property("conflicts_retried", early + late)
    print(f"\n[{cqms_backend}] {WORKERS} processes, {updates} edits of {RECORDS} records in "
          f"{elapsed:.2f} s ({updates / elapsed:.0f}/s); conflicts retried: {early + late} "
          f"({early} by the version check, {late} by the UPDATE's version guard)")


# --------------------------------------------------------------------------------------------
# Concurrent transitions of the same record: exactly one wins


def submit_job(url: str, instance: str, worker: int, barrier, sync,  # type: ignore[no-untyped-def]
               user_id: int, record_ids: list[int]) -> dict[str, Any]:
    from core import WorkflowError, transition
    from core.audit.context import audit_context
    from core.db.engine import read_only_scope
    from core.users.models import User

    app = child_app(url, instance)
    outcomes = []
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.commit()
        barrier.wait(timeout=SPAWN_TIMEOUT)
        with audit_context(client=f"worker-{worker}"):
            for rid in record_ids:
                with read_only_scope():  # every worker renders the record in draft
                    version = db.session.get(AcmeWidget, rid).version
                    db.session.commit()
                sync.wait(timeout=SPAWN_TIMEOUT)  # ... and all press "submit" at once
                try:
                    record = db.session.get(AcmeWidget, rid)
                    transition(record, "submit", user, expected_version=version)
                    db.session.commit()
                    outcomes.append("ok")
                except (WorkflowError, ConflictError) as exc:
                    db.session.rollback()
                    outcomes.append(type(exc).__name__)
    close_app(app)
    return {"outcomes": outcomes}


@pytest.mark.req("P11-08", "DI-C3")
@pytest.mark.backends("sqlite", "postgresql")
def test_concurrent_transitions_of_one_record_apply_once(app, pool, make_user, tmp_path,
                                                         cqms_backend):
    users = [make_user(f"author{n}", "author") for n in range(WORKERS)]
    records = [create_record("acme_widget", users[0], title=f"race {i}", description="ready")
               for i in range(SUBMIT_RECORDS)]
    db.session.commit()
    ids = [r.id for r in records]

    outcomes, elapsed = pool.run("submit_job", tmp_path, lambda n: (users[n].id, ids))

    kinds = Counter()
    for i, rid in enumerate(ids):
        per_record = [outcomes[w]["outcomes"][i] for w in range(WORKERS)]
        assert per_record.count("ok") == 1, per_record
        kinds.update(per_record)
        record = db.session.get(AcmeWidget, rid)
        assert (record.state, record.version) == ("in_review", 2)
        moves = db.session.scalars(select(AuditEntry).where(
            AuditEntry.entity_id == str(rid), AuditEntry.action == "transition")).all()
        assert [(m.field, m.old_value, m.new_value) for m in moves] == [
            ("submit", "draft", "in_review")]
    assert_chain_ok(app)
    print(f"\n[{cqms_backend}] {WORKERS} processes submitting each of {SUBMIT_RECORDS} records at "
          f"once in {elapsed:.2f} s: {dict(kinds)}")
