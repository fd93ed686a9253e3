"""``cqms documents seed-types`` on a migrated database with only the documents plugin."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

from core.cli import main


@pytest.fixture
def cqms(tmp_path, monkeypatch, capsys):
    for name in list(os.environ):
        if name.startswith("CQMS_") and not name.startswith("CQMS_TEST_"):
            monkeypatch.delenv(name)
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("CQMS_ENV", "testing")
    monkeypatch.setenv("CQMS_PLUGINS", "documents")
    monkeypatch.setenv("CQMS_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("CQMS_DATABASE_URL", url)

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            status = 0
        except SystemExit as exc:
            status = exc.code
        out, err = capsys.readouterr()
        return status, out, err

    run.url = url
    return run


def test_seed_types_after_upgrade_is_idempotent_and_audited(cqms):
    status, out, err = cqms("db", "upgrade")
    assert status == 0, err
    assert "documents_0005" in out
    assert cqms("documents", "seed-types")[:2] == (0, "6 document types added\n")
    assert cqms("documents", "seed-types")[:2] == (0, "0 document types added\n")
    engine = create_engine(cqms.url)
    with engine.connect() as conn:
        codes = sorted(conn.scalars(text("SELECT code FROM documents_type")))
        actors = set(conn.scalars(text(
            "SELECT actor_name FROM core_audit_entry WHERE entity_type = 'documents_type'")))
    engine.dispose()
    assert codes == ["EXTERNAL", "FORM", "PLAN", "POLICY", "SOP", "WI"]
    assert actors and all("system" in actor for actor in actors)
