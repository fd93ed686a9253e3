"""Finding records by a piece of their number or title through an index, flat to millions.

One meaning on both backends: a case-insensitive "contains" over number and title. PostgreSQL
answers it from trigram GIN indexes (``pg_trgm``) that serve ``ILIKE '%text%'`` directly; SQLite
from an FTS5 table with the trigram tokenizer (``core_record_fts``, its content read from
``core_record``, kept in step by triggers), where a quoted phrase matches as a substring. Text
under three characters has no trigram to look up: it is matched by a scan, as before.
The schema objects are created with the table (``create_all``) and by migration core_0009.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, event, literal_column, or_, select, table, true
from sqlalchemy.engine import Connection

from core.db.unmodelled import declare_unmodelled
from core.records.models import Record

MIN_INDEXED = 3
FTS_TABLE = "core_record_fts"
TRIGRAM_INDEXES = ("ix_core_record_number_trgm", "ix_core_record_title_trgm")

POSTGRESQL_DDL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ix_core_record_number_trgm ON core_record "
    "USING gin (number gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS ix_core_record_title_trgm ON core_record "
    "USING gin (title gin_trgm_ops)",
)
SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS core_record_fts USING fts5(number, title, "
    "content='core_record', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS core_record_fts_insert AFTER INSERT ON core_record BEGIN "
    "INSERT INTO core_record_fts(rowid, number, title) VALUES (new.id, new.number, new.title); "
    "END",
    "CREATE TRIGGER IF NOT EXISTS core_record_fts_delete AFTER DELETE ON core_record BEGIN "
    "INSERT INTO core_record_fts(core_record_fts, rowid, number, title) "
    "VALUES ('delete', old.id, old.number, old.title); END",
    "CREATE TRIGGER IF NOT EXISTS core_record_fts_update AFTER UPDATE OF number, title "
    "ON core_record BEGIN "
    "INSERT INTO core_record_fts(core_record_fts, rowid, number, title) "
    "VALUES ('delete', old.id, old.number, old.title); "
    "INSERT INTO core_record_fts(rowid, number, title) VALUES (new.id, new.number, new.title); "
    "END",
    "INSERT INTO core_record_fts(core_record_fts) VALUES ('rebuild')",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS core_record_fts_insert",
    "DROP TRIGGER IF EXISTS core_record_fts_delete",
    "DROP TRIGGER IF EXISTS core_record_fts_update",
    "DROP TABLE IF EXISTS core_record_fts",
)
POSTGRESQL_DROP = tuple(f"DROP INDEX IF EXISTS {name}" for name in TRIGRAM_INDEXES)


def create_search_index(connection: Connection) -> None:
    """The backend's search index over every record already there (idempotent)."""
    statements = {"postgresql": POSTGRESQL_DDL, "sqlite": SQLITE_DDL}.get(
        connection.dialect.name, ())
    for statement in statements:
        connection.exec_driver_sql(statement)


def drop_search_index(connection: Connection) -> None:
    statements = {"postgresql": POSTGRESQL_DROP, "sqlite": SQLITE_DROP}.get(
        connection.dialect.name, ())
    for statement in statements:
        connection.exec_driver_sql(statement)


def search_clause(text: str, dialect_name: str, *, every_word: bool = False) -> ColumnElement[bool]:
    """Records whose number or title contains ``text`` (any case); with ``every_word``, each
    word of it (the admin list's search box). SQLite asks the FTS table once, all words
    together, so a rare word narrows a common one inside the index; the planner then drives
    the query from the few rows found (given statistics: ``core.db.engine.refresh_statistics``)."""
    words = text.split() if every_word else [text]
    indexed = [w for w in words if dialect_name == "sqlite" and len(w) >= MIN_INDEXED]
    clauses = [_contains(w) for w in words if w not in indexed]
    if indexed:
        query = " AND ".join('"' + w.replace('"', '""') + '"' for w in indexed)
        fts = table(FTS_TABLE)
        clauses.append(Record.id.in_(select(literal_column("rowid")).select_from(fts).where(
            literal_column(FTS_TABLE).op("MATCH")(query))))
    return and_(*clauses) if clauses else true()


def _contains(text: str) -> ColumnElement[bool]:
    pattern = "%" + text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
    return or_(Record.number.ilike(pattern, escape="/"), Record.title.ilike(pattern, escape="/"))


def _after_create(_table: object, connection: Connection, **_kw: object) -> None:
    create_search_index(connection)


def _before_drop(_table: object, connection: Connection, **_kw: object) -> None:
    drop_search_index(connection)


declare_unmodelled(FTS_TABLE, *TRIGRAM_INDEXES)
event.listen(Record.__table__, "after_create", _after_create)
event.listen(Record.__table__, "before_drop", _before_drop)
