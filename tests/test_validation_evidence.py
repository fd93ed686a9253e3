"""Validation evidence: catalogue, scope files, the results plugin, the trace and the summary."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from core.validation.catalogue import catalogue, parse
from core.validation.inventory import inventory
from core.validation.results import FORMAT
from core.validation.scope import Scope, ScopeError, load_scopes, parse_scope, unaccounted
from core.validation.trace import NOT_CLAIMED, PROVEN, UNPROVEN, build_trace

pytestmark = pytest.mark.req("A11-02")


def test_the_catalogue_has_every_id_once_with_its_text():
    requirements = catalogue()
    assert len(requirements) == 115
    assert requirements["P11-05"].clause.startswith("11.10(e)")
    assert "allow-listed" in requirements["SEC-05"].text
    with pytest.raises(ValueError, match="P11-01 is listed twice"):
        parse("| P11-01 | a | b |\n| P11-01 | c | d |\n")


@pytest.mark.req("P11-01")
def test_every_catalogue_id_is_claimed_or_explained_in_a_scope_file():
    scopes = load_scopes()
    assert {s.component for s in scopes} >= {"core", "documents", "training"}
    assert unaccounted(scopes) == []
    claimed = {rid for s in scopes for rid in s.claimed}
    explained = {rid for s in scopes for rid in s.not_claimed}
    assert claimed and explained and not claimed & {
        rid for s in scopes if s.component == "core" for rid in s.not_claimed}


@pytest.mark.parametrize(("text", "message"), [
    ("claimed:\n  P11-99: any\n", "P11-99 is not in the requirements catalogue"),
    ("claimed:\n  P11-05: any\nnot_claimed:\n  P11-05: a reason long enough\n",
     "P11-05 is both claimed and not claimed"),
    ("claimed:\n  P11-05: [sqlite, oracle]\n", "backends must be 'any' or a list"),
    ("not_claimed:\n  P11-20: later\n", "P11-20 needs a reason"),
    ("claims:\n  P11-05: any\n", "the keys are 'claimed' and 'not_claimed'"),
    ("claimed: [P11-05\n", "not YAML"),
])
def test_a_bad_scope_file_is_refused_naming_the_problem(text, message):
    with pytest.raises(ScopeError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_scope("widgets", Path("widgets/requirements.yaml"), text)


def _test(rid, outcome, backend, name="t"):
    return {"test": f"tests/x.py::{name}", "outcome": outcome, "requirements": [rid],
            "backend": backend, "browser": False, "duration": 0.1, "detail": ""}


def _trace(tests, claimed):
    scope = Scope("widgets", Path("w.yaml"), claimed=claimed)
    return build_trace({"format": FORMAT, "tests": tests}, [scope])


def test_a_claim_is_proven_only_by_passing_tests_on_each_backend_it_names():
    both = ("sqlite", "postgresql")
    trace = _trace([_test("P11-05", "passed", "sqlite"), _test("P11-05", "passed", "postgresql"),
                    _test("P11-06", "passed", "sqlite"),
                    _test("P11-07", "passed", "sqlite"), _test("P11-07", "failed", "postgresql"),
                    _test("P11-08", "skipped", "none")],
                   {"P11-05": both, "P11-06": both, "P11-07": ("sqlite",), "P11-08": ("any",)})
    status = {row.requirement.id: row.status for row in trace.rows}
    assert status["P11-05"] == PROVEN
    assert status["P11-06"] == status["P11-07"] == status["P11-08"] == UNPROVEN
    assert status["P11-09"] == NOT_CLAIMED  # tested or not, nobody claims it
    gaps = trace.unproven_claims()
    assert "P11-06 (claimed by widgets): no passing test on postgresql" in gaps
    assert "P11-07 (claimed by widgets): failed: tests/x.py::t" in gaps
    # A run without a PostgreSQL server checks the SQLite half only (make test on a laptop).
    scope = Scope("widgets", Path("w.yaml"), claimed={"P11-06": both})
    partial = build_trace({"format": FORMAT, "tests": [_test("P11-06", "passed", "sqlite")]},
                          [scope], untested=frozenset({"postgresql"}))
    assert next(r for r in partial.rows if r.requirement.id == "P11-06").status == PROVEN
    row = next(r for r in trace.rows if r.requirement.id == "P11-07")
    assert (row.result_on("sqlite"), row.result_on("postgresql"), row.result_on("none")) == (
        "passed 1", "failed 1 of 1", "-")


def test_the_inventory_lists_core_and_plugins_with_checksums_that_follow_the_files(tmp_path):
    items = {item["key"]: item for item in inventory()}
    assert {"core", "documents", "training"} <= set(items)
    assert all(len(item["sha256"]) == 64 for item in items.values())
    from core.validation.inventory import tree_sha256

    (tmp_path / "a.py").write_text("x = 1\n")
    before = tree_sha256(tmp_path)
    (tmp_path / "a.py").write_text("x = 2\n")
    assert tree_sha256(tmp_path) != before


SAMPLE = '''
import pytest

@pytest.mark.req("P11-05", "P11-06")
@pytest.mark.backends("sqlite")
def test_kept(cqms_backend, database_url):
    assert cqms_backend == "sqlite"

@pytest.mark.req("SEC-05")
def test_broken():
    assert 1 == 2, "refused"

@pytest.mark.browser
@pytest.mark.req("SEC-10")
def test_skipped():
    pytest.skip("no chromium here")
'''


def _run_pytest(tmp_path, *options):
    """Run SAMPLE in a fresh pytest, as CI does (every backend's claims are checked)."""
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {**os.environ, "CQMS_TEST_REQUIRE_SERVICES": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path / "test_sample.py"), f"--rootdir={tmp_path}", *options],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.mark.req("P11-01")
@pytest.mark.parametrize("parallel", [(), ("--numprocesses=2",)], ids=["serial", "two-workers"])
def test_the_results_file_records_outcome_requirements_and_backend_and_enforce_fails(
        tmp_path, parallel):
    out = tmp_path / "reports" / "results.json"
    run = _run_pytest(tmp_path, f"--validation-results={out}", "--validation-enforce", *parallel)
    assert run.returncode == 1, run.stdout + run.stderr
    document = json.loads(out.read_text())
    assert document["format"] == FORMAT
    assert document["environment"]["python"] == sys.version.split()[0]
    tests = {t["test"].rpartition("::")[2]: t for t in document["tests"]}
    assert tests["test_kept[sqlite]"] | {"duration": 0} == {
        "test": "test_sample.py::test_kept[sqlite]", "outcome": "passed",
        "requirements": ["P11-05", "P11-06"], "backend": "sqlite", "browser": False,
        "duration": 0, "detail": ""}
    assert tests["test_broken"]["outcome"] == "failed"
    assert "refused" in tests["test_broken"]["detail"]
    assert (tests["test_skipped"]["outcome"], tests["test_skipped"]["browser"],
            tests["test_skipped"]["backend"]) == ("skipped", True, "none")
    # Enforcement names what the real scope files claim and this tiny run does not prove.
    assert "claimed but not proven: P11-05 (claimed by core" in run.stdout


