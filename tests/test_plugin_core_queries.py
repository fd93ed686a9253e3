"""Plugins query their own tables; the core's only through the facade's lookups.

A plugin that builds SQL over a core table (``select(User)``, ``UserRole.role_id == ...``,
``session.get(Site, id)``) ties itself to the core's schema; ``User.by_username``,
``Role.by_key``, ``Study.by_code``, ``Site.by_code``, ``User.in_scope``, ``users_holding`` and
the like are the contract instead. Joining ``Record`` columns for the plugin's own record types
is allowed: those rows are the plugin's records. This scan keeps it so, naming file:line.
"""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import inspect

from core.db import Base

ROOT = Path(__file__).resolve().parents[1]
# Rows of these are plugins' own records (joined-table subclasses): their columns may be joined.
RECORD_BASES = {"Record", "RecordItem"}
# Calls that make a table part of a statement, or fetch a row by key.
SQL_CALLS = {"select", "exists", "join", "outerjoin", "join_from", "select_from", "query", "get",
             "aliased", "insert", "update", "delete", "add_columns", "with_only_columns"}


def core_models() -> dict[str, type]:
    """Every mapped class the core defines, by class name (the facade's and the rest)."""
    return {m.class_.__name__: m.class_ for m in Base.registry.mappers
            if m.class_.__module__.split(".")[0] == "core"}


def _called(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _chain_top(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST:
    """The whole method chain ``node`` starts: ``select(...).where(...).order_by(...)``."""
    while True:
        parent = parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            node = parent
        elif isinstance(parent, ast.Call) and parent.func is node:
            node = parent
        else:
            return node


def _own_names(tree: ast.Module) -> set[str]:
    """Names the module takes from its plugin (``from plugins...``) or defines as classes."""
    names = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("plugins"):
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names |= {alias.asname or alias.name for alias in node.names}
    return names


def core_query_offences(source: str, name: str, models: dict[str, type]) -> list[str]:
    """Where ``source`` builds SQL over a core table, as ``file:line what``."""
    tree = ast.parse(source, filename=name)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    own = _own_names(tree)
    core_tables = {n: cls for n, cls in models.items() if n not in RECORD_BASES}
    offences = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in core_tables
                and node.attr in inspect(core_tables[node.value.id]).all_orm_descriptors.keys()):
            offences.add(f"{name}:{node.lineno} uses column {node.value.id}.{node.attr} in SQL")
        if not isinstance(node, ast.Call) or _called(node) not in SQL_CALLS:
            continue
        named = [a.id for a in node.args if isinstance(a, ast.Name)]
        for model in named:
            if model in core_tables:
                offences.add(f"{name}:{node.lineno} {_called(node)}({model}): a core table")
        if _called(node) == "get" and any(m in RECORD_BASES for m in named):
            offences.add(f"{name}:{node.lineno} get(Record): a record of another type by id")
        if _called(node) == "select":
            chain = {n.id for n in ast.walk(_chain_top(node, parents)) if isinstance(n, ast.Name)}
            if chain & RECORD_BASES and not chain & own:
                offences.add(f"{name}:{node.lineno} select over Record without a model of "
                             f"the plugin's own")
    return sorted(offences, key=lambda o: (o.split(" ")[0].rsplit(":", 1)[0],
                                           int(o.split(" ")[0].rsplit(":", 1)[1]), o))


def plugin_sources() -> list[Path]:
    return sorted(p for p in (ROOT / "plugins").glob("*/**/*.py")
                  if "tests" not in p.relative_to(ROOT / "plugins").parts)


def test_plugins_build_no_sql_over_core_tables():
    models = core_models()
    assert {"User", "Role", "UserRole", "Study", "Site", "Task", "Signature", "AuditEntry",
            "Setting"} <= set(models)
    sources = plugin_sources()
    assert len(sources) >= 30
    offences = []
    for path in sources:
        offences += core_query_offences(path.read_text(), str(path.relative_to(ROOT)), models)
    assert offences == []


def test_the_scan_is_not_vacuous():
    sample = '''
from sqlalchemy import exists, select
from core import Record, Role, Site, User, UserRole, db
from plugins.acme.models import Supplier

def bad(name, site_id, record_id):
    db.session.scalar(select(User).where(User.username == name))
    db.session.get(Site, site_id)
    db.session.get(Record, record_id)
    db.session.scalars(select(Record).where(Record.title == name))
    grant = [UserRole.revoked_at.is_(None)]
    return select(exists().where(*grant))

def good(name, user):
    db.session.scalars(select(Supplier).where(Record.state == "open", Supplier.name == name))
    db.session.scalar(select(Record.state).select_from(Supplier))
    return User.by_username(name), Role.by_key("qa"), Site.pick_list(), user.username
'''
    assert core_query_offences(sample, "x.py", core_models()) == [
        "x.py:7 select(User): a core table",
        "x.py:7 uses column User.username in SQL",
        "x.py:8 get(Site): a core table",
        "x.py:9 get(Record): a record of another type by id",
        "x.py:10 select over Record without a model of the plugin's own",
        "x.py:11 uses column UserRole.revoked_at in SQL",
    ]
