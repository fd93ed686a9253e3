"""Audit-trail size benchmark (``python -m bench.audit_trail``): SQLite, and PostgreSQL when
CQMS_TEST_POSTGRES_URL is set.

A signed transition with a reason (``transition(..., reason=..., signature=...)`` on a record
of a bench type): how many core_audit_entry rows it writes and its median time; and a plain
update of one business field, and a creation: rows written. Issue 12 item 10 targets <= 4 rows for the signed
transition and one row per changed business field. Prints figures and writes
bench/results/audit_trail.json; asserts nothing.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from bench import backends, build_app
from core import (
    Permission,
    Record,
    RecordType,
    RoleTemplate,
    SignatureMeaning,
    Transition,
    Workflow,
    hookimpl,
)

RESULTS = Path(__file__).resolve().parent / "results"
ROUNDS = 20


class BenchSigned(Record):
    __tablename__ = "benchsig_item"
    __mapper_args__ = {"polymorphic_identity": "benchsig_item"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    alpha: Mapped[str] = mapped_column(String(100), default="")


class _Plugin:
    """A record type with one signed transition that needs a reason."""

    @staticmethod
    @hookimpl
    def register_models():  # type: ignore[no-untyped-def]
        return [BenchSigned]

    @staticmethod
    @hookimpl
    def register_permissions():  # type: ignore[no-untyped-def]
        return [Permission("benchsig.edit", "Edit signed bench items")]

    @staticmethod
    @hookimpl
    def register_roles():  # type: ignore[no-untyped-def]
        return [RoleTemplate("author", None, ("benchsig.edit",))]

    @staticmethod
    @hookimpl
    def register_signature_meanings():  # type: ignore[no-untyped-def]
        return [SignatureMeaning("benchsig_approved", "Approved by")]

    @staticmethod
    @hookimpl
    def register_workflows():  # type: ignore[no-untyped-def]
        return [Workflow("benchsig_item", ("draft", "approved"), "draft",
                         (Transition("approve", ("draft",), "approved", "benchsig.edit",
                                     signature="benchsig_approved", reason_required=True),),
                         categories={"draft": "draft", "approved": "closed"})]

    @staticmethod
    @hookimpl
    def register_record_types():  # type: ignore[no-untyped-def]
        return [RecordType("benchsig_item", "Signed bench item", BenchSigned, "BSG",
                           "benchsig_item", controlled_fields=("alpha",),
                           view_permission="benchsig.edit", manage_permission="benchsig.edit")]


def _user():  # type: ignore[no-untyped-def]
    from core.audit.context import audit_context
    from core.db import db
    from core.signatures.service import attest
    from core.testing import DEFAULT_PASSWORD
    from core.users.models import Role
    from core.users.service import (
        assign_role,
        create_user,
        ensure_system_user,
        system_context,
        verify_identity,
    )

    ctx = system_context("bench")
    with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name):
        user = create_user("signer", "Jane Roe", "", DEFAULT_PASSWORD)
        assign_role(user, db.session.scalar(select(Role).where(Role.key == "author")),
                    reason="bench")
        verify_identity(user, ensure_system_user(), reason="bench")
    db.session.commit()
    attest(user, DEFAULT_PASSWORD)
    db.session.commit()
    return user


def measure(app) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from core import SignatureRequest, create_record, transition, update_record
    from core.audit.models import AuditEntry
    from core.db import db
    from core.testing import DEFAULT_PASSWORD

    def entries() -> int:
        return db.session.scalar(select(func.count()).select_from(AuditEntry))

    rows, times, update_rows, create_rows = [], [], [], []
    with app.app_context():
        user = _user()
        for i in range(ROUNDS):
            before = entries()
            record = create_record("benchsig_item", user, title=f"item {i}", alpha="a")
            db.session.commit()
            create_rows.append(entries() - before)
            before = entries()
            update_record(record, user, expected_version=record.version, alpha=f"b{i}")
            db.session.commit()
            update_rows.append(entries() - before)
            before = entries()
            start = time.perf_counter()
            transition(record, "approve", user, reason="bench approval",
                       signature=SignatureRequest(DEFAULT_PASSWORD))
            db.session.commit()
            times.append(time.perf_counter() - start)
            rows.append(entries() - before)
        db.engine.dispose()
    return {"signed_transition_rows": statistics.median(rows),
            "signed_transition_ms": statistics.median(times) * 1000,
            "one_field_update_rows": statistics.median(update_rows),
            "create_rows": statistics.median(create_rows)}


def main() -> int:
    results: dict[str, object] = {"machine": "vm",
                                  "python": platform.python_version()}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        targets = backends(workdir, "bench.sqlite3")
        for label, url in targets:
            # One signer signs every round: more often than the production limit allows.
            app = build_app(url, workdir / label, PLUGINS=["benchsig"],
                            SIGNING_RATE_LIMIT="1000 per minute",
                            extra_plugins={"benchsig": _Plugin})
            figures = measure(app)
            results[label] = figures
            print(f"[{label}] signed transition with reason: "
                  f"{figures['signed_transition_rows']:.0f} audit rows, "
                  f"{figures['signed_transition_ms']:.1f} ms median; one-field update: "
                  f"{figures['one_field_update_rows']:.0f} audit rows; creation: "
                  f"{figures['create_rows']:.0f} audit rows")
    RESULTS.mkdir(exist_ok=True)
    label = os.environ.get("CQMS_BENCH_LABEL", "current")
    path = RESULTS / "audit_trail.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored[label] = results
    path.write_text(json.dumps(stored, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
