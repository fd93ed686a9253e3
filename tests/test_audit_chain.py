"""The audit hash chain against a rogue DBA: every kind of direct tampering is found at its seq.

Each test builds a realistic trail (accounts, role grants, studies, sites, successive edits by
several actors, sign-ins over HTTP), then alters ``core_audit_entry`` in SQL with the append-only
triggers bypassed, as someone with database rights could, and checks that ``verify()`` and
``cqms audit verify`` report the exact sequence number and the kind of change. Truncation and a
re-hashed chain are only detectable against a signed checkpoint taken before; the tests show
both sides. Concurrent writers (separate processes) must leave a gapless, unforked chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import os
import re
import sqlite3
import threading
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.audit.chain import GENESIS, app_hasher, entry_hash, genesis, keyed_entry_hash
from core.audit.context import audit_context, audit_reason
from core.audit.listener import AuditError
from core.audit.models import AuditCheckpoint, AuditEntry
from core.audit.verify import (
    CHECKPOINT_PURPOSE,
    Checkpoint,
    checkpoint_line,
    make_checkpoints,
    read_checkpoint_file,
    stored_checkpoints,
    verify,
)
from core.integrity import integrity_key, key_path, mac
from core.studies import Site, Study
from core.testing import close_app, login, triggers_bypassed

ENTRIES = AuditEntry.__table__
BOTH = pytest.mark.backends("sqlite", "postgresql")
CORE_ONLY = pytest.mark.plugins()  # the core's own audited models are enough; faster set-up


@pytest.fixture
def app_config() -> dict:
    """One chain: the tampering below addresses an entry's neighbours by id. Several chains
    are tampered with in tests/test_audit_chains.py (and the worker processes below use the
    default, several chains on PostgreSQL)."""
    return {"AUDIT_CHAINS": 1}


# --------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture
def cqms(app, db, monkeypatch, capsys):
    """Run ``cqms ARGS`` in-process against the test app's database and integrity key; returns
    (exit status, stdout). The command builds its own app, as the real console script does."""
    import core.app
    from core.cli import main

    for name in list(os.environ):
        if name.startswith("CQMS_") and not name.startswith("CQMS_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CQMS_ENV", "testing")
    monkeypatch.setenv("CQMS_INSTANCE_PATH", app.instance_path)
    monkeypatch.setenv("CQMS_DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setenv("CQMS_PLUGINS", ",".join(app.config["PLUGINS"]))
    # These tests play a rogue DBA who also holds the integrity key and has removed the
    # automatic checkpoint file: only the checkpoints each test names can catch them.
    monkeypatch.setenv("CQMS_AUDIT_CHECKPOINT_FILE", str(Path(app.instance_path) / "removed"))
    built = []
    original = core.app.create_app

    def capture(*args, **kwargs):
        built.append(original(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(core.app, "create_app", capture)

    def run(*args: str) -> tuple[int, str]:
        db.session.commit()  # release the test's transaction (SQLite: the write lock)
        capsys.readouterr()
        try:
            main(list(args))
            status = 0
        except SystemExit as exc:
            status = exc.code
        out, err = capsys.readouterr()
        return status, out + err

    yield run
    for cli_app in built:
        close_app(cli_app)


def actor(user) -> dict:
    return {"actor_id": user.id, "actor_name": user.printed_name}


def populate(db, make_user, client) -> dict:
    """A realistic trail: accounts and role grants, studies and sites, successive edits by the
    system and by named users (with request id and IP), and HTTP sign-ins."""
    alice = make_user("alice", "qa_manager")
    bob = make_user("bob", "author", "reviewer")
    make_user("carol", "system_admin", full_name="Carol Müller-Łukasiewicz")
    studies = [Study(code=f"ST-{i:03d}", title=f"Study {i}", description=f"Phase {i % 3 + 1}")
               for i in range(4)]
    with audit_reason("Studies registered"):
        db.session.add_all(studies)
        db.session.commit()
    with audit_reason("Sites opened"):
        db.session.add_all([Site(study=s, code=f"S{n:02d}", name=f"Site {n} — Zürich",
                                 country="CH") for s in studies[:2] for n in range(2)])
        db.session.commit()
    for version in range(2, 5):
        with audit_reason(f"Protocol amendment {version}"):
            studies[1].title = f"Study 1, protocol v{version}"
            db.session.commit()
    with audit_context(**actor(alice), reason="QA correction", request_id="req-0001",
                       ip="10.1.2.3", client="Mozilla/5.0"):
        studies[2].description = "Phase 2b; sponsor: \"ACME\" <acme@example.org>"
        db.session.commit()
    with audit_context(**actor(bob), reason="Study closed", request_id="req-0002", ip="10.1.2.4"):
        studies[3].active = False
        db.session.commit()
    for username in ("alice", "bob"):
        assert login(client.application.test_client(), username).status_code == 302
    db.session.commit()
    return {"alice": alice, "bob": bob, "studies": [s.id for s in studies]}


def head(db) -> int:
    db.session.commit()
    return db.session.scalar(select(func.max(AuditEntry.id))) or 0


def title_edit_seq(db, study_id: int, new_value: str) -> int:
    return db.session.scalar(select(AuditEntry.id).where(
        AuditEntry.entity_type == "core_study", AuditEntry.entity_id == str(study_id),
        AuditEntry.field == "title", AuditEntry.new_value == new_value))


def more_activity(db, tag: str, count: int = 3) -> None:
    with audit_reason(f"more activity {tag}"):
        for i in range(count):
            db.session.add(Study(code=f"{tag}-{i}", title=f"Later study {tag} {i}"))
            db.session.commit()





def rows(conn, first: int = 1) -> list[dict]:
    result = conn.execute(select(ENTRIES).where(ENTRIES.c.id >= first).order_by(ENTRIES.c.id))
    return [dict(r) for r in result.mappings()]


def set_row(conn, seq: int, **values) -> None:
    conn.execute(ENTRIES.update().where(ENTRIES.c.id == seq).values(**values))


def rehash_from(conn, first: int, hash_entry=keyed_entry_hash) -> None:
    """Recompute prev_hash and hash of every entry from ``first`` on, so the chain links up
    (by default as someone holding the integrity key would)."""
    prev = conn.scalar(select(ENTRIES.c.hash).where(ENTRIES.c.id == first - 1)) or GENESIS
    for row in rows(conn, first):
        row["prev_hash"] = prev
        prev = hash_entry(prev, row)
        set_row(conn, row["id"], prev_hash=row["prev_hash"], hash=prev)


def run_verify(db, points=(), stored: bool = False):
    db.session.commit()
    with db.engine.connect() as conn:
        points = list(points) + (stored_checkpoints(conn) if stored else [])
        return verify(conn, points)


def seqs(report) -> list:
    return [f.seq for f in report.findings]


def failed_line(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("FAILED ")]
    assert lines, out
    return lines[0]


def assert_clean(db) -> int:
    """Each entry linked to the one before it on its chain and matching its hash; on SQLite
    (one chain, one writer) gapless ids from 1."""
    db.session.commit()
    with db.engine.connect() as conn:
        trail = rows(conn)
        sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        assert [r["id"] for r in trail] == list(range(1, len(trail) + 1))
    heads, keyed = {}, app_hasher()
    for row in trail:
        prev = heads.get(row["chain"], genesis(row["chain"]))
        assert row["prev_hash"] == prev, row["id"]
        assert keyed(prev, row) == row["hash"], row["id"]
        heads[row["chain"]] = row["hash"]
    return len(trail)


# --------------------------------------------------------------------------------------------
# (g) No false positive


@pytest.mark.req("P11-01", "P11-14", "DI-C3", "A11-06")
@CORE_ONLY
@BOTH
def test_clean_trail_verifies_after_commits_rollbacks_and_checkpoints(
        db, make_user, client, system_actor, cqms, tmp_path, cqms_backend):
    populate(db, make_user, client)
    for i in range(30):  # many small transactions
        study = db.session.scalar(select(Study).where(Study.code == "ST-000"))
        with audit_reason(f"edit {i}"):
            study.title = f"Study 0 rev {i}"
            db.session.commit()

    # Rolled-back work must not leave a gap in the sequence (SQLite; PostgreSQL numbers entries
    # from a sequence, whose rolled-back numbers are not reused: links alone prove the chain).
    before = head(db)
    db.session.add(Study(code="RB-1", title="rolled back"))
    db.session.flush()
    assert db.session.scalar(select(func.max(AuditEntry.id))) > before  # appended, uncommitted
    db.session.rollback()
    savepoint = db.session.begin_nested()
    db.session.add(Study(code="RB-2", title="savepoint rolled back"))
    db.session.flush()
    savepoint.rollback()
    db.session.add(Study(code="KEEP-1", title="kept"))
    db.session.commit()
    db.session.add(Study(code="KEEP-1", title="duplicate code"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    with audit_context(actor_id=None, actor_name=""):  # refused: no actor, nothing written
        db.session.add(Study(code="NOACTOR", title="anonymous"))
        with pytest.raises(AuditError, match="no actor"):
            db.session.commit()
        db.session.rollback()
    kept = db.session.scalar(select(Study).where(Study.code == "KEEP-1"))
    first_kept = db.session.scalar(select(func.min(AuditEntry.id)).where(
        AuditEntry.entity_type == "core_study", AuditEntry.entity_id == str(kept.id)))
    assert first_kept == before + 1 if cqms_backend == "sqlite" else first_kept > before

    # Checkpoints, then more entries after them.
    points = tmp_path / "checkpoints.jsonl"
    assert cqms("audit", "checkpoint", "--out", str(points))[0] == 0
    more_activity(db, "after1")
    assert cqms("audit", "checkpoint", "--out", str(points))[0] == 0
    more_activity(db, "after2")

    total = assert_clean(db)
    file_points = read_checkpoint_file(points)
    assert len(file_points) == 2 and file_points[0].seq < file_points[1].seq < total
    report = run_verify(db, file_points, stored=True)
    assert report.ok, report.findings
    assert (report.entries, report.head_seq) == (total, head(db))
    status, out = cqms("audit", "verify", "--checkpoint", str(points))
    assert status == 0, out
    assert out.strip() == f"OK {total} entries (head seq {head(db)}, 4 checkpoints)"
    status, out = cqms("audit", "verify")
    assert (status, out.strip()) == (0, f"OK {total} entries (head seq {head(db)}, 2 checkpoints)")


# --------------------------------------------------------------------------------------------
# (a) An edited value


EDITS = {
    "new_value": lambda ctx: {"new_value": "Study 1, protocol v3 (as it should have been)"},
    "actor": lambda ctx: {"actor_id": ctx["bob"].id, "actor_name": ctx["bob"].printed_name},
    "backdated": lambda ctx: {"at": datetime(2020, 1, 1, 9, 0, tzinfo=UTC)},
    "reason": lambda ctx: {"reason": "Protocol amendment 3 (approved by sponsor)"},
    "entity": lambda ctx: {"entity_id": str(ctx["studies"][0])},
}


@pytest.mark.req("P11-01", "P11-06", "E6-14", "A11-06")
@CORE_ONLY
@BOTH
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_entry_is_reported_at_its_seq(
        db, make_user, client, system_actor, cqms, edit, cqms_backend):
    ctx = populate(db, make_user, client)
    target = title_edit_seq(db, ctx["studies"][1], "Study 1, protocol v3")
    total = head(db)
    assert 1 < target < total and run_verify(db).ok
    values = EDITS[edit](ctx)
    with triggers_bypassed("core_audit_entry") as conn:
        set_row(conn, target, **values)

    report = run_verify(db)
    assert seqs(report) == [target], report.findings
    finding = report.findings[0]
    assert finding.problem == "content does not match its hash (entry edited; field title)"
    assert finding.entity == f"core_study {ctx['studies'][0 if edit == 'entity' else 1]}"
    status, out = cqms("audit", "verify")
    assert status == 1
    assert failed_line(out) == f"FAILED seq {target}: {finding.entity}: {finding.problem}"
    # Anything else is the reconciler noticing that the row disagrees with the edited entry.
    assert all(line.endswith("(changed outside the application)")
               for line in out.splitlines() if line.startswith("  also "))


# --------------------------------------------------------------------------------------------
# (b) A deleted entry


@pytest.mark.req("P11-01", "P11-06", "DI-C3", "E6-14")
@CORE_ONLY
@BOTH
@pytest.mark.parametrize("cover", ["gap", "renumbered"])
def test_a_deleted_entry_is_reported_at_its_seq(
        db, make_user, client, system_actor, cqms, cover, cqms_backend):
    ctx = populate(db, make_user, client)
    target = title_edit_seq(db, ctx["studies"][1], "Study 1, protocol v3")
    total = head(db)
    with triggers_bypassed("core_audit_entry") as conn:
        conn.execute(ENTRIES.delete().where(ENTRIES.c.id == target))
        if cover == "renumbered":  # close the gap: shift every later entry down by one
            for seq in range(target + 1, total + 1):
                set_row(conn, seq, id=seq - 1)

    report = run_verify(db)
    if cover == "gap":
        assert seqs(report) == [target + 1], report.findings
        assert report.findings[0].problem.startswith("link to the previous entry is broken")
        expected = f"FAILED seq {target + 1}: "
    else:
        # The entry now numbered `target` neither links to its predecessor nor matches its hash
        # (the sequence number is hashed); every shifted entry is reported.
        assert seqs(report)[:2] == [target, target]
        assert report.findings[0].problem.startswith("link to the previous entry is broken")
        assert report.findings[1].problem.startswith("content does not match its hash")
        assert set(seqs(report)) == set(range(target, total))
        expected = f"FAILED seq {target}: "
    assert report.entries == total - 1
    status, out = cqms("audit", "verify")
    assert status == 1
    assert failed_line(out).startswith(expected)
    assert failed_line(out).endswith(report.findings[0].problem)


@pytest.mark.req("P11-01", "DI-C3", "E6-14")
@CORE_ONLY
@BOTH
@pytest.mark.parametrize("forger", ["holds-the-key", "without-the-key"])
def test_an_entry_slipped_into_the_middle_is_reported_right_after_it(
        db, make_user, client, system_actor, cqms, cqms_backend, forger):
    """A forged entry, hashed onto its predecessor, with later entries renumbered up: the entry
    after it no longer links (nor matches, as its sequence number is hashed). Without the
    integrity key the forgery itself is found too: its hash is not keyed."""
    ctx = populate(db, make_user, client)
    after = title_edit_seq(db, ctx["studies"][1], "Study 1, protocol v3")
    total = head(db)
    hash_entry = keyed_entry_hash if forger == "holds-the-key" else entry_hash
    with triggers_bypassed("core_audit_entry") as conn:
        for seq in range(total, after, -1):
            set_row(conn, seq, id=seq + 1)
        forged = {**rows(conn, after)[0], "id": after + 1, "field": "description",
                  "old_value": "Phase 2", "new_value": "Phase 3", "action": "update"}
        forged["prev_hash"] = rows(conn, after)[0]["hash"]
        forged["hash"] = hash_entry(forged["prev_hash"], forged)
        conn.execute(ENTRIES.insert().values(**forged))

    report = run_verify(db)
    assert report.entries == total + 1
    first = after + 2 if forger == "holds-the-key" else after + 1
    assert report.findings[0].seq == first, report.findings
    if forger == "holds-the-key":
        assert report.findings[0].problem.startswith("link to the previous entry is broken")
        assert after + 1 not in seqs(report)  # the forgery itself is well formed
    else:
        assert report.findings[0].problem.startswith("hashed without the integrity key")
        assert report.findings[1].seq == after + 2
    status, out = cqms("audit", "verify")
    assert status == 1
    assert failed_line(out).startswith(f"FAILED seq {first}: ")


# --------------------------------------------------------------------------------------------
# (c) Reordered entries

PAYLOAD = ("at", "actor_id", "actor_name", "action", "entity_type", "entity_id", "entity_version",
           "field", "old_value", "new_value", "reason", "request_id", "ip", "client")


@pytest.mark.req("P11-01", "DI-C3", "E6-14")
@CORE_ONLY
@BOTH
@pytest.mark.parametrize("how", ["swap-ids", "swap-rows", "swap-payload"])
def test_reordered_entries_are_reported_at_the_first_moved_seq(
        db, make_user, client, system_actor, cqms, how, cqms_backend):
    ctx = populate(db, make_user, client)
    first = title_edit_seq(db, ctx["studies"][1], "Study 1, protocol v2")
    second = first + 1 if how == "swap-ids" else title_edit_seq(
        db, ctx["studies"][1], "Study 1, protocol v4")
    assert first < second < head(db)
    with triggers_bypassed("core_audit_entry") as conn:
        a, b = rows(conn, first)[0], rows(conn, second)[0]
        if how == "swap-ids":  # ORDER BY id now yields them the other way round
            set_row(conn, first, id=-1)
            set_row(conn, second, id=first)
            set_row(conn, -1, id=second)
        else:
            columns = PAYLOAD + (("prev_hash", "hash") if how == "swap-rows" else ())
            set_row(conn, second, hash="0" * 63 + "x")  # unique until both are swapped
            set_row(conn, first, **{c: b[c] for c in columns})
            set_row(conn, second, **{c: a[c] for c in columns})
            if how == "swap-payload":
                set_row(conn, second, hash=b["hash"])

    report = run_verify(db)
    assert report.findings and report.findings[0].seq == first, report.findings
    assert second in seqs(report)
    problems = {f.problem for f in report.findings if f.seq == first}
    if how == "swap-payload":  # chain columns left in place: only the contents mismatch
        assert problems == {"content does not match its hash (entry edited; field title)"}
    else:
        assert any(p.startswith("link to the previous entry is broken (an entry was deleted, "
                                "reordered or replaced)") for p in problems)
    status, out = cqms("audit", "verify")
    assert status == 1
    assert failed_line(out).startswith(f"FAILED seq {first}: core_study {ctx['studies'][1]}: ")


# --------------------------------------------------------------------------------------------
# (d) Truncated tail


@pytest.mark.req("P11-01", "P11-14", "A11-06", "E6-14")
@CORE_ONLY
@BOTH
@pytest.mark.parametrize("stored", ["stored-checkpoints-wiped", "stored-checkpoints-kept"])
def test_a_truncated_tail_is_found_only_against_an_earlier_checkpoint(
        db, make_user, client, system_actor, cqms, tmp_path, stored, cqms_backend):
    populate(db, make_user, client)
    points = tmp_path / "checkpoints.jsonl"
    assert cqms("audit", "checkpoint", "--out", str(points))[0] == 0
    signed = read_checkpoint_file(points)[0].seq
    more_activity(db, "tail")
    cut = signed - 3
    with triggers_bypassed("core_audit_entry") as conn:
        conn.execute(ENTRIES.delete().where(ENTRIES.c.id > cut))
        if stored == "stored-checkpoints-wiped":
            conn.execute(AuditCheckpoint.__table__.delete())

    # The chain alone cannot tell: what is left is a valid, shorter chain.
    assert run_verify(db).ok
    assert assert_clean(db) == cut
    report = run_verify(db, read_checkpoint_file(points))
    assert seqs(report) == [None]
    assert report.findings[0].problem.startswith(
        f"the trail ends at seq {cut} but checkpoints.jsonl line 1 signed ")
    assert report.findings[0].problem.endswith(f" records seq {signed} (truncated)")

    status, out = cqms("audit", "verify", "--checkpoint", str(points))
    assert status == 1
    assert failed_line(out).startswith(f"FAILED trail: the trail ends at seq {cut} but ")
    assert f"records seq {signed} (truncated)" in failed_line(out)
    status, out = cqms("audit", "verify")
    if stored == "stored-checkpoints-wiped":
        # No checkpoint left: the chain cannot tell, but the rows the deleted entries described
        # no longer agree with the trail.
        assert status == 1
        assert failed_line(out).endswith("(changed outside the application)"), out
    else:
        assert status == 1
        assert failed_line(out).startswith(f"FAILED trail: the trail ends at seq {cut} but "
                                           "stored checkpoint #1 signed ")

    # The application keeps writing past the signed seq: now the entry there differs.
    more_activity(db, "regrow", count=2)
    assert head(db) > signed
    report = run_verify(db, read_checkpoint_file(points))
    assert seqs(report) == [signed]
    # SQLite numbers the new entry `signed` again; PostgreSQL's sequence never reuses it.
    assert ("(chain rewritten and re-hashed)" if cqms_backend == "sqlite" else
            "(deleted, or the chain was cut and grew again)") in report.findings[0].problem
    status, out = cqms("audit", "verify", "--checkpoint", str(points))
    assert status == 1 and failed_line(out).startswith(f"FAILED seq {signed}: ")


# --------------------------------------------------------------------------------------------
# (e) Edited and re-hashed


@pytest.mark.req("P11-01", "P11-14", "A11-06", "E6-14")
@CORE_ONLY
@BOTH
def test_a_rehashed_chain_is_found_at_the_first_later_checkpoint(
        db, make_user, client, system_actor, cqms, tmp_path, cqms_backend):
    ctx = populate(db, make_user, client)
    points = tmp_path / "checkpoints.jsonl"
    target = title_edit_seq(db, ctx["studies"][1], "Study 1, protocol v3")
    assert cqms("audit", "checkpoint", "--out", str(points))[0] == 0  # after target
    more_activity(db, "a")
    assert cqms("audit", "checkpoint", "--out", str(points))[0] == 0
    more_activity(db, "b")
    early, later = (p.seq for p in read_checkpoint_file(points))
    assert target < early < later

    # A checkpoint signed before the target stays valid: prepend one at target - 1.
    unsigned = Checkpoint(target - 1, conn_hash(db, target - 1), "2026-01-01T00:00:00.000000Z",
                          "", "")
    signed = Checkpoint(unsigned.seq, unsigned.hash, unsigned.at,
                        mac(CHECKPOINT_PURPOSE, unsigned.message()), "")
    points.write_text(checkpoint_line(signed) + "\n" + points.read_text())

    with triggers_bypassed("core_audit_entry") as conn:
        set_row(conn, target, new_value="Study 1, protocol v3 (approved)")
        rehash_from(conn, target)
        conn.execute(AuditCheckpoint.__table__.delete())

    assert assert_clean(db) == head(db)  # self-consistent: the chain alone cannot tell
    assert run_verify(db).ok
    report = run_verify(db, read_checkpoint_file(points))
    assert seqs(report) == [early, later], report.findings
    assert report.findings[0].problem.startswith("hash differs from checkpoints.jsonl line 2 ")
    assert report.findings[0].problem.endswith("(chain rewritten and re-hashed)")
    status, out = cqms("audit", "verify", "--checkpoint", str(points))
    assert status == 1
    assert failed_line(out).startswith(f"FAILED seq {early}: ")
    assert f"  also seq {later}: " in out
    assert cqms("audit", "verify")[0] == 0  # without the external checkpoint file


# --------------------------------------------------------------------------------------------
# (f) Forged checkpoints


def forge_line(path: Path, number: int, **changes) -> None:
    lines = path.read_text().splitlines()
    data = json.loads(lines[number - 1])
    data.update(changes)
    lines[number - 1] = json.dumps(data, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.req("P11-01", "P11-14", "A11-06")
@CORE_ONLY
@pytest.mark.parametrize("forgery", ["mac", "hash-after-rehash", "seq-after-truncation",
                                     "other-key"])
def test_a_forged_checkpoint_file_line_is_reported(
        db, make_user, client, system_actor, cqms, tmp_path, forgery):
    check_forgery(db, make_user, client, cqms, tmp_path, forgery)


@pytest.mark.req("P11-01", "P11-14", "A11-06")
@CORE_ONLY
@BOTH
def test_a_forged_stored_checkpoint_is_reported(
        db, make_user, client, system_actor, cqms, tmp_path, cqms_backend):
    check_forgery(db, make_user, client, cqms, tmp_path, "stored-row")


def check_forgery(db, make_user, client, cqms, tmp_path, forgery: str) -> None:
    """Two signed checkpoints (file and database); one is forged; only the MAC finding shows."""
    ctx = populate(db, make_user, client)
    points = tmp_path / "checkpoints.jsonl"
    assert cqms("audit", "checkpoint", "--out", str(points))[0] == 0
    more_activity(db, "x")
    assert cqms("audit", "checkpoint", "--out", str(points))[0] == 0
    signed = read_checkpoint_file(points)[1]
    sources = ["checkpoints.jsonl line 2"]

    if forgery == "mac":
        flipped = format(int(signed.mac[0], 16) ^ 1, "x") + signed.mac[1:]
        forge_line(points, 2, mac=flipped)
    elif forgery == "hash-after-rehash":
        # Rewrite history, then make the file agree with the rewritten head.
        target = title_edit_seq(db, ctx["studies"][1], "Study 1, protocol v3")
        with triggers_bypassed("core_audit_entry") as conn:
            set_row(conn, target, new_value="rewritten")
            rehash_from(conn, target)
            conn.execute(AuditCheckpoint.__table__.delete())
            new_hash = conn.scalar(select(ENTRIES.c.hash).where(ENTRIES.c.id == signed.seq))
        forge_line(points, 2, hash=new_hash)
        # Line 1 was signed after the edited entry too: it has to be forged as well.
        forge_line(points, 1, hash=conn_hash(db, read_checkpoint_file(points)[0].seq))
        sources = ["checkpoints.jsonl line 1", "checkpoints.jsonl line 2"]
    elif forgery == "seq-after-truncation":
        with triggers_bypassed("core_audit_entry") as conn:
            conn.execute(ENTRIES.delete().where(ENTRIES.c.id > signed.seq - 2))
            conn.execute(AuditCheckpoint.__table__.delete())
            new_head = conn.scalar(select(ENTRIES.c.hash).where(ENTRIES.c.id == signed.seq - 2))
        forge_line(points, 2, seq=signed.seq - 2, hash=new_head)
    elif forgery == "other-key":
        other = Checkpoint(signed.seq, signed.hash, signed.at, "", "")
        forge_line(points, 2, mac=hmac.new(os.urandom(32), CHECKPOINT_PURPOSE.encode() + b"\x00"
                                           + other.message(), hashlib.sha256).hexdigest())
    else:  # the copy kept in the database
        db.session.commit()
        with db.engine.begin() as conn:
            conn.execute(AuditCheckpoint.__table__.update().where(
                AuditCheckpoint.id == 2).values(hash=conn_hash(db, signed.seq - 1, conn),
                                                 seq=signed.seq - 1))
        sources = ["stored checkpoint #2"]

    file_points = read_checkpoint_file(points)
    report = run_verify(db, file_points, stored=True)
    forged = [f for f in report.findings if "MAC is invalid" in f.problem]
    assert [(f.seq, f.entity) for f in forged] == [(None, s) for s in sources], report.findings
    assert forged == report.findings  # a forged checkpoint is ignored, not trusted
    assert {f.problem for f in forged} == {
        "checkpoint MAC is invalid (forged, or signed with another key)"}
    status, out = cqms("audit", "verify", "--checkpoint", str(points))
    assert status == 1
    assert failed_line(out) == (f"FAILED trail: {sources[0]}: checkpoint MAC is invalid "
                                "(forged, or signed with another key)")


def conn_hash(db, seq: int, conn=None) -> str:
    if conn is not None:
        return conn.scalar(select(ENTRIES.c.hash).where(ENTRIES.c.id == seq))
    db.session.commit()
    with db.engine.connect() as c:
        return c.scalar(select(ENTRIES.c.hash).where(ENTRIES.c.id == seq))


@pytest.mark.req("A11-06")
@CORE_ONLY
def test_verification_on_sqlite_does_not_hold_the_write_lock(
        app, db, make_user, client, system_actor, cqms, monkeypatch):
    """The scheduled integrity job reads the whole trail: writers must not wait for it (they
    give up after SQLite's busy timeout)."""
    import core.audit.verify as audit_verify

    populate(db, make_user, client)
    path = db.engine.url.database
    real, probes = audit_verify.verify, []

    def verify_then_probe(connection, *args, **kwargs):
        report = real(connection, *args, **kwargs)
        writer = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("ROLLBACK")
            probes.append("writer got the lock")
        except sqlite3.OperationalError as exc:
            probes.append(str(exc))
        finally:
            writer.close()
        return report

    monkeypatch.setattr(audit_verify, "verify", verify_then_probe)
    status, out = cqms("audit", "verify")
    assert status == 0, out
    assert probes == ["writer got the lock"]


@pytest.mark.req("P11-14")
def test_first_users_of_a_new_integrity_key_all_get_the_same_key(app_factory, tmp_path):
    """Two processes starting at once (web workers, a CLI run) must never sign with different
    keys: the loser's checkpoints and signatures would read as forged forever after."""

    apps = [app_factory(plugins=[], schema=False) for _ in range(4)]
    for trial in range(8):
        path = tmp_path / f"trial{trial}" / "integrity.key"
        barrier, keys = threading.Barrier(len(apps)), {}

        def first_use(n: int, path=path, barrier=barrier, keys=keys) -> None:
            apps[n].config["INTEGRITY_KEY_FILE"] = str(path)
            with apps[n].app_context():
                barrier.wait(timeout=10)
                try:
                    keys[n] = integrity_key()
                except Exception as exc:  # noqa: BLE001 - e.g. a half-written key file
                    keys[n] = repr(exc)

        threads = [threading.Thread(target=first_use, args=(n,)) for n in range(len(apps))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert set(keys.values()) == {path.read_bytes()}, (trial, keys)
        assert len(path.read_bytes()) == 32 and path.stat().st_mode & 0o777 == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["integrity.key"]


# --------------------------------------------------------------------------------------------
# Concurrent appends from separate processes


WORKERS = {"sqlite": 4, "postgresql": 6}
WRITES = 15


def _append_worker(url: str, instance: str, key_file: str, worker: int, writes: int, barrier,
                   results) -> None:
    """One process of the concurrency test: its own app (the deployment's integrity key),
    many small audited transactions."""
    try:
        from core.app import create_app
        from core.db import db
        from core.users.service import system_context

        app = create_app({"ENV": "testing", "DATABASE_URL": url, "INSTANCE_PATH": instance,
                          "INTEGRITY_KEY_FILE": key_file, "PLUGINS": []}, environ={})
        with app.app_context():
            ctx = system_context(f"worker-{worker}")
            db.session.commit()  # end the read (on SQLite it holds the write lock)
            barrier.wait(timeout=60)
            start = time.time()
            with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name,
                               client=ctx.client, reason="concurrency test"):
                for i in range(writes):
                    study = Study(code=f"W{worker}-{i}", title=f"worker {worker} study {i}")
                    db.session.add(study)
                    db.session.commit()
                    if i % 2 == 0:
                        study.title = f"worker {worker} study {i} (edited)"
                        db.session.commit()
                    if i % 5 == 0:  # appended, then rolled back: must leave no gap
                        db.session.add(Study(code=f"RB{worker}-{i}", title="rolled back"))
                        db.session.flush()
                        db.session.rollback()
            db.session.remove()
            db.engine.dispose()
        results.put((worker, "ok", start, time.time()))
    except BaseException:  # noqa: BLE001 - report anything to the parent
        results.put((worker, traceback.format_exc(), 0.0, 0.0))
    # Deliver the result, then skip interpreter teardown (seconds on a busy machine).
    results.close()
    results.join_thread()
    os._exit(0)


@pytest.mark.req("DI-C3", "P11-14", "P11-01")
@CORE_ONLY
@BOTH
def test_concurrent_processes_append_a_gapless_unforked_chain(
        app, db, system_actor, tmp_path, cqms_backend):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    start, workers = head(db), WORKERS[cqms_backend]
    integrity_key()  # made now: every worker keys its entries with the deployment's key
    key_file = str(key_path())
    mp = multiprocessing.get_context("spawn")
    barrier, results = mp.Barrier(workers), mp.Queue()
    procs = [mp.Process(target=_append_worker, daemon=True,
                        args=(url, str(tmp_path / f"worker{n}"), key_file, n, WRITES, barrier,
                              results))
             for n in range(workers)]
    for proc in procs:
        proc.start()
    # Checkpoints signed while the writers run must all hold afterwards.
    points = []
    deadline = time.monotonic() + 90
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        points.extend(make_checkpoints(db.session.connection()))
        db.session.commit()
        time.sleep(0.05)
    reports = [results.get(timeout=30) for _ in procs]
    outcomes = {worker: outcome for worker, outcome, _, _ in reports}
    for proc in procs:
        proc.join(timeout=30)
    assert outcomes == {n: "ok" for n in range(workers)}, outcomes

    # 4 rows per new study (code, title, active, created_at), 1 per title edit
    per_worker = WRITES * 4 + (WRITES + 1) // 2
    total = assert_clean(db)
    assert total == start + workers * per_worker
    counts = db.session.execute(select(
        func.count(), func.count(func.distinct(AuditEntry.hash)),
        func.count(func.distinct(AuditEntry.prev_hash)))).one()
    assert tuple(counts) == (total, total, total)  # no duplicate hash, no fork
    chains = db.session.scalar(select(func.count(func.distinct(AuditEntry.chain))))
    if cqms_backend == "postgresql":  # the writers did not queue on one chain
        assert chains > 1, chains
    else:
        assert chains == 1
    for n in range(workers):
        assert db.session.scalar(select(func.count()).where(
            AuditEntry.client == f"worker-{n}")) == per_worker
    assert db.session.scalar(select(func.count()).select_from(Study).where(
        Study.code.like("RB%"))) == 0
    # The writers really competed (otherwise the test proves little): all were writing at the
    # same moment and, on PostgreSQL (advisory lock waiters are served in turn), their entries
    # interleave. SQLite's lock is not fair (waiters sleep and poll): one writer may run many
    # transactions in a row, so interleaving is not required there.
    assert max(r[2] for r in reports) < min(r[3] for r in reports)
    order = db.session.scalars(select(AuditEntry.client).where(
        AuditEntry.id > start).order_by(AuditEntry.id)).all()
    switches = sum(1 for x, y in zip(order, order[1:], strict=False) if x != y)
    assert switches >= (workers if cqms_backend == "postgresql" else workers - 1), switches
    assert len(points) >= 2
    report = run_verify(db, points, stored=True)
    assert report.ok, report.findings
    assert report.entries == total


@pytest.mark.req("P11-14")
def test_checkpoint_lines_are_parsed_and_bad_lines_named(tmp_path):
    good = Checkpoint(3, "a" * 64, "2026-01-01T00:00:00.000000Z", "b" * 64, "")
    path = tmp_path / "points.jsonl"
    path.write_text(checkpoint_line(good) + "\n\n" + '{"v":1,"seq":"x"}\n')
    with pytest.raises(ValueError, match=re.escape(f"{path}: line 3 is not a checkpoint")):
        read_checkpoint_file(path)
    path.write_text(checkpoint_line(good) + "\n")
    (point,) = read_checkpoint_file(path)
    assert (point.seq, point.hash, point.mac, point.source) == (3, "a" * 64, "b" * 64,
                                                                 "points.jsonl line 1")


@pytest.mark.req("A11-06")
@CORE_ONLY
def test_verify_refuses_an_unreadable_checkpoint_file(db, cqms, tmp_path):
    bad = tmp_path / "points.jsonl"
    bad.write_text("not json\n")
    status, out = cqms("audit", "verify", "--checkpoint", str(bad))
    assert status == 2 and "line 1 is not a checkpoint" in out and "Traceback" not in out
    status, out = cqms("audit", "verify", "--checkpoint", str(tmp_path / "missing.jsonl"))
    assert status == 2 and "does not exist" in out
