"""Every class of tampering below the application, applied to real data, is found by verify.

The demo data (documents with signed versions and attachments, training curricula and
assignments, accounts and role grants) is loaded once per backend; each tamper is then applied
in SQL inside a transaction on one connection (append-only triggers off there, as a rogue
database administrator would have them), ``verify()`` runs on that same connection with the
checkpoints and reconcilers ``cqms audit verify`` uses, and the transaction is rolled back
before the next one. The table of classes is docs/integrity.md; this test keeps it honest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, select, text

from core.attachments import storage
from core.audit.chain import GENESIS, entry_hash, keyed_entry_hash
from core.audit.checkpoints import checkpoint_file, flush_all
from core.audit.models import AuditEntry
from core.audit.verify import read_checkpoint_file, stored_checkpoints, verify
from core.db.append_only import drop_append_only_ddl
from core.records.models import Record
from core.signatures.models import Signature

PASSWORD = "Correct-Horse-Battery-Staple-7"
APPEND_ONLY = ("core_audit_entry", "core_attachment")
ENTRIES = AuditEntry.__table__

pytestmark = [pytest.mark.plugins("documents", "training"),
              pytest.mark.backends("sqlite", "postgresql")]


@pytest.fixture
def app_config() -> dict:
    # Every commit signs its head: none to wait for. One chain: the tampering below finds an
    # entry's neighbours by id (several chains: tests/test_audit_chains.py).
    return {"AUDIT_CHECKPOINT_SECONDS": 0, "AUDIT_CHAINS": 1}


@pytest.fixture
def demo(app, db, monkeypatch):
    monkeypatch.setenv("CQMS_DEMO_PASSWORD", PASSWORD)
    from core.cli import demo as demo_cli

    result = app.test_cli_runner().invoke(demo_cli.command)
    assert result.exit_code == 0, result.output
    db.session.remove()
    flush_all()
    return app


@contextlib.contextmanager
def tampering(db) -> Iterator[Connection]:
    """A transaction with the append-only triggers off; rolled back afterwards."""
    with db.engine.connect() as conn:
        transaction = conn.begin()
        sqlite = conn.dialect.name == "sqlite"
        for table in APPEND_ONLY:
            if sqlite:
                for statement in drop_append_only_ddl(table, "sqlite"):
                    conn.exec_driver_sql(statement)
            else:
                conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        try:
            yield conn
        finally:
            transaction.rollback()
    if sqlite:  # DDL is transactional on both; check the triggers are back all the same
        with db.engine.connect() as conn:
            names = {r[0] for r in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert all(any(t in n for n in names) for t in APPEND_ONLY), names


def findings(app, conn: Connection) -> list[str]:
    points = stored_checkpoints(conn)
    path = checkpoint_file()
    if path.is_file():
        points += read_checkpoint_file(path)
    report = verify(conn, points, app.extensions["cqms"].reconcilers)
    return [f.line() for f in report.findings]


def one(conn: Connection, sql: str, **params):
    return conn.execute(text(sql), params).first()


def record_id(conn: Connection, number: str) -> int:
    return one(conn, "SELECT id FROM core_record WHERE number = :n", n=number)[0]


def head(conn: Connection) -> int:
    return one(conn, "SELECT max(id) FROM core_audit_entry")[0]


def entry(conn: Connection, seq: int) -> dict:
    """An entry with typed values (as the chain hashes them)."""
    return dict(conn.execute(select(ENTRIES).where(ENTRIES.c.id == seq)).mappings().first())


def append_forged(conn: Connection, hash_entry: Callable, **values) -> int:
    """A correctly linked entry at the head, hashed with ``hash_entry``."""
    last = entry(conn, head(conn))
    forged = {**last, "id": last["id"] + 1, "prev_hash": last["hash"], **values}
    forged["hash"] = hash_entry(forged["prev_hash"], forged)
    conn.execute(ENTRIES.insert().values(**forged))
    return forged["id"]


# -- the tamper classes: (apply it, the text a finding must contain) --------------------------


def edit_entry(conn):
    seq = head(conn) // 2
    conn.execute(text("UPDATE core_audit_entry SET new_value = 'edited' WHERE id = :s"),
                 {"s": seq})
    return f"seq {seq}: ", "content does not match its hash"


def delete_entry(conn):
    seq = head(conn) // 3
    conn.execute(text("DELETE FROM core_audit_entry WHERE id = :s"), {"s": seq})
    return f"seq {seq + 1}: ", "link to the previous entry is broken"


def reorder_entries(conn):
    a = head(conn) // 4
    conn.execute(text("UPDATE core_audit_entry SET id = -1 WHERE id = :a"), {"a": a})
    conn.execute(text("UPDATE core_audit_entry SET id = :a WHERE id = :b"), {"a": a, "b": a + 1})
    conn.execute(text("UPDATE core_audit_entry SET id = :b WHERE id = -1"), {"b": a + 1})
    return f"seq {a}: ", "link to the previous entry is broken"


def truncate_tail(conn):
    last = head(conn)
    conn.execute(text("DELETE FROM core_audit_entry WHERE id > :s"), {"s": last - 5})
    conn.execute(text("DELETE FROM core_audit_checkpoint"))  # the copies in the database too
    return f"the trail ends at seq {last - 5} but audit-checkpoints.jsonl", "(truncated)"


def forge_unkeyed_signature_event(conn):
    version = record_id(conn, "SOP-0002-v1.1")
    seq = append_forged(conn, entry_hash, action="signature.applied", field="meaning",
                        entity_type="documents_version", entity_id=str(version),
                        old_value=None, new_value="approved")
    return f"seq {seq}: documents_version {version}", "hashed without the integrity key"


def rehash_tail_without_key(conn):
    seq = head(conn) - 10
    rows = conn.execute(select(ENTRIES).where(ENTRIES.c.id >= seq).order_by(ENTRIES.c.id)
                        ).mappings().all()
    prev = entry(conn, seq - 1)["hash"] if seq > 1 else GENESIS
    for n, row in enumerate(rows):
        row = dict(row)
        if n == 0:
            row["new_value"] = "rewritten"
        row["prev_hash"] = prev
        prev = entry_hash(prev, row)
        conn.execute(text("UPDATE core_audit_entry SET new_value = :v, prev_hash = :p, "
                          "hash = :h WHERE id = :i"),
                     {"v": row["new_value"], "p": row["prev_hash"], "h": prev, "i": row["id"]})
    return f"seq {seq}: ", "hashed without the integrity key"


def record_column(column: str, value: str, number: str = "SOP-0001") -> Callable:
    def apply(conn):
        rid = record_id(conn, number)
        records = Record.__table__
        conn.execute(records.update().where(records.c.id == rid).values({column: value}))
        return f"{number} (", f"field {column}: "
    apply.__name__ = f"edit_{column}"
    return apply


def edit_owner(conn):
    system = one(conn, "SELECT id FROM core_user WHERE username = 'inspector'")[0]
    rid = record_id(conn, "SOP-0002")
    conn.execute(text("UPDATE core_record SET owner_id = :o WHERE id = :i"), {"o": system,
                                                                               "i": rid})
    return "SOP-0002 (documents_document", "field owner_id: "


def edit_effective_at(conn):
    rid = record_id(conn, "SOP-0001-v2.0")
    conn.execute(text("UPDATE documents_version SET effective_at = :t WHERE id = :i"),
                 {"t": "2020-01-01 00:00:00", "i": rid})
    return "SOP-0001-v2.0 (documents_version", "field effective_at: "


def edit_score(conn):
    rid = record_id(conn, "TRN-2026-00001")
    conn.execute(text("UPDATE training_assignment SET score = 100 WHERE id = :i"), {"i": rid})
    return "TRN-2026-00001 (training_assignment", "field score: '100' in the table"


def grant_role(conn):
    user = one(conn, "SELECT id FROM core_user WHERE username = 'trainee'")[0]
    role = one(conn, "SELECT id FROM core_role WHERE key = 'system_admin'")[0]
    conn.execute(text("INSERT INTO core_user_role (user_id, role_id, granted_at, granted_by_id) "
                      "VALUES (:u, :r, :t, :u)"), {"u": user, "r": role,
                                                   "t": "2026-12-01 00:00:00"})
    return "core_user_role ", "not in the audit trail (inserted outside the application)"


def revoke_role_by_delete(conn):
    grant = one(conn, "SELECT min(id) FROM core_user_role")[0]
    conn.execute(text("DELETE FROM core_user_role WHERE id = :i"), {"i": grant})
    return f"core_user_role {grant}", "missing from the table (deleted outside the application)"


def add_permission(conn):
    role = one(conn, "SELECT id FROM core_role WHERE key = 'trainee'")[0]
    permission = one(conn, "SELECT id FROM core_permission WHERE name = 'core.users.manage'")[0]
    conn.execute(text("INSERT INTO core_role_permission (role_id, permission_id) VALUES "
                      "(:r, :p)"), {"r": role, "p": permission})
    return "core_role_permission ", "not in the audit trail"


def reactivate_account(conn):
    conn.execute(text("UPDATE core_user SET locked_at = :t WHERE username = 'admin'"),
                 {"t": "2026-12-01 00:00:00"})
    return "core_user ", "field locked_at: "


def copy_signature(conn):
    signatures = Signature.__table__
    sig = conn.execute(select(signatures).where(signatures.c.meaning == "approved")
                       .order_by(signatures.c.id)).mappings().first()
    values = {**sig, "record_id": record_id(conn, "SOP-0002-v1.1")}
    values.pop("id")
    conn.execute(signatures.insert().values(**values))
    return "core_signature ", "signature MAC does not match"


def alter_signature_comment(conn):
    sig = one(conn, "SELECT min(id) FROM core_signature")[0]
    conn.execute(text("UPDATE core_signature SET comment = 'I did not mean it' WHERE id = :i"),
                 {"i": sig})
    return f"core_signature {sig}", "signature MAC does not match"


def revive_signature(conn):
    sig = one(conn, "SELECT min(id) FROM core_signature WHERE invalidated_at IS NOT NULL")[0]
    conn.execute(text("UPDATE core_signature SET invalidated_at = NULL, invalidated_reason = "
                      "NULL WHERE id = :i"), {"i": sig})
    return f"core_signature {sig}", "field invalidated_at: nothing in the table"


def alter_file(conn):
    name = one(conn, "SELECT storage_name FROM core_attachment ORDER BY id")[0]
    path = storage.path_of(name)
    path.chmod(0o600)
    path.write_bytes(path.read_bytes() + b"tampered")
    return "core_attachment ", "the stored file was altered or replaced"


def remove_file(conn):
    name = one(conn, "SELECT storage_name FROM core_attachment ORDER BY id")[0]
    storage.path_of(name).unlink()
    return "core_attachment ", "the stored file is missing"


def remove_file_row(conn):
    attachment = one(conn, "SELECT min(id) FROM core_attachment")[0]
    conn.execute(text("DELETE FROM core_attachment WHERE id = :i"), {"i": attachment})
    return f"core_attachment {attachment}", "missing from the table"


TAMPERING = [edit_entry, delete_entry, reorder_entries, truncate_tail,
             forge_unkeyed_signature_event, rehash_tail_without_key,
             record_column("state", "draft"), edit_owner, edit_effective_at, edit_score,
             record_column("title", "Quietly renamed"), grant_role, revoke_role_by_delete,
             add_permission, reactivate_account, copy_signature, alter_signature_comment,
             revive_signature, alter_file, remove_file, remove_file_row]


@pytest.mark.req("P11-01", "P11-14", "DI-C3", "E6-14", "A11-06")
def test_each_class_of_tampering_is_reported_by_record_and_field(demo, db, cqms_backend):
    _invalidate_curriculum_signature(db)
    with db.engine.connect() as conn:
        assert findings(demo, conn) == []  # the untouched data verifies
    missed = {}
    for tamper in TAMPERING:
        backup = _file_backup(db) if tamper in (alter_file, remove_file) else None
        with tampering(db) as conn:
            where, problem = tamper(conn)
            found = findings(demo, conn)
        if backup is not None:
            backup()
        if not any(where in line and problem in line for line in found):
            missed[tamper.__name__] = (where, problem, found[:5])
    assert missed == {}, json.dumps(missed, indent=1, default=str)
    with db.engine.connect() as conn:
        assert findings(demo, conn) == []  # every tamper was undone: the check is fair


def _invalidate_curriculum_signature(db) -> None:
    """Revise an approved curriculum and change its signed requirement codes: the approval
    signature is invalidated by the application (kept, shown invalidated)."""
    from core import transition, update_record
    from core.users.models import User
    from plugins.training.models import Curriculum

    qa = db.session.query(User).filter_by(username="qa").one()
    curriculum = db.session.query(Curriculum).order_by(Curriculum.id).first()
    transition(curriculum, "revise", qa, reason="Add the data-integrity course")
    update_record(curriculum, qa, expected_version=curriculum.version,
                  reason="Add the data-integrity course",
                  requirement_codes=curriculum.requirement_codes + "\nEXTRA")
    db.session.commit()
    db.session.remove()  # reactions ran after the commit: end their transaction too
    flush_all()


def _file_backup(db) -> Callable[[], None]:
    with db.engine.connect() as conn:
        name = one(conn, "SELECT storage_name FROM core_attachment ORDER BY id")[0]
    path: Path = storage.path_of(name)
    original, mode = path.read_bytes(), path.stat().st_mode
    digest = hashlib.sha256(original).hexdigest()

    def restore() -> None:
        if path.exists():
            path.chmod(0o600)
        path.write_bytes(original)
        path.chmod(mode)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest

    return restore


def test_the_application_writes_a_signed_checkpoint_after_committing(demo, db):
    from core.audit.verify import CHECKPOINT_PURPOSE
    from core.integrity import mac_ok

    points = read_checkpoint_file(checkpoint_file())
    with db.engine.connect() as conn:
        last = head(conn)
        assert points[-1].seq == last
        assert points[-1].hash == entry(conn, last)["hash"]
    assert all(mac_ok(CHECKPOINT_PURPOSE, p.message(), p.mac) for p in points)
    with db.engine.connect() as conn:  # the chain's hashes are keyed
        row = entry(conn, last)
        assert keyed_entry_hash(row["prev_hash"], row) == row["hash"]


@pytest.mark.req("P11-05", "P11-14")
def test_a_signature_revived_in_sql_is_not_valid_in_the_api(demo, db, client):
    """Setting ``invalidated_at`` back to NULL does not make an invalidated signature valid
    again: the API (and every page using ``Signature.valid``) asks the trail."""
    _invalidate_curriculum_signature(db)
    with db.engine.begin() as conn:
        sig_id, record = one(conn, "SELECT id, record_id FROM core_signature "
                                   "WHERE invalidated_at IS NOT NULL")
        conn.execute(text("UPDATE core_signature SET invalidated_at = NULL, "
                          "invalidated_reason = NULL WHERE id = :i"), {"i": sig_id})
    token = client.post("/api/v1/auth/tokens", json={"username": "qa", "password": PASSWORD})
    assert token.status_code == 201, token.get_json()
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    answer = client.get(f"/api/v1/records/training_curriculum/{record}/signatures",
                        headers=headers)
    assert answer.status_code == 200, answer.get_json()
    shown = {s["id"]: s for s in answer.get_json()}
    assert shown[sig_id]["valid"] is False
