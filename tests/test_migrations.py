"""Alembic: one environment, a labelled branch per plugin; the migrated schema equals the models."""

import re
from pathlib import Path

import pytest
from sqlalchemy import ForeignKey, String, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, mapped_column

from core import Base, MigrationBranch
from core.db import db, migrate, utcnow
from core.testing import create_schema


class AcmeGadget(Base):
    """A model of a throwaway plugin, to exercise `cqms db revision --autogenerate`."""

    __tablename__ = "acme_gadget"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id"))


def tables(app) -> set[str]:
    with app.app_context():
        return set(inspect(db.engine).get_table_names())


@pytest.mark.plugins("documents", "training", "capa", "audits")
@pytest.mark.backends("sqlite", "postgresql")
def test_upgrade_matches_models_and_every_branch_downgrades_and_upgrades(app_factory, cqms_backend):
    app = app_factory(schema=False)
    migrate.upgrade(app)
    assert migrate.schema_differences(app) == []
    assert not migrate.pending(app)
    assert migrate.current_heads(app) == {"core_0016", "documents_0005", "training_0002",
                                          "capa_0003", "audits_0003"}
    for branch in ("audits", "capa", "training", "documents"):
        migrate.downgrade(app, f"{branch}@base")
        assert f"{branch}_0001" not in migrate.current_heads(app)
        assert migrate.pending(app)
    migrate.downgrade(app, "core@base")
    assert tables(app) <= {"alembic_version"}
    migrate.upgrade(app)
    assert migrate.schema_differences(app) == []
    assert not migrate.pending(app)


@pytest.mark.req("P11-06")
@pytest.mark.backends("sqlite", "postgresql")
def test_migrated_audit_and_attachment_tables_reject_update_and_delete(app_factory, cqms_backend):
    app = app_factory(schema=False)
    migrate.upgrade(app)
    with app.app_context():
        from core.audit.service import record_event
        from core.users.service import ensure_system_user

        ensure_system_user()  # writes its own creation entries
        db.session.commit()
        assert db.session.execute(text("SELECT count(*) FROM core_audit_entry")).scalar() > 0
        # Inserting stays possible below the application; changing the row afterwards is not.
        system_id = db.session.execute(text("SELECT min(id) FROM core_user")).scalar()
        db.session.execute(text(
            "INSERT INTO core_record (id, type, number, title, state, owner_id, version, "
            "content_hash, created_at, created_by_id, updated_at, updated_by_id) VALUES (1, 'x', "
            "'X-1', 'x', 'draft', :u, 1, '', :t, :u, :t, :u)"), {"u": system_id, "t": utcnow()})
        db.session.execute(text(
            "INSERT INTO core_attachment (id, record_id, filename, media_type, size, sha256, "
            "storage_name, uploaded_at, uploaded_by_id, record_version) VALUES (1, 1, 'a.pdf', "
            "'application/pdf', 3, 'abc', 'stored-a', :t, :u, 1)"), {"u": system_id, "t": utcnow()})
        db.session.commit()
        for statement in ("UPDATE core_audit_entry SET reason = 'x'", "DELETE FROM core_audit_entry",
                          "UPDATE core_attachment SET size = 1", "DELETE FROM core_attachment"):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()
        assert record_event  # the ORM path is covered in the audit tests


def test_schema_differences_detect_drift(app_factory):
    app = app_factory(schema=False)
    migrate.upgrade(app)
    with app.app_context():
        db.session.execute(text("DROP INDEX ix_core_audit_entry_action"))
        db.session.commit()
    diff = migrate.schema_differences(app)
    assert any(op[0] == "add_index" for op in diff)


def test_plugin_revision_autogenerates_only_its_tables(app_factory, temp_plugin, tmp_path):
    versions = tmp_path / "acme_versions"
    versions.mkdir()
    plugin = temp_plugin(
        "acme",
        register_models=lambda: [AcmeGadget],
        register_migrations=lambda: MigrationBranch("acme", versions),
    )
    app = app_factory(plugins=["documents", "acme"], extra_plugins={"acme": plugin}, schema=False)
    migrate.upgrade(app)  # core and documents; acme has no revision yet
    assert "acme_gadget" not in tables(app)
    first = migrate.revision(app, "acme", "Add gadgets", autogenerate=True)
    source = first.read_text()
    assert first.name.startswith("acme_0001_")
    assert "create_table('acme_gadget'" in source
    assert source.count("create_table(") == 1  # nothing of the core or other plugins
    assert "drop_table('core_" not in source.split("def downgrade")[0]
    assert "branch_labels = ('acme',)" in source
    assert re.search(r"depends_on = 'core_\d{4}'", source)  # the core's head when written
    migrate.upgrade(app)
    assert "acme_gadget" in tables(app)
    assert migrate.schema_differences(app) == []
    second = migrate.revision(app, "acme", "Nothing yet")
    assert second.name.startswith("acme_0002_")
    assert "down_revision = 'acme_0001'" in second.read_text()
    migrate.upgrade(app)
    migrate.downgrade(app, "acme@base")
    assert "acme_gadget" not in tables(app)
    assert "core_user" in tables(app)


def test_create_schema_helper_equals_migrations(app_factory):
    """The test harness's create_all path builds the same schema as the migrations."""
    app = app_factory(schema=False)
    create_schema(app)
    assert migrate.schema_differences(app) == []


@pytest.mark.plugins("documents", "training", "capa", "audits")
def test_every_timestamp_column_is_timezone_aware(app):
    from sqlalchemy import DateTime

    from core.db.base import UTCDateTime

    naive = [
        f"{table.name}.{column.name}"
        for table in db.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, DateTime) and not isinstance(column.type, UTCDateTime)
        and not column.type.timezone
    ]
    assert naive == []


def test_migration_files_are_in_their_branch_folders():
    root = Path(__file__).resolve().parent.parent
    for key in ("documents", "training", "capa", "audits"):
        files = list((root / "plugins" / key / "migrations" / "versions").glob(f"{key}_*.py"))
        assert files, key