def test_without_the_options_no_results_are_written(tmp_path):
    run = _run_pytest(tmp_path)
    assert run.returncode == 1  # test_broken fails; nothing else happens
    assert not list(tmp_path.rglob("*.json"))


def _results_file(tmp_path, tests):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({
        "format": FORMAT, "finished_at": "2026-12-05T02:00:00+00:00",
        "environment": {"commit": "abc123def4567890", "python": "3.11.2",
                        "implementation": "CPython", "platform": "Linux",
                        "postgresql": "PostgreSQL 15.14", "pytest": "8.3"},
        "inventory": inventory(), "tests": tests}))
    return path


@pytest.mark.plugins("documents")
@pytest.mark.req("P11-01")
def test_the_summary_report_shows_the_trace_environment_and_deviations(app, run_cqms, tmp_path):
    tests = [_test("P11-05", "passed", "sqlite", "test_entry_per_field[sqlite]"),
             _test("P11-05", "passed", "postgresql", "test_entry_per_field[postgresql]"),
             {**_test("SEC-05", "failed", "sqlite", "test_sort_allow_list"),
              "detail": "AssertionError: 500 != 400"}]
    results = _results_file(tmp_path, tests)
    html, pdf = tmp_path / "summary.html", tmp_path / "summary.pdf"
    status, out, err = run_cqms("validation", "report", "--results", str(results),
                            "--html", str(html), "--pdf", str(pdf))
    assert status == 0, err
    assert out.startswith("validation: 115 requirements, ")
    page = html.read_text()
    documents = app.extensions["cqms"].host.plugins["documents"].title
    for text in ("Validation summary", "abc123def456", "PostgreSQL 15.14", documents,
                 "tests/x.py::test_entry_per_field[postgresql]", "AssertionError: 500 != 400"):
        assert text in page
    pdf_text = "".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert "Trace matrix" in pdf_text and "P11-05" in pdf_text and "Deviations" in pdf_text


@pytest.mark.req("SEC-13")
@pytest.mark.parametrize(("content", "message"), [
    (None, "No such file"), ("{not json", "is not JSON"),
    ('{"format": "other"}', "is not a CQMS validation results file"),
    ('{"format": "cqms-validation-results/1", "tests": [{"test": 1}]}', "test 1 lacks"),
    ('{"format": "cqms-validation-results/1", "tests": []}', "'environment' or 'inventory' is missing"),
])
def test_a_bad_results_file_is_one_readable_line_and_exit_2(run_cqms, tmp_path, content,
                                                            message):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    status, out, err = run_cqms("validation", "report", "--results", str(path))
    assert status == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err


# -- the summary as a controlled record, approved by QA; the plugin gate (E6-21) --------------


def _passing_results(tmp_path):
    """A results file in which every claimed ID is proven on the backends claimed."""
    tests = []
    for scope in load_scopes():
        for rid, backends in scope.claimed.items():
            for backend in (("none",) if backends == ("any",) else backends):
                tests.append(_test(rid, "passed", backend, f"test_{rid}[{backend}]"))
    return _results_file(tmp_path, tests)


