"""The verifier's fast path hashes exactly the bytes the chain was written over.

``cqms audit verify`` reads the trail as tuples (``core.audit.entry_stream``) and builds each
entry's canonical JSON without the ORM's types. Stored hashes are fixed, so for every entry the
fast text must be byte for byte ``core.audit.chain.canonical`` of the entry read through the
ORM, or None (the verifier then takes the ORM path). Checked over thousands of varied entries
(unicode, control characters, None in every nullable column, JSON in values, timestamps at the
edges) on both backends, and over timestamps stored on SQLite in forms SQLAlchemy does not write.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, text

from core.audit.chain import (
    CHAINED_FIELDS,
    GENESIS,
    EntryHasher,
    app_hasher,
    canonical,
    entry_hash,
    entry_hash_of_text,
)
from core.audit.entry_stream import HASH, PREV_HASH, canonical_text_function, stream_entries
from core.audit.models import AuditEntry
from core.audit.verify import PROGRESS_EVERY, verify
from core.testing import triggers_bypassed

BOTH = pytest.mark.backends("sqlite", "postgresql")
CORE_ONLY = pytest.mark.plugins()
ENTRIES = AuditEntry.__table__
VARIED = 3000

AWKWARD_TEXT = [
    "", " ", "Zürich — Łukasiewicz", "日本語のテキスト", "emoji 🧪🔬", "quote \" and \\ backslash",
    "tab\tnewline\ncarriage\rreturn", "\x01\x1f control", "\u2028\u2029 separators", "\x7f del",
    "</script><script>", "=HYPERLINK(\"x\")", "a" * 5000, "ℌ𝔢𝔩𝔩𝔬", "e\u0301 combining",
    json.dumps({"id": 7, "meaning": "approved", "comment": "ok — ✓", "nested": [1, None, {"a": "b"}]}),
    json.dumps({"id": 9, "unicode": "Ü"}, ensure_ascii=False), "null", "[]", "{}", "0", "-1.5e10",
]
AWKWARD_TIMES = [
    datetime(2026, 12, 5, 11, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 5, 11, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 2, 29, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-11))),
    datetime(1000, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(999, 5, 6, 7, 8, 9, 10, tzinfo=UTC),  # strftime leaves years below 1000 unpadded
    datetime(1, 1, 2, tzinfo=UTC),
]


def varied_entry(rng: random.Random, seq: int, actor_id: int | None) -> dict:
    """One entry with values drawn from the awkward lists, random text and None."""
    def text_or(default: str) -> str:
        return rng.choice(AWKWARD_TEXT) if rng.random() < 0.5 else default

    def nullable_text() -> str | None:
        return None if rng.random() < 0.25 else text_or(f"value {rng.randrange(10**9)}")

    at = (rng.choice(AWKWARD_TIMES) if rng.random() < 0.3 else
          datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10**14)))
    return {
        "id": seq, "at": at, "actor_id": actor_id if rng.random() < 0.7 else None,
        "actor_name": text_or("Sys Admin (admin)")[:300], "action": text_or("update")[:64],
        "entity_type": text_or("core_study")[:64], "entity_id": text_or(str(seq))[:64],
        "entity_version": None if rng.random() < 0.3 else rng.randrange(-5, 2**31 - 1),
        "field": text_or("title")[:64], "old_value": nullable_text(), "new_value": nullable_text(),
        "reason": text_or(""), "request_id": text_or(f"{rng.getrandbits(64):016x}")[:64],
        "ip": text_or("10.0.0.1")[:64], "client": text_or("Mozilla/5.0")[:255],
        "prev_hash": GENESIS, "hash": f"{seq:064x}",
    }


def typed_entries(conn) -> dict[int, dict]:
    """The reference: every entry read through the ORM's types, as verify used to read them."""
    return {row["id"]: dict(row) for row in conn.execute(select(ENTRIES)).mappings()}


def fast_texts(conn) -> dict[int, str | None]:
    canonical_text = canonical_text_function(conn.dialect.name)
    return {row[0]: canonical_text(row) for row in stream_entries(conn)}


