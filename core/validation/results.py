"""The pytest plugin that records validation evidence (entry point ``pytest11``).

``--validation-results=FILE`` writes, at the end of the run, one JSON document: the
environment (commit, Python, platform, database servers) and, for every test, its outcome,
its ``req`` IDs, its database backend and whether it drove a browser.
``--validation-enforce`` also fails the run when an ID that the core or a plugin claims in its
``requirements.yaml`` has no passing test on each backend it claims (use it on whole runs only:
``make test`` does).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.validation import FORMAT
from core.validation.inventory import inventory
from core.validation.trace import build_trace

_OUTCOMES = "cqms_validation_outcomes"
_PROPERTY = "cqms_validation"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cqms validation")
    group.addoption("--validation-results", metavar="FILE", default=None,
                    help="write each test's outcome, requirement IDs and backend as JSON")
    group.addoption("--validation-enforce", action="store_true", default=False,
                    help="fail when a claimed requirement ID has no passing test on a claimed "
                         "backend")


def backend_of(item: pytest.Item) -> str:
    """``postgresql`` or ``sqlite`` for a test that uses a database, else ``none``."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "cqms_backend" in callspec.params:
        return str(callspec.params["cqms_backend"])
    names = getattr(item, "fixturenames", ())
    return "sqlite" if "database_url" in names else "none"


def requirement_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for marker in item.iter_markers("req"):
        ids.extend(str(arg) for arg in marker.args if str(arg) not in ids)
    return sorted(ids)


def _wanted(config: pytest.Config) -> bool:
    return bool(config.getoption("validation_results") or config.getoption("validation_enforce"))


def pytest_configure(config: pytest.Config) -> None:
    """The outcomes are gathered where the reports end up: this process, unless it is a
    pytest-xdist worker (the controller gathers them)."""
    if _wanted(config) and not _is_xdist_worker(config):
        outcomes: dict[str, dict[str, Any]] = {}
        setattr(config, _OUTCOMES, outcomes)
        config.pluginmanager.register(_Gatherer(outcomes), "cqms-validation-gatherer")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    outcomes: dict[str, dict[str, Any]] | None = getattr(config, _OUTCOMES, None)
    if outcomes is None:
        return
    for item in items:
        outcomes[item.nodeid] = _not_run(item.nodeid, _described(item))


def _described(item: pytest.Item) -> dict[str, Any]:
    return {"requirements": requirement_ids(item), "backend": backend_of(item),
            "browser": item.get_closest_marker("browser") is not None}


def _not_run(nodeid: str, described: dict[str, Any]) -> dict[str, Any]:
    return {"test": nodeid, "outcome": "not run", **described, "duration": 0.0, "detail": ""}


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Each report carries its test's IDs, backend and browser flag: with pytest-xdist the
    reports reach the controller, which never sees the items."""
    report = yield
    if _wanted(item.config):
        report.user_properties.append((_PROPERTY, _described(item)))
    return report


class _Gatherer:
    """Folds each test's reports into its outcome (registered where the reports end up)."""

    def __init__(self, outcomes: dict[str, dict[str, Any]]):
        self.outcomes = outcomes

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        described = dict(report.user_properties).get(_PROPERTY)
        entry = self.outcomes.get(report.nodeid)
        if entry is None:
            if described is None:
                return
            entry = self.outcomes[report.nodeid] = _not_run(report.nodeid, described)
        entry["duration"] = round(entry["duration"] + report.duration, 3)
        if report.when == "call":
            entry["outcome"] = "failed" if report.failed else (
                "skipped" if report.skipped else "passed")
        elif report.failed:  # setup or teardown broke: an error, whatever the call did
            entry["outcome"] = "error"
        elif report.skipped and report.when == "setup":
            entry["outcome"] = "skipped"
        if report.failed or report.skipped:
            entry["detail"] = _short(report)


def _short(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])[:300]
    lines = (getattr(report, "longreprtext", "") or "").splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors[0] if errors else lines[-1] if lines else "")[:300]


def services_required() -> bool:
    """CI says every service (PostgreSQL, chromium) must be present: missing ones fail, not skip."""
    return os.environ.get("CQMS_TEST_REQUIRE_SERVICES", "") in ("1", "true", "yes")


def environment() -> dict[str, Any]:
    return {
        "commit": _commit(),
        "modified": _modified(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "postgresql": _postgres_version(),
        "pytest": pytest.__version__,
    }


def _git(*args: str) -> str | None:
    """The output of ``git <args>`` in this checkout, or None where git or the checkout is
    missing (an installed package)."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _commit() -> str | None:
    """The commit that ran (``CQMS_COMMIT`` where there is no checkout)."""
    return (_git("rev-parse", "HEAD") or "").strip() or os.environ.get("CQMS_COMMIT")


def _modified() -> bool | None:
    """Whether tracked files had uncommitted changes (None: not a checkout)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status.strip())


def _postgres_version() -> str | None:
    url = os.environ.get("CQMS_TEST_POSTGRES_URL")
    if not url:
        return None
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
        engine.dispose()
    except Exception:  # noqa: BLE001 - the report says "unknown", the tests say why
        return "unknown (unreachable)"
    return f"PostgreSQL {version}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    outcomes: dict[str, dict[str, Any]] | None = getattr(config, _OUTCOMES, None)
    if outcomes is None:
        return
    document = {
        "format": FORMAT,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": environment(),
        "inventory": inventory(),
        "tests": list(outcomes.values()),
    }
    path = config.getoption("validation_results")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(document, indent=1), encoding="utf-8")
    if config.getoption("validation_enforce"):
        # Without a PostgreSQL server (and not in CI, which requires one) its claims are not
        # checked here: said on the terminal, and the summary of such a run shows it.
        untested = frozenset() if document["environment"]["postgresql"] or services_required() \
            else frozenset({"postgresql"})
        trace = build_trace(document, untested=untested)
        gaps = trace.unproven_claims()
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("-", "validation evidence")
            if untested:
                reporter.write_line("PostgreSQL was not tested (CQMS_TEST_POSTGRES_URL unset): "
                                    "claims on it are not checked in this run", yellow=True)
            reporter.write_line(trace.summary_line())
            for gap in gaps:
                reporter.write_line(f"  claimed but not proven: {gap}", red=True)
        if gaps and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
