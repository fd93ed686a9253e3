"""Alembic environment shared by every branch (core and plugins); driven by ``core.db.migrate``.

The runner passes the connection and the table filter through ``config.attributes``; this file is
never run by the ``alembic`` command line on its own.
"""

from __future__ import annotations

from alembic import context

from core.db import db
from core.db.base import UTCDateTime

config = context.config
connection = config.attributes["connection"]
# Table names an operation may see: a plugin's own tables for `revision --autogenerate`,
# every allowed plugin's tables otherwise. Tables of plugins not allowed here are left alone.
visible_tables: frozenset[str] = config.attributes["tables"]


def include_name(name, type_, parent_names):  # type: ignore[no-untyped-def]
    if type_ == "table":
        return name in visible_tables
    return True


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    if type_ == "table":
        return name in visible_tables
    return True


def render_item(type_, obj, autogen_context):  # type: ignore[no-untyped-def]
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=connection,
    target_metadata=db.metadata,
    include_name=include_name,
    include_object=include_object,
    render_item=render_item,
    render_as_batch=True,
    compare_type=True,
    transaction_per_migration=True,
)

with context.begin_transaction():
    context.run_migrations()