def append_varied(db, count: int) -> None:
    rng = random.Random(20261205)
    start = db.session.scalar(select(ENTRIES.c.id).order_by(ENTRIES.c.id.desc()).limit(1)) or 0
    actor_id = db.session.scalar(text("SELECT min(id) FROM core_user"))
    rows = [varied_entry(rng, start + n, actor_id) for n in range(1, count + 1)]
    db.session.execute(insert(AuditEntry), rows)
    db.session.commit()


@pytest.mark.req("P11-01")
@CORE_ONLY
@BOTH
def test_fast_canonical_text_is_the_canonical_bytes_of_every_varied_entry(db, cqms_backend):
    append_varied(db, VARIED)
    with db.engine.connect() as conn:
        reference, fast = typed_entries(conn), fast_texts(conn)
    assert fast.keys() == reference.keys() and len(fast) > VARIED
    declined = {seq for seq, entry in reference.items() if fast[seq] is None}
    for seq, entry in reference.items():
        assert seq in declined or fast[seq].encode() == canonical(entry), seq
    # Only SQLite's years below 1000 are left to the ORM path.
    assert declined == ({seq for seq, entry in reference.items() if entry["at"].year < 1000}
                        if cqms_backend == "sqlite" else set())


@pytest.mark.req("P11-01")
@CORE_ONLY
@BOTH
def test_text_hashes_are_the_entry_hashes(db, cqms_backend):
    append_varied(db, 300)
    key = hashlib.sha256(b"another key").digest()
    hashers = [app_hasher(), EntryHasher(key), EntryHasher(b"k" * 100)]  # long keys are hashed
    with db.engine.connect() as conn:
        reference, fast = typed_entries(conn), fast_texts(conn)
    for seq, entry in reference.items():
        if fast[seq] is None:  # left to the ORM path (see above)
            continue
        prev = entry["hash"]  # any 64-character text
        for hasher in hashers:
            assert hasher.of_text(prev, fast[seq]) == hasher(prev, entry)
        assert entry_hash_of_text(prev, fast[seq]) == entry_hash(prev, entry)
    message = b"audit-entry\x00" + GENESIS.encode() + b"\x00" + fast[1].encode()
    assert EntryHasher(key).of_text(GENESIS, fast[1]) == hmac.new(key, message,
                                                                  hashlib.sha256).hexdigest()


# On SQLite a timestamp is text: someone editing the table can store forms SQLAlchemy never
# writes (and reads, with datetime.fromisoformat). The fast path must decline them.
SQLITE_FORMS = [
    "2026-12-05 11:00:00",  # no microseconds: read as .000000
    "2026-12-05T11:00:00.000000",
    "2026-12-05 11:00:00.000000Z",
    "2026-12-05 11:00:00.000+01",
    "2026-12-05 11:00:00.000000+05:30",
    "0999-12-05 11:00:00.000000",  # strftime does not pad years below 1000
    "２０２６-12-05 11:00:00.000000",  # full-width digits
]


@pytest.mark.req("P11-01")
@CORE_ONLY
@pytest.mark.parametrize("stored", SQLITE_FORMS)
def test_sqlite_timestamps_in_other_forms_are_left_to_the_orm_path(db, stored):
    first = db.session.scalar(select(ENTRIES.c.id).order_by(ENTRIES.c.id).limit(1))
    with triggers_bypassed("core_audit_entry") as conn:
        conn.execute(text("UPDATE core_audit_entry SET at = :at WHERE id = :id"),
                     {"at": stored, "id": first})
    with db.engine.connect() as conn:
        assert fast_texts(conn)[first] is None


@pytest.mark.req("P11-01")
@CORE_ONLY
def test_an_unreadable_sqlite_timestamp_fails_verify_as_the_orm_read_does(db):
    """SQLAlchemy's form but no such date: the fast text matches no hash, the ORM path reads
    the entry and fails as verify always has (a timestamp nothing can read)."""
    first = db.session.scalar(select(ENTRIES.c.id).order_by(ENTRIES.c.id).limit(1))
    with triggers_bypassed("core_audit_entry") as conn:
        conn.execute(text("UPDATE core_audit_entry SET at = :at WHERE id = :id"),
                     {"at": "2026-13-05 11:00:00.000000", "id": first})
    with db.engine.connect() as conn:
        assert "2026-13-05T11:00:00.000000Z" in fast_texts(conn)[first]
        with pytest.raises(ValueError, match="month"):
            typed_entries(conn)
        with pytest.raises(ValueError, match="month"):
            verify(conn)


