"""``cqms plugins new`` (issue 14): the package it writes installs with pip (its own
pyproject, the ``cqms.plugins`` entry point), migrates, is listed enabled, and passes its own
tests unchanged on SQLite and (when configured) PostgreSQL. Bad input: exit 2, one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.testing_postgres import drop_worker_database, worker_database

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.timeout(600)


def test_bad_keys_and_an_existing_folder_are_refused_in_one_line(run_cqms, tmp_path):
    status, _out, err = run_cqms("plugins", "new", "Lab-Log", "--path", str(tmp_path))
    assert status == 2 and "KEY: 2 to 20 lower-case letters" in err
    status, _out, err = run_cqms("plugins", "new", "core", "--path", str(tmp_path))
    assert status == 2 and "already a plugin" in err
    assert run_cqms("plugins", "new", "lablog", "--path", str(tmp_path))[0] == 0
    status, _out, err = run_cqms("plugins", "new", "lablog", "--path", str(tmp_path))
    assert status == 2 and "already exists; nothing was written" in err
    assert len(err.strip().splitlines()) <= 2  # click's usage line and the message


def test_the_written_plugin_installs_migrates_and_passes_its_own_tests(run_cqms, tmp_path):
    status, out, err = run_cqms("plugins", "new", "lablog", "--record-type",
                                "Equipment log entry", "--path", str(tmp_path))
    assert status == 0, err
    package, site = tmp_path / "cqms-lablog", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(package)], check=True, capture_output=True, timeout=300)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("CQMS_", "PYTEST_"))}
    env.update(PYTHONPATH=str(site), CQMS_ENV="testing", CQMS_PLUGINS="lablog",
               CQMS_INSTANCE_PATH=str(tmp_path / "instance"),
               CQMS_DATABASE_URL=f"sqlite:///{tmp_path / 'lablog.sqlite3'}")
    upgraded = subprocess.run([str(BIN / "cqms"), "db", "upgrade"], env=env, text=True,
                              capture_output=True, timeout=300, cwd=tmp_path)
    assert upgraded.returncode == 0 and "lablog_0001" in upgraded.stdout, upgraded.stderr
    listed = subprocess.run([str(BIN / "cqms"), "plugins", "list"], env=env, text=True,
                            capture_output=True, timeout=120, cwd=tmp_path).stdout
    assert any(line.split()[:4] == ["lablog", "0.1.0", "yes", "yes"]
               for line in listed.splitlines()), listed
    shared = os.environ.get("CQMS_TEST_POSTGRES_URL", "")
    own = worker_database(shared, "scaffold") if shared else ""
    try:
        tests_env = {**env, "CQMS_TEST_POSTGRES_URL": own} if own else env
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "-rs", str(package / "tests")], env=tests_env, text=True,
                             capture_output=True, timeout=600, cwd=package)
    finally:
        if own:
            drop_worker_database(shared, own)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert ("7 passed" if own else "5 passed") in run.stdout, run.stdout[-1000:]
