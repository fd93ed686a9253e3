"""Several audit chains (PostgreSQL): concurrent transactions append on different chains without
waiting for each other, and tampering with any chain is still found, by entry and chain.

Transactions are held open on separate connections, so which chain each one holds is known:
the trail below always has entries on at least three chains.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import delete, func, select, text, update

from core.audit import chain
from core.audit.chain import GENESIS, genesis
from core.audit.models import AuditEntry
from core.audit.verify import Checkpoint, checkpoint_line, make_checkpoints, read_checkpoint_file, verify
from core.db import utcnow
from core.testing import triggers_bypassed

ENTRIES = AuditEntry.__table__
PG = pytest.mark.backends("postgresql")
pytestmark = pytest.mark.plugins()


def entries(tag: str, count: int = 3) -> list[dict]:
    return [{"at": utcnow(), "actor_id": None, "actor_name": "chain test", "action": "update",
             "entity_type": "test_item", "entity_id": tag, "field": f"f{n}", "old_value": None,
             "new_value": f"{tag}.{n}"} for n in range(count)]


def open_writers(db, count: int) -> list:
    """``count`` connections, each in a transaction that has appended (and so holds a chain)."""
    conns = []
    for n in range(count):
        conn = db.engine.connect()
        conn.begin()
        chain.append(conn, entries(f"w{n}"))
        conns.append(conn)
    return conns


def chain_of(conn) -> int:
    return conn.execute(select(AuditEntry.chain).order_by(AuditEntry.id.desc()).limit(1)).scalar()


def build_trail(db, rounds: int = 3) -> set[int]:
    """Three writers at a time, ``rounds`` times: returns the chains used."""
    db.session.commit()
    used = set()
    for _ in range(rounds):
        conns = open_writers(db, 3)
        used |= {chain_of(conn) for conn in conns}
        for conn in conns:
            chain.append(conn, entries("more", 2))  # a second flush: the same chain
            conn.commit()
            conn.close()
    return used


def run_verify(db, points=()):
    db.session.commit()
    with db.engine.connect() as conn:
        return verify(conn, points)


def by_chain(db) -> dict[int, list[int]]:
    db.session.commit()
    rows = db.session.execute(select(AuditEntry.chain, AuditEntry.id)
                              .order_by(AuditEntry.chain, AuditEntry.id)).all()
    found: dict[int, list[int]] = {}
    for number, seq in rows:
        found.setdefault(number, []).append(seq)
    return found


def test_each_chain_starts_from_its_own_genesis():
    assert genesis(0) == GENESIS  # trails written before chains verify unchanged
    assert len({genesis(n) for n in range(64)}) == 64


@PG
def test_concurrent_transactions_hold_different_chains_and_do_not_wait(app, db):
    before = run_verify(db).entries
    conns = open_writers(db, 3)  # each still open: none of them has released its chain
    chains = [chain_of(conn) for conn in conns]
    assert len(set(chains)) == 3, chains
    for conn in conns:
        conn.commit()
        conn.close()
    report = run_verify(db)
    assert report.ok, report.findings
    assert set(chains) <= set(report.heads)
    assert report.entries == before + 9


@PG
def test_with_every_chain_held_a_writer_waits_for_one(app, db):
    app.config["AUDIT_CHAINS"] = 2
    before = run_verify(db).entries
    held = open_writers(db, 2)
    done = threading.Event()

    def third() -> None:
        with app.app_context(), db.engine.connect() as conn:
            conn.begin()
            chain.append(conn, entries("third"))
            conn.commit()
        done.set()

    waiter = threading.Thread(target=third)
    waiter.start()
    time.sleep(0.5)
    assert not done.is_set()  # both chains are held: it waits rather than fork a chain
    for conn in held:
        conn.commit()
        conn.close()
    waiter.join(timeout=30)
    assert done.is_set()
    report = run_verify(db)
    assert report.ok and report.entries == before + 9, report.findings


@PG
def test_a_rolled_back_savepoint_gives_the_chain_back_and_the_next_flush_takes_one_again(
        app, db, system_actor):
    from core.studies import Study

    db.session.commit()
    db.session.add(Study(code="SP-1", title="kept"))
    db.session.flush()  # holds a chain now
    savepoint = db.session.begin_nested()
    db.session.add(Study(code="SP-2", title="rolled back"))
    db.session.flush()
    savepoint.rollback()  # PostgreSQL released what the savepoint took
    others = open_writers(db, 2)  # may take any chain not held
    db.session.add(Study(code="SP-3", title="kept too"))
    db.session.flush()
    for conn in others:
        conn.commit()
        conn.close()
    db.session.commit()
    report = run_verify(db)
    assert report.ok, report.findings


@PG
def test_an_entry_deleted_from_one_chain_is_reported_at_the_next_entry_of_that_chain(app, db):
    build_trail(db)
    chains = by_chain(db)  # every entry (the app's own set-up ones too), by chain
    number, target, after = next((n, ids[k], ids[k + 1]) for n, ids in sorted(chains.items())
                                 if n != 0 for k in range(1, len(ids) - 1))
    with triggers_bypassed("core_audit_entry") as conn:
        conn.execute(delete(ENTRIES).where(ENTRIES.c.id == target))
    report = run_verify(db)
    assert [(f.seq, f.chain) for f in report.findings] == [(after, number)], report.findings
    assert report.findings[0].line().startswith(f"seq {after} (chain {number}): ")
    assert "link to the previous entry is broken" in report.findings[0].problem


@PG
def test_an_entry_moved_to_another_chain_breaks_both_chains(app, db):
    build_trail(db)
    chains = by_chain(db)
    source, target = sorted(n for n, ids in chains.items() if len(ids) >= 3)[:2]
    moved = chains[source][1]
    with triggers_bypassed("core_audit_entry") as conn:
        conn.execute(update(ENTRIES).where(ENTRIES.c.id == moved).values(chain=target))
    report = run_verify(db)
    assert {f.chain for f in report.findings} == {source, target}, report.findings


@PG
def test_a_truncated_chain_and_a_deleted_chain_are_found_against_checkpoints(app, db, tmp_path):
    build_trail(db)
    with db.engine.begin() as conn:
        points = make_checkpoints(conn)
    chains = by_chain(db)
    assert {p.chain for p in points} == set(chains)
    cut, gone = sorted(n for n in chains if n != 0)[:2]
    with triggers_bypassed("core_audit_entry") as conn:
        conn.execute(delete(ENTRIES).where(ENTRIES.c.chain == cut,
                                           ENTRIES.c.id > chains[cut][0]))
        conn.execute(delete(ENTRIES).where(ENTRIES.c.chain == gone))
    assert run_verify(db).ok  # without checkpoints, a shortened chain is still a valid chain
    path = tmp_path / "points.jsonl"
    path.write_text("".join(checkpoint_line(p) + "\n" for p in points))
    report = run_verify(db, read_checkpoint_file(path))
    lines = [f.line() for f in report.findings]
    assert any(f"chain {cut} ends at seq {chains[cut][0]} but points.jsonl" in line
               and line.endswith("(truncated)") for line in lines), lines
    assert any(f"chain {gone} ends at seq 0 but points.jsonl" in line for line in lines), lines


@PG
def test_a_checkpoint_relabelled_to_another_chain_fails_its_mac(app, db):
    build_trail(db)
    with db.engine.begin() as conn:
        points = make_checkpoints(conn)
    first = points[0]
    other = next(n for n in by_chain(db) if n != first.chain)
    relabelled = Checkpoint(first.seq, first.hash, first.at, first.mac, "forged line", other)
    report = run_verify(db, [relabelled])
    assert [f.line() for f in report.findings] == [
        "trail: forged line: checkpoint MAC is invalid (forged, or signed with another key)"]


@PG
def test_writers_in_separate_transactions_never_fork_a_chain(app, db):
    used = build_trail(db, rounds=4)
    assert len(used) >= 3
    db.session.commit()
    forks = db.session.scalar(select(func.count() - func.count(func.distinct(ENTRIES.c.prev_hash))))
    assert forks == 0
    assert db.session.scalar(text("SELECT count(DISTINCT chain) FROM core_audit_entry")) >= 3


@PG
def test_verify_with_several_processes_finds_what_one_process_finds(app, db, tmp_path):
    build_trail(db)
    with db.engine.begin() as conn:
        points = make_checkpoints(conn)
    alone, shared = run_verify(db, points), None
    with db.engine.connect() as conn:
        shared = verify(conn, points, jobs=2)
    assert shared.ok and (shared.entries, shared.heads, shared.head_seq) == (
        alone.entries, alone.heads, alone.head_seq)
    chains = by_chain(db)
    number = next(n for n, ids in sorted(chains.items()) if n != 0 and len(ids) >= 3)
    cut = sorted(n for n in chains if n != number)[-1]
    with triggers_bypassed("core_audit_entry") as conn:
        conn.execute(delete(ENTRIES).where(ENTRIES.c.id == chains[number][1]))
        conn.execute(delete(ENTRIES).where(ENTRIES.c.id == chains[cut][-1]))
    alone = run_verify(db, points)
    with db.engine.connect() as conn:
        shared = verify(conn, points, jobs=3)
    assert [f.line() for f in shared.findings] == [f.line() for f in alone.findings]
    assert len(alone.findings) == 2, alone.findings
