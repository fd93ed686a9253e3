"""The kernel benchmarks' record type (declared like any plugin's), its app and user, and a bare
insert of the same rows: shared by bench.kernel, its writer processes and the read benches."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bench import build_app
from core import Permission, Record, RecordType, RoleTemplate, Transition, Workflow


class BenchItem(Record):
    __tablename__ = "bench_item"
    __mapper_args__ = {"polymorphic_identity": "bench_item"}

    id: Mapped[int] = mapped_column(ForeignKey("core_record.id"), primary_key=True)
    alpha: Mapped[str] = mapped_column(String(100), default="")
    beta: Mapped[str] = mapped_column(String(100), default="")
    gamma: Mapped[str] = mapped_column(String(100), default="")


class _Plugin:
    """The bench's record type, declared like any plugin."""

    from core import hookimpl

    @staticmethod
    @hookimpl
    def register_models():  # type: ignore[no-untyped-def]
        return [BenchItem]

    @staticmethod
    @hookimpl
    def register_permissions():  # type: ignore[no-untyped-def]
        return [Permission("bench.edit", "Edit bench items")]

    @staticmethod
    @hookimpl
    def register_roles():  # type: ignore[no-untyped-def]
        return [RoleTemplate("author", None, ("bench.edit",))]

    @staticmethod
    @hookimpl
    def register_workflows():  # type: ignore[no-untyped-def]
        return [Workflow("bench_item", ("draft", "done"), "draft",
                         (Transition("finish", ("draft",), "done", "bench.edit"),),
                         categories={"draft": "draft", "done": "closed"})]

    @staticmethod
    @hookimpl
    def register_record_types():  # type: ignore[no-untyped-def]
        return [RecordType("bench_item", "Bench item", BenchItem, "BEN", "bench_item",
                           controlled_fields=("alpha", "beta", "gamma"), number_per_year=True,
                           view_permission="bench.edit", manage_permission="bench.edit")]


def make_app(url: str, instance: Path, fresh: bool = True):  # type: ignore[no-untyped-def]
    return build_app(url, instance, fresh=fresh, PLUGINS=["bench"], extra_plugins={"bench": _Plugin})


def bench_user():  # type: ignore[no-untyped-def]
    from core.audit.context import audit_context
    from core.db import db
    from core.testing import DEFAULT_PASSWORD
    from core.users.models import Role
    from core.users.service import assign_role, create_user, get_user, system_context

    user = get_user("bencher")
    if user is None:
        ctx = system_context("bench")
        with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name):
            user = create_user("bencher", "Bench User", "", DEFAULT_PASSWORD)
            assign_role(user, db.session.scalar(select(Role).where(Role.key == "author")),
                        reason="bench")
        db.session.commit()
    return user


def bare_item(session: Session, user_id: int, title: str) -> None:
    session.add(BenchItem(number=f"BARE-{os.getpid()}-{title}", title=title, state="draft",
                          owner_id=user_id, version=1, content_hash="0" * 64,
                          created_by_id=user_id, updated_by_id=user_id, alpha="a"))
    session.commit()