@pytest.fixture
def quinn(make_user):
    from core import attest
    from core.testing import DEFAULT_PASSWORD

    user = make_user("quinn", "qa_manager", full_name="Quinn Quality")
    attest(user, DEFAULT_PASSWORD)
    from core.db import db

    db.session.commit()
    return user


def _record(run_cqms, results, owner="quinn"):
    return run_cqms("validation", "record", "--results", str(results), "--owner", owner)


@pytest.mark.req("A11-02", "ISO-22")
@pytest.mark.backends("sqlite", "postgresql")
def test_a_summary_is_recorded_with_its_pdf_and_approved_with_a_signature(
        app, run_cqms, tmp_path, quinn):
    from core import SignatureRequest, attachments_of, signatures_of, transition
    from core.db import db
    from core.testing import DEFAULT_PASSWORD
    from core.validation.models import ValidationSummary

    status, out, err = _record(run_cqms, _passing_results(tmp_path))
    assert status == 0, err
    assert out.startswith("created VAL-0001 (")
    summary = db.session.query(ValidationSummary).one()
    assert (summary.state, summary.owner_id, summary.tests_failed) == ("draft", quinn.id, 0)
    assert summary.commit == "abc123def4567890" and len(summary.results_sha256) == 64
    assert summary.covers(next(i for i in inventory() if i["key"] == "documents"))
    [pdf] = attachments_of(summary)
    assert pdf.media_type == "application/pdf"
    from sqlalchemy import select

    from core.audit.models import AuditEntry

    entry = db.session.scalars(select(AuditEntry).where(
        AuditEntry.entity_id == str(summary.id), AuditEntry.field == "tests_passed")).one()
    assert (entry.action, entry.reason, entry.new_value) == (
        "create", "Built from a test run", str(summary.tests_passed))  # on the trail from birth
    transition(summary, "approve", quinn, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    [signature] = signatures_of(summary, valid_only=True)
    assert (summary.state, signature.meaning, signature.content_hash) == (
        "approved", "approved", summary.content_hash)


@pytest.mark.req("A11-02")
def test_a_summary_with_failures_cannot_be_approved_only_rejected_with_a_reason(
        app, run_cqms, tmp_path, quinn):
    from core import SignatureRequest, ValidationError, WorkflowError, transition
    from core.db import db
    from core.testing import DEFAULT_PASSWORD
    from core.validation.models import ValidationSummary

    results = _results_file(tmp_path, [_test("P11-05", "failed", "sqlite")])
    assert _record(run_cqms, results)[0] == 0
    summary = db.session.query(ValidationSummary).one()
    with pytest.raises(WorkflowError, match="tests failed and .* claimed requirements are not "
                                            "proven"):
        transition(summary, "approve", quinn,
                   signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.rollback()
    with pytest.raises(ValidationError):
        transition(summary, "reject", quinn)
    transition(summary, "reject", quinn, reason="P11-05 failed on SQLite")
    db.session.commit()
    assert summary.state == "rejected"


@pytest.mark.req("SEC-13")
def test_recording_refuses_an_unknown_owner_or_a_bad_file_and_writes_nothing(
        app, run_cqms, tmp_path, quinn):
    from core.db import db
    from core.records.models import Record

    status, _, err = _record(run_cqms, _passing_results(tmp_path), owner="nobody")
    assert status == 2 and "nobody" in err and err.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    status, _, err = _record(run_cqms, bad)
    assert status == 2 and "is not a CQMS validation results file" in err
    assert db.session.query(Record).count() == 0


@pytest.mark.plugins("capa", "audits")
@pytest.mark.req("E6-21", "ISO-22")
@pytest.mark.backends("sqlite", "postgresql")
def test_with_validation_required_a_plugin_is_enabled_only_when_an_approved_summary_covers_it(
        app, run_cqms, tmp_path, quinn):
    from core import ConflictError, SignatureRequest, transition
    from core.db import db
    from core.settings import set_setting
    from core.testing import DEFAULT_PASSWORD
    from core.validation.models import ValidationSummary

    host = app.extensions["cqms"].host
    with _as_system():
        host.set_enabled("audits", False, reason="not used yet")
        set_setting("core.validation_required", True)
        db.session.commit()
        with pytest.raises(ConflictError, match="no approved validation summary covers audits"):
            host.set_enabled("audits", True, reason="audits start")
        db.session.rollback()
    assert _record(run_cqms, _passing_results(tmp_path))[0] == 0
    summary = db.session.query(ValidationSummary).one()
    with _as_system(), pytest.raises(ConflictError):  # a draft summary does not count
        host.set_enabled("audits", True, reason="audits start")
    db.session.rollback()
    transition(summary, "approve", quinn, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    with _as_system():
        assert host.set_enabled("audits", True, reason="audits start")
        db.session.commit()


def _as_system():
    from core.cli.context import system_principal

    return system_principal()
