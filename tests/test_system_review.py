"""The periodic system review (A11-11, E6-23): a report for a period of the configuration
changes, plugin installs and upgrades, system incidents and issues with their open CAPAs (from
the CAPA plugin through ``system_review_items``), the access and audit-trail review status and
the validation results; by API, as an HTML page, and as the scheduled, signed System review."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import SignatureRequest, attest, audit_reason, signatures_of, transition, update_record
from core.audit.context import acting_as
from core.cli.context import system_principal
from core.db import db, utcnow
from core.records.rules import server_write
from core.records.service import create_record
from core.reviews.models import PeriodicReview
from core.reviews.workflow import open_due_reviews
from core.settings import set_setting
from core.testing import DEFAULT_PASSWORD, login
from core.testing_api import ApiCaller, ok, problem
from core.users.models import User

pytestmark = [pytest.mark.backends("sqlite", "postgresql")]
URL = "/system/periodic-review"


def _period(days_back=30):
    today = utcnow().date()
    return {"from": (today - timedelta(days=days_back)).isoformat(), "to": today.isoformat()}


def _sections(body):
    return {part["title"]: part for part in body["sections"]}


def _sweep(now):
    with system_principal():
        open_due_reviews(now)
        db.session.commit()
    return db.session.scalars(select(PeriodicReview).where(PeriodicReview.kind == "system")
                              .order_by(PeriodicReview.id.desc())).first()


def _event(user, title, category):
    event = create_record("capa_event", user, title=title, category=category,
                          description="What happened.", severity="minor")
    db.session.commit()
    return event


def _summary(user, title, components, failed=0):
    with server_write("core_validation_summary"):
        summary = create_record("core_validation_summary", user, title=title,
                                components=components, tests_passed=120, tests_failed=failed,
                                requirements_proven=40, requirements_unproven=2)
    db.session.commit()
    return summary


@pytest.mark.plugins("capa")
@pytest.mark.req("A11-11", "E6-23")
def test_the_report_lists_the_periods_changes_incidents_capas_reviews_and_validation(
        app, client, make_user):
    from plugins.capa import queries

    quinn = make_user("quinn", "qa_manager", full_name="Quinn Quality")
    inside = _event(quinn, "eTMF unreachable for two hours", "system_incident")
    issue = _event(quinn, "Users cannot reset passwords", "system_issue")
    deviation = _event(quinn, "Consent on an old form", "deviation")
    outside = _event(quinn, "Old outage", "system_incident")
    with system_principal(), server_write("capa_event"):  # reported long before the period
        outside.reported_at = utcnow() - timedelta(days=400)
        db.session.commit()
    capa = create_record("capa_capa", quinn, title="Monitor the eTMF certificate",
                         category="system_incident", problem_statement="Certificate expired.")
    from core import link_records
    link_records(capa, inside, queries.ADDRESSES, quinn, reason="test")
    db.session.commit()
    with acting_as(quinn), audit_reason("Monthly is too often"):
        set_setting("core.audit_review_days", 45)
        db.session.commit()
    _summary(quinn, "Release 1", "core 1.0 aaa\ncapa 1.0 bbb")
    latest = _summary(quinn, "Release 2", "core 1.0 aaa\ncapa 1.1 ccc\naudits 1.0 ddd")

    body = ok(ApiCaller(client, "quinn").get(URL, query_string=_period()))
    sections = _sections(body)
    incidents = "\n".join(sections["System incidents and system issues reported in the period"]
                          ["lines"])
    assert inside.number in incidents and "eTMF unreachable" in incidents
    assert issue.number in incidents and "System issue (helpdesk)" in incidents  # E6-23
    assert outside.number not in incidents and deviation.number not in incidents
    capas = sections["Open CAPAs on the system"]
    assert capas["flagged"] == 1 and capa.number in capas["lines"][0]
    assert inside.number in capas["lines"][0]
    config = sections["Configuration changes (settings, role permissions, plugins enabled or "
                      "disabled)"]
    assert any("setting core.audit_review_days set from its default to 45" in line and
               "Quinn Quality" in line and "Monthly is too often" in line
               for line in config["lines"])
    plugins = "\n".join(sections["Plugin installs and upgrades (validation summaries)"]["lines"])
    assert "capa 1.0 upgraded to 1.1" in plugins and "audits 1.0 installed" in plugins
    assert "Running now:" in plugins
    validation = sections["Validation test results"]
    assert latest.number in validation["lines"][0] and "120 tests passed, 0 failed" in (
        validation["lines"][0]) and validation["flagged"] == 1  # not approved yet
    assert sections["User-access review status"]["lines"] == [
        "No user-access review has been opened yet."]
    # A period before the incident: it is not reported.
    earlier = ok(ApiCaller(client, "quinn").get(URL, query_string={
        "from": (utcnow().date() - timedelta(days=60)).isoformat(),
        "to": (utcnow().date() - timedelta(days=31)).isoformat()}))
    before = _sections(earlier)["System incidents and system issues reported in the period"]
    assert before["lines"] == ["No system incident or system issue reported in the period."]
    assert capa.number in str(_sections(earlier)["Open CAPAs on the system"])  # still open

    # The scheduled System review: the same report as its snapshot, completed and signed.
    review = _sweep(utcnow())
    assert review.title.startswith("System review to ")
    assert inside.number in review.snapshot and issue.number in review.snapshot
    assert outside.number not in review.snapshot and deviation.number not in review.snapshot
    assert "== Open CAPAs on the system (1 to check)" in review.snapshot
    assert review.flagged >= 3
    assert review.period_end - review.period_start == timedelta(days=365)
    attest(quinn, DEFAULT_PASSWORD)
    update_record(review, quinn, expected_version=review.version, reason="Review done",
                  outcome="One incident, CAPA under way; no systemic problem.")
    transition(review, "complete", quinn, signature=SignatureRequest(password=DEFAULT_PASSWORD))
    db.session.commit()
    [signature] = signatures_of(review, valid_only=True)
    assert (review.state, signature.meaning) == ("completed", "reviewed")

    login(client, "quinn")
    details = client.get(f"/admin/core_periodic_review/details/?id={review.id}")
    assert "System review report" in details.get_data(as_text=True)
    page = client.get("/reviews/system-report", query_string=_period())
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Open CAPAs on the system" in text
    assert inside.number in text and outside.number not in text


@pytest.mark.plugins()
@pytest.mark.req("A11-11")
def test_without_the_capa_plugin_the_report_says_so_and_bad_input_is_refused(
        app, client, make_user):
    make_user("quinn", "qa_manager")
    make_user("alice", "author")
    quinn = ApiCaller(client, "quinn")
    body = ok(quinn.get(URL, query_string=_period()))
    sections = _sections(body)
    assert "System incidents and system issues reported in the period" not in sections
    assert "not enabled" in sections["System incidents, issues and CAPAs"]["lines"][0]
    assert sections["Validation test results"]["lines"] == ["No validation summary recorded yet."]
    assert sections["Audit-trail review status"]["flagged"] == 1
    config = sections["Configuration changes (settings, role permissions, plugins enabled or "
                      "disabled)"]["lines"]  # the roles' permissions declared at installation
    [qa] = [line for line in config if " role QA manager gained " in line]
    assert "View periodic reviews (audit trail, user access)" in qa and "core." not in qa

    problem(quinn.get(URL, query_string={"from": "2026-13-01", "to": "2026-12-01"}), 422, "from")
    problem(quinn.get(URL, query_string={"from": "2026-12-01"}), 422, "to")
    problem(quinn.get(URL, query_string={"from": "2026-12-02", "to": "2026-12-01"}), 422, "to")
    problem(quinn.get(URL, query_string={"from": "2000-01-01", "to": "2026-12-01"}), 422, "from")
    problem(quinn.get(URL, query_string={**_period(), "study": "1"}), 422)
    problem(ApiCaller(client, "alice").get(URL, query_string=_period()), 403)
    assert client.get(f"/api/v1{URL}", query_string=_period()).status_code == 401

    review = _sweep(utcnow())
    assert "not enabled" in review.snapshot

    login(client, "quinn")
    assert "/reviews/system-report" in client.get("/admin/").get_data(as_text=True)  # menu
    page = client.get("/reviews/system-report", query_string=_period())
    assert page.status_code == 200 and "Validation test results" in page.get_data(as_text=True)
    bad = client.get("/reviews/system-report", query_string={"from": "soon", "to": "later"})
    assert bad.status_code == 422 and "Give a date as YYYY-MM-DD" in bad.get_data(as_text=True)
    other = app.test_client()
    login(other, "alice")
    assert other.get("/reviews/system-report").status_code == 403
    assert "/reviews/system-report" not in other.get("/admin/").get_data(as_text=True)


@pytest.mark.req("A11-11")
class TestAPluginAddsItsSection:
    @pytest.fixture
    def app_config(self, temp_plugin):
        def system_review_items(start, end):
            return [{"title": "Interface errors", "flagged": 2,
                     "lines": [f"2 errors from {start:%Y-%m-%d} to {end:%Y-%m-%d}"]}]

        return {"plugins": ["feed"],
                "extra_plugins": {"feed": temp_plugin("feed", system_review_items=system_review_items)}}

    @pytest.mark.backends("sqlite", "postgresql")
    def test_a_plugins_system_review_items_join_the_report_and_the_review(self, app, client,
                                                                          make_user):
        make_user("quinn", "qa_manager")
        body = ok(ApiCaller(client, "quinn").get(URL, query_string={"from": "2026-01-01",
                                                                    "to": "2026-01-31"}))
        part = _sections(body)["Interface errors"]
        assert part == {"title": "Interface errors", "flagged": 2,
                        "lines": ["2 errors from 2026-01-01 to 2026-02-01"]}
        assert "System incidents, issues and CAPAs" not in _sections(body)
        review = _sweep(utcnow())
        assert "== Interface errors (2 to check)" in review.snapshot

        quinn = db.session.scalar(select(User).where(User.username == "quinn"))
        with acting_as(quinn):
            app.extensions["cqms"].host.set_enabled("feed", False, "Feed retired")
            db.session.commit()
        sections = _sections(ok(ApiCaller(client, "quinn").get(URL, query_string=_period())))
        assert "Interface errors" not in sections
        assert "System incidents, issues and CAPAs" in sections
        assert any("plugin feed disabled, by " in line and "(Feed retired)" in line
                   for line in sections["Configuration changes (settings, role permissions, "
                                        "plugins enabled or disabled)"]["lines"])
