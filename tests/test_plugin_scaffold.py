"""``cqms plugins new`` (issue 14): the package it writes installs with pip (its own
pyproject, the ``cqms.plugins`` entry point), migrates, is listed enabled, and passes its own
tests unchanged on SQLite and (when configured) PostgreSQL. Bad input: exit 2, one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.testing_postgres import drop_worker_database, worker_database

BIN = Path(sys.executable).parent
EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "cqms-vendors"
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


def installed_and_tested(package: Path, key: str, tmp_path: Path) -> str:
    """pip-install ``package`` into a folder on PYTHONPATH, migrate a database with it, check
    it is listed enabled, and run its own tests unchanged; their summary line."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(package)], check=True, capture_output=True, timeout=300)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("CQMS_", "PYTEST_"))}
    env.update(PYTHONPATH=str(site), CQMS_ENV="testing", CQMS_PLUGINS=key,
               CQMS_INSTANCE_PATH=str(tmp_path / "instance"),
               CQMS_DATABASE_URL=f"sqlite:///{tmp_path / 'plugin.sqlite3'}")
    upgraded = subprocess.run([str(BIN / "cqms"), "db", "upgrade"], env=env, text=True,
                              capture_output=True, timeout=300, cwd=tmp_path)
    assert upgraded.returncode == 0 and f"{key}_0001" in upgraded.stdout, upgraded.stderr
    listed = subprocess.run([str(BIN / "cqms"), "plugins", "list"], env=env, text=True,
                            capture_output=True, timeout=120, cwd=tmp_path).stdout
    assert any(line.split()[:4] == [key, "0.1.0", "yes", "yes"]
               for line in listed.splitlines()), listed
    shared = os.environ.get("CQMS_TEST_POSTGRES_URL", "")
    own = worker_database(shared, f"plugin_{key}") if shared else ""
    try:
        tests_env = {**env, "CQMS_TEST_POSTGRES_URL": own} if own else env
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "-p", "no:randomly", "-rs", str(package / "tests")],
                             env=tests_env, text=True, capture_output=True, timeout=600,
                             cwd=tmp_path)
    finally:
        if own:
            drop_worker_database(shared, own)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return run.stdout.strip().splitlines()[-1]


def test_the_written_plugin_installs_migrates_and_passes_its_own_tests(run_cqms, tmp_path):
    status, _out, err = run_cqms("plugins", "new", "lablog", "--record-type",
                                 "Equipment log entry", "--path", str(tmp_path))
    assert status == 0, err
    summary = installed_and_tested(tmp_path / "cqms-lablog", "lablog", tmp_path)
    with_postgres = bool(os.environ.get("CQMS_TEST_POSTGRES_URL"))
    assert ("7 passed" if with_postgres else "5 passed") in summary, summary


def test_the_example_plugin_installs_migrates_and_passes_its_tests(tmp_path):
    copy = tmp_path / "cqms-vendors"  # built from a copy: the source tree stays clean
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                  "__pycache__"))
    summary = installed_and_tested(copy, "vendors", tmp_path)
    with_postgres = bool(os.environ.get("CQMS_TEST_POSTGRES_URL"))
    assert ("8 passed" if with_postgres else "6 passed") in summary, summary