@pytest.mark.req("P11-01", "A11-06")
@CORE_ONLY
@BOTH
@pytest.mark.parametrize("stored", ["same-instant", "another-instant"])
def test_verify_judges_a_rewritten_timestamp_by_its_value(db, cqms_backend, stored):
    """The ORM path decides when the fast path declines: the same instant written another way
    still verifies (SQLite), another instant is an edited entry on both backends."""
    first = db.session.scalar(select(ENTRIES.c.id).order_by(ENTRIES.c.id).limit(1))
    at = db.session.scalar(select(AuditEntry.at).where(AuditEntry.id == first))
    value = at if stored == "same-instant" else at + timedelta(seconds=1)
    with triggers_bypassed("core_audit_entry") as conn:
        if cqms_backend == "sqlite":  # ISO form with a "T": not SQLAlchemy's, same instant
            conn.execute(text("UPDATE core_audit_entry SET at = :at WHERE id = :id"),
                         {"at": value.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"), "id": first})
        else:
            conn.execute(ENTRIES.update().where(ENTRIES.c.id == first).values(at=value))
    with db.engine.connect() as conn:
        assert (fast_texts(conn)[first] is None) == (cqms_backend == "sqlite")
        report = verify(conn)
    if stored == "same-instant":
        assert report.ok, report.findings
    else:
        assert [f.seq for f in report.findings] == [first]
        assert report.findings[0].problem.startswith(
            "content does not match its hash (entry edited; field ")


@pytest.mark.req("A11-06")
@CORE_ONLY
def test_verify_reports_progress_every_so_many_entries(db, monkeypatch):
    import core.audit.verify as audit_verify

    monkeypatch.setattr(audit_verify, "PROGRESS_EVERY", 7)
    seen: list[int] = []
    with db.engine.connect() as conn:
        report = verify(conn, progress=seen.append)
    assert report.ok and report.entries >= 14
    assert seen == list(range(7, report.entries + 1, 7))
    assert PROGRESS_EVERY >= 10_000  # the real interval: a line per many entries, not per entry


@pytest.mark.req("A11-06")
@CORE_ONLY
def test_cqms_audit_verify_shows_progress_on_stderr_only(db, run_cqms, monkeypatch):
    import core.audit.verify as audit_verify

    status, quiet_out, quiet_err = run_cqms("audit", "verify")
    assert status == 0 and quiet_out.startswith("OK ") and quiet_err == ""
    monkeypatch.setattr(audit_verify, "PROGRESS_EVERY", 5)
    status, out, err = run_cqms("audit", "verify")
    entries = int(out.split()[1])
    assert (status, out) == (0, quiet_out)
    assert err.splitlines() == [f"verified {n} entries..." for n in range(5, entries + 1, 5)]


def test_stream_columns_are_the_chained_fields_then_the_hashes():
    assert (PREV_HASH, HASH) == (len(CHAINED_FIELDS), len(CHAINED_FIELDS) + 1)


@pytest.mark.req("A11-06")
@CORE_ONLY
@BOTH
def test_the_reconciler_reads_the_trail_through_an_index(db, cqms_backend):
    """The replayed entries come by the action index or in primary-key order, never by a
    full scan of the table followed by a sort."""
    from core.audit.reconcile import ROW_ACTIONS, STATE_EVENT, trail_query

    append_varied(db, VARIED)
    query = trail_query((*ROW_ACTIONS, "signature.applied", "signature.invalidated", STATE_EVENT))
    with db.engine.connect() as conn:
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if cqms_backend == "sqlite":
            plan = [row[3] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
            assert plan[0].startswith("SEARCH core_audit_entry USING INDEX"), plan
        else:
            conn.execute(text("ANALYZE core_audit_entry"))
            plan = [row[0] for row in conn.execute(text(f"EXPLAIN {sql}"))]
            assert "Seq Scan" not in "\n".join(plan) and "Index" in plan[0], plan
