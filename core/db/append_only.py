"""Database triggers that make a table append-only (no UPDATE, DELETE or TRUNCATE), so not even
SQL typed past the application can rewrite history. Migrations keep their own literal copies."""

from __future__ import annotations

from sqlalchemy import DDL, Table, event


def append_only_ddl(table: str, dialect: str) -> tuple[str, ...]:
    message = f"'{table} is append-only'"
    if dialect == "sqlite":
        return tuple(
            f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, {message}); END"
            for verb in ("UPDATE", "DELETE")
        )
    if dialect == "postgresql":
        return (
            f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION {message}; END $$",
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()",
        )
    return ()


def drop_append_only_ddl(table: str, dialect: str) -> tuple[str, ...]:
    if dialect == "sqlite":
        return (f"DROP TRIGGER IF EXISTS {table}_no_update",
                f"DROP TRIGGER IF EXISTS {table}_no_delete")
    if dialect == "postgresql":
        return (f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
                f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
                f"DROP FUNCTION IF EXISTS {table}_append_only()")
    return ()


def make_append_only(table: Table) -> None:
    """Install the triggers whenever ``table`` is created outside migrations (tests, create_all)."""

    def install(target: Table, connection, **_kw) -> None:  # type: ignore[no-untyped-def]
        for statement in append_only_ddl(target.name, connection.dialect.name):
            connection.execute(DDL(statement))

    event.listen(table, "after_create", install)
