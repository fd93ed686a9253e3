"""Upgrade from the previous release (Annex 11 §17, A11-17): a database built by that release's
code (tests/fixtures/previous-release.tar.gz, see docs/validation.md) is migrated, then its
records, signatures and audit trail open, render and verify with this release's code."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from core.audit import verify as audit_verify
from core.db import db, migrate
from core.exports.pdf import render_record_pdf
from core.records.models import Record
from core.signatures.models import Signature
from core.signatures.service import signatures_of
from core.testing import login
from core.users.models import User

pytestmark = pytest.mark.req("A11-17")
FIXTURE = Path(__file__).parent / "fixtures" / "previous-release.tar.gz"
PASSWORD = "Correct-Horse-Battery-Staple-7"  # the demo accounts' password in the fixture
BUILT_BY = {"documents_document": 5, "documents_version": 7, "training_assignment": 10,
            "training_curriculum": 3}


@pytest.fixture
def previous(tmp_path, cqms_backend, database_url):
    """The fixture of ``cqms_backend`` unpacked, its database in place; app config overrides."""
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    folder = tmp_path / "previous-release" / cqms_backend
    if cqms_backend == "sqlite":
        shutil.copy2(folder / "cqms.sqlite3", tmp_path / "cqms-test.sqlite3")
    else:
        libpq = make_url(database_url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        subprocess.run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
                        f"--dbname={libpq}", str(folder / "cqms.pgdump")], check=True,
                       capture_output=True, timeout=300)
    return {"INTEGRITY_KEY_FILE": str(folder / "integrity.key"),
            "ATTACHMENT_DIR": str(folder / "attachments"),
            "AUDIT_CHECKPOINT_FILE": str(folder / "audit-checkpoints.jsonl")}


@pytest.mark.plugins("documents", "training", "capa", "audits")
@pytest.mark.backends("sqlite", "postgresql")
def test_the_previous_releases_database_upgrades_opens_renders_and_verifies(app_factory,
                                                                             previous):
    app = app_factory(schema=False, **previous)
    with app.app_context():
        assert "core_0002" in migrate.current_heads(app)  # as the previous release left it
        migrate.upgrade(app)
        assert not migrate.pending(app)
        counts = {t: n for t, n in db.session.execute(
            select(Record.type, func.count()).group_by(Record.type))}
        assert counts == BUILT_BY
        signatures = db.session.scalars(select(Signature)).all()
        assert len(signatures) == 12 and all(s.valid for s in signatures)

        connection = db.session.connection()
        points = audit_verify.read_checkpoint_file(Path(previous["AUDIT_CHECKPOINT_FILE"]))
        report = audit_verify.verify(connection, points, app.extensions["cqms"].reconcilers)
        assert report.ok, [f.line() for f in report.findings]
        assert report.entries >= 1748
        db.session.rollback()

        signed = db.session.get(Record, signatures[0].record_id)
        qa = db.session.scalar(select(User).where(User.username == "qa"))
        pdf = render_record_pdf(signed, qa)
        assert pdf.pages >= 1 and pdf.data.startswith(b"%PDF")
        assert len(signatures_of(signed, valid_only=True)) >= 1

        client = app.test_client()
        assert login(client, "qa", PASSWORD).status_code == 302
        page = client.get(f"/admin/{signed.type}/details/?id={signed.id}")
        assert page.status_code == 200 and signed.number in page.get_data(as_text=True)
