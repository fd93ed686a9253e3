"""Gapless human numbers (``CAPA-2026-0001``) from a counter row, never a sequence.

SQLite (one writer at a time): the counter is incremented with an atomic upsert inside the
creating transaction, so a rolled back creation gives its number back.

PostgreSQL: holding the counter's row lock until the creation commits would make every creation
of a type wait for the one before it. Instead the number is *claimed* in a statement of its own,
committed at once (the counter's lock is held for that statement only), and the creating
transaction deletes its claim. A committed record therefore leaves no claim; a claim that is
still there belongs to a creation in flight (its row is locked by the deletion) or to one that
never committed. A creation rolled back (or closed, or undone with its savepoint) hands its
claim back at once; one whose process died leaves it for ``CLAIM_LEASE_SECONDS``. The next
creation of the type takes the lowest claim left behind before drawing a new number, so numbers
stay gapless (one taken late comes after higher ones). docs/decisions.md ("Record numbers are
claimed, not locked until the commit") has the reasoning.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import bindparam, delete, event, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from core.db import db, utcnow
from core.db.after_commit import innermost_transaction, undone_by
from core.records.models import Counter, NumberClaim
from core.specs import RecordType

log = logging.getLogger(__name__)
CLAIM_LEASE_SECONDS = 60
CLAIMS = "cqms_number_claims"  # session.info: the claims this transaction holds

# One statement, its own transaction: reuse the lowest claim nobody holds and older than the
# lease, else bump the counter and claim its new value. The claim's commit need not wait for the
# disk: the creation's own (synchronous) commit flushes the log past it, and a claim lost in a
# crash only gives back a number nothing committed under.
_CLAIM = text("""
WITH quick AS (SELECT set_config('synchronous_commit', 'off', true)),
reused AS (
  UPDATE core_number_claim SET claimed_at = now()
  WHERE (record_type, period, value) IN (
    SELECT record_type, period, value FROM core_number_claim
    WHERE record_type = :type AND period = :period
      AND claimed_at < now() - make_interval(secs => :lease)
    ORDER BY value LIMIT 1 FOR UPDATE SKIP LOCKED)
  RETURNING value),
bumped AS (
  INSERT INTO core_counter (record_type, period, value)
  SELECT :type, :period, 1 WHERE NOT EXISTS (SELECT 1 FROM reused)
  ON CONFLICT (record_type, period) DO UPDATE SET value = core_counter.value + 1
  RETURNING value),
fresh AS (
  INSERT INTO core_number_claim (record_type, period, value, claimed_at)
  SELECT :type, :period, value, now() FROM bumped
  RETURNING value)
SELECT value FROM reused, quick UNION ALL SELECT value FROM fresh, quick
""")
# A claim handed back: older than any lease, so the next creation takes it.
_RELEASE = text("UPDATE core_number_claim SET claimed_at = TIMESTAMPTZ '2000-01-01 00:00:00Z' "
                "WHERE record_type = :type AND period = :period AND value = :value")


def _engine(session: Any = None) -> Engine:
    bind = (session or db.session).get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


_CLAIMS = NumberClaim.__table__
_DELETE_CLAIM = delete(_CLAIMS).where(
    _CLAIMS.c.record_type == bindparam("type"), _CLAIMS.c.period == bindparam("period"),
    _CLAIMS.c.value == bindparam("value"))


def _claim(type_key: str, period: str) -> int:
    """A number of the type's counter, claimed in a transaction of its own; the current
    transaction deletes the claim (and holds its row until it ends)."""
    with _engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        value = int(conn.execute(_CLAIM, {"type": type_key, "period": period,
                                          "lease": CLAIM_LEASE_SECONDS}).scalar_one())
    db.session.execute(_DELETE_CLAIM, {"type": type_key, "period": period, "value": value})
    made_in = innermost_transaction(db.session())
    db.session.info.setdefault(CLAIMS, []).append((type_key, period, value, made_in))
    return value


# The counter incremented inside the current transaction (SQLite), built once.
_BUMP = (sqlite.insert(Counter)
         .values(record_type=bindparam("type"), period=bindparam("period"), value=1)
         .on_conflict_do_update(index_elements=["record_type", "period"],
                                set_={"value": Counter.value + 1})
         .returning(Counter.value))


def next_number(record_type: RecordType) -> str:
    period = str(utcnow().year) if record_type.number_per_year else ""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        value = _claim(record_type.key, period)
    else:
        value = int(db.session.execute(_BUMP, {"type": record_type.key,
                                               "period": period}).scalar_one())
    parts = [record_type.number_prefix, period, f"{value:0{record_type.number_digits}d}"]
    return "-".join(p for p in parts if p)


def _forget_claims(session: Session) -> None:
    """After the commit: the committed records' claims are gone with their deletion. (A
    savepoint's release is no commit: its claims stay with the transaction.)"""
    if not session.in_nested_transaction():
        session.info.pop(CLAIMS, None)


def _hand_back_savepoint_claims(session: Session, previous_transaction: Any) -> None:
    """After a savepoint's rollback: the claims made inside it (its deletion of them undone,
    their rows no longer held) are free for the next creation now; the others stay with the
    transaction."""
    claims = session.info.get(CLAIMS)
    if not claims or not previous_transaction.nested:
        return
    undone, kept = [], []
    for claim in claims:
        (undone if undone_by(claim[3], previous_transaction) else kept).append(claim)
    session.info[CLAIMS] = kept
    _hand_back(session, undone)


def _hand_back_uncommitted_claims(session: Session, transaction: Any) -> None:
    """The transaction ended without a commit (rolled back, or closed): its claims are free
    for the next creation now, not only after the lease."""
    if transaction.parent is None:
        _hand_back(session, session.info.pop(CLAIMS, []))


def _hand_back(session: Session, claims: list[tuple[str, str, int, Any]]) -> None:
    if not claims:
        return
    try:
        with _engine(session).connect().execution_options(
                isolation_level="AUTOCOMMIT") as conn:
            conn.execute(_RELEASE, [{"type": t, "period": p, "value": v}
                                    for t, p, v, _made_in in claims])
    except Exception:  # noqa: BLE001 - the lease frees them later
        log.warning("number claims %s not handed back; free after %s s",
                    [claim[:3] for claim in claims], CLAIM_LEASE_SECONDS, exc_info=True)


def install() -> None:
    from flask_sqlalchemy.session import Session as FlaskSession

    listeners: tuple[tuple[str, Any], ...] = (
        ("after_commit", _forget_claims),
        ("after_soft_rollback", _hand_back_savepoint_claims),
        ("after_transaction_end", _hand_back_uncommitted_claims))
    for name, fn in listeners:
        if not event.contains(FlaskSession, name, fn):
            event.listen(FlaskSession, name, fn)


install()
