"""The audits pages through the test client: the audit page (team, checklist, answers, a finding
raised from an answer), the programme page (planning with the auditee's history, scheduling),
the report PDF (audited export), the calendar and the dashboard card; every form a POST with its
CSRF token, another site's records 404."""

from __future__ import annotations

import pytest
from audits_helpers import (
    audit_entries,
    in_days,
    new_audit,
    new_programme,
    new_template,
    plan,
    raise_one,
    reported,
    sig,
    started,
    step,
    studies,
    switch,
    team,
    text,
)

from core import db
from core.testing import csrf_token, post_with_token
from plugins.audits import queries
from plugins.audits.models import Audit

pytestmark = pytest.mark.plugins("audits")


@pytest.fixture
def people(app, make_user, system_actor):
    return team(make_user)


def test_the_audit_page_sets_the_team_and_checklist_then_answers_and_raises(client, login,
                                                                             people):
    aud, sam = people["aud"], people["sam"]
    audit = new_audit(aud)
    template = new_template()
    url = f"/audits/audits/{audit.id}"
    login(client, "aud")
    page = text(client.get(url))
    assert 'id="add-member"' in page and 'id="load-checklist"' in page
    assert "Mini checklist mini (v1)" in page and "No checklist loaded." in page
    token = csrf_token(client, url)
    for person, role in ((aud, "lead"), (sam, "auditee")):
        added = client.post(f"{url}/team", data={"csrf_token": token, "user_id": str(person.id),
                                                 "role": role})
        assert added.status_code == 302 and added.headers["Location"].endswith(f"{url}#team")
    again = client.post(f"{url}/team", data={"csrf_token": token,
                                             "user_id": str(people["ada"].id),
                                             "role": "lead"}, follow_redirects=True)
    assert "Nothing was saved" in text(again) and "lead auditor already" in text(again)
    assert client.post(f"{url}/team", data={"user_id": str(sam.id), "role": "auditor"}
                       ).status_code == 400  # no token
    assert [(m.user_id, m.role) for m in queries.team_of(audit)] == [(aud.id, "lead"),
                                                                   (sam.id, "auditee")]
    loaded = client.post(f"{url}/checklist", data={"csrf_token": token,
                                                   "template_id": str(template.id)},
                         follow_redirects=True)
    assert "checklist loaded" in text(loaded)
    first, second, third = queries.answers_of(audit)
    page = text(client.get(url))
    assert "Is the current ICF in use?" in page and 'id="load-checklist"' not in page
    assert "Aud Tester" in page and "Auditee" in page
    assert f'action="/audits/answers/{first.id}"' not in page  # answered once it starts

    step(audit, "start", aud)
    page = text(client.get(url))
    assert 'id="add-member"' not in page and f'action="/audits/answers/{first.id}"' in page
    saved = client.post(f"/audits/answers/{first.id}", data={
        "csrf_token": token, "answer": "conforms", "note": "ICF v4 in use."})
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"#answer-{first.id}")
    raised = client.post(f"/audits/answers/{second.id}", data={
        "csrf_token": token, "answer": "finding", "note": "Two entries signed late.",
        "classification": "minor", "finding_title": "Delegation log signed late"},
        follow_redirects=True)
    assert "answer saved and finding raised" in text(raised)
    refused = client.post(f"/audits/answers/{third.id}", data={
        "csrf_token": token, "answer": "finding", "note": "IP too warm.",
        "classification": "dreadful", "finding_title": "IP out of range"}, follow_redirects=True)
    assert "Nothing was saved" in text(refused)
    db.session.expire_all()
    [found] = queries.findings_of(audit)
    assert (found.title, found.classification, found.evidence, found.requirement_ref) == (
        "Delegation log signed late", "minor", "Two entries signed late.", second.question)
    assert (first.answer, first.note) == ("conforms", "ICF v4 in use.")
    assert (second.answer, second.finding_id) == ("finding", found.id)
    assert (third.answer, third.finding_id) == ("", None)  # nothing kept of the refused one
    page = text(client.get(url))
    assert found.number in page and f'action="/audits/answers/{second.id}"' not in page


@pytest.mark.req("ISO-12", "E6-08")
def test_the_programme_page_plans_with_the_auditees_history_and_schedules(client, login,
                                                                          people):
    aud, quinn = people["aud"], people["quinn"]
    earlier = started(new_audit(aud, title="Last year's audit", days=-200), people)
    raise_one(earlier, aud)
    programme = new_programme(aud)
    url = f"/audits/programmes/{programme.id}"
    login(client, "aud")
    page = text(client.get(url))
    assert "No audit planned yet." in page and 'id="plan-audit"' in page
    token = csrf_token(client, url)
    planned = client.post(f"{url}/plan", data={
        "csrf_token": token, "audit_type": "investigator_site", "auditee": "Site 101 Berlin",
        "risk": "high", "rationale": "Open findings from last year.",
        "planned_date": in_days(40).isoformat(), "lead_id": str(people["ada"].id)},
        follow_redirects=True)
    assert "audit planned" in text(planned)
    bad = client.post(f"{url}/plan", data={
        "csrf_token": token, "audit_type": "vendor", "auditee": "EuroLab", "risk": "high",
        "rationale": "New.", "planned_date": "someday"}, follow_redirects=True)
    assert "Nothing was saved" in text(bad)
    [row] = queries.planned_audits(programme)
    assert (row.auditee, row.risk, row.planned_date, row.lead_id) == (
        "Site 101 Berlin", "high", in_days(40), people["ada"].id)
    page = text(client.get(url))
    assert f'<option value="{quinn.id}">' not in page  # QA does not conduct: not offered
    assert "<td>Ada Tester (ada)</td>" in page
    assert f"1 earlier audit(s), last {earlier.number}" in page
    assert 'class="badge badge-warning">1 open finding(s)' in page
    assert f'id="schedule-{row.id}"' not in page  # not approved yet
    step(programme, "approve", quinn, signature=sig())
    page = text(client.get(url))
    assert 'id="plan-audit"' not in page and f'id="schedule-{row.id}"' in page
    scheduled = client.post(f"/audits/planned/{row.id}/schedule",
                            data={"csrf_token": token}, follow_redirects=True)
    assert "The audit is scheduled." in text(scheduled)
    db.session.expire_all()
    scheduled_audit = db.session.get(Audit, row.audit_id)
    assert scheduled_audit.auditee == "Site 101 Berlin"
    assert [(m.user_id, m.role) for m in queries.team_of(scheduled_audit)] == [
        (people["ada"].id, "lead")]
    again = client.post(f"/audits/planned/{row.id}/schedule", data={"csrf_token": token},
                        follow_redirects=True)
    assert "scheduled already" in text(again)
    assert db.session.query(Audit).count() == 2


def test_the_report_pdf_is_an_audited_export(client, login, people):
    aud, quinn = people["aud"], people["quinn"]
    audit = reported(started(new_audit(aud), people), people)
    step(audit, "approve_report", quinn, signature=sig())
    login(client, "ivan")  # an inspector may read and print it
    url = f"/audits/audits/{audit.id}/report.pdf"
    assert client.post(url, data={}).status_code in (302, 400)  # no token, no PDF
    assert audit_entries("export", "audits_report_pdf") == []
    printed = post_with_token(client, url)
    assert printed.status_code == 200 and printed.mimetype == "application/pdf"
    assert printed.data.startswith(b"%PDF")
    assert f"{audit.number}-report.pdf" in printed.headers["Content-Disposition"]
    [entry] = audit_entries("export", "audits_report_pdf")
    assert (entry.entity_id, entry.entity_version) == (str(audit.id), audit.version)
    assert entry.actor_id == people["ivan"].id
    assert f"audit report of {audit.number}: 0 findings" in entry.new_value
    assert "sha256" in entry.new_value


def test_the_calendar_and_dashboard_show_audits_in_the_viewers_scope(client, login, people,
                                                                     make_user):
    aud = people["aud"]
    berlin, lyon = studies()
    here = new_audit(aud, title="Berlin audit", days=10, study_id=berlin.study_id,
                     site_id=berlin.id)
    there = new_audit(aud, title="Lyon audit", days=12, study_id=lyon.study_id, site_id=lyon.id)
    overdue = new_audit(aud, title="Late audit", days=-400, study_id=berlin.study_id,
                        site_id=berlin.id)
    found = raise_one(started(new_audit(aud, title="Audited", days=0, study_id=berlin.study_id,
                                        site_id=berlin.id), people), aud, classification="major")
    make_user("bert", "auditor", site=berlin)
    login(client, "aud")
    page = text(client.get("/audits/calendar"))
    assert here.number in page and there.number in page and overdue.number not in page
    assert in_days(10).strftime("%Y-%m") in page
    dashboard = text(client.get("/admin/"))
    assert 'id="widget-audits"' in dashboard and 'id="audits-calendar-link"' in dashboard
    assert 'id="audits-open-findings">1<' in dashboard and "1 overdue" in dashboard
    assert "Site 101 Berlin" in dashboard  # the auditee with most open findings
    switch(client, login, "bert")
    page = text(client.get("/audits/calendar"))
    assert here.number in page and there.number not in page
    dashboard = text(client.get("/admin/"))
    assert 'id="audits-open-findings">1<' in dashboard and found.site_id == berlin.id
    switch(client, login, "sam")  # holds no audits permission
    assert client.get("/audits/calendar").status_code == 403


@pytest.mark.req("E6-08")
def test_another_sites_user_gets_404_on_the_audits_pages(client, login, people, make_user):
    aud = people["aud"]
    berlin, lyon = studies()
    programme = new_programme(aud, study_id=berlin.study_id, site_id=berlin.id)
    row = plan(programme, aud)
    audit = started(new_audit(aud, study_id=berlin.study_id, site_id=berlin.id), people)
    answer = queries.answers_of(audit)[0]
    found = raise_one(audit, aud)
    make_user("leo", "auditor", site=lyon)
    login(client, "leo")
    for url in (f"/audits/audits/{audit.id}", f"/audits/programmes/{programme.id}",
                f"/admin/audits_finding/details/?id={found.id}"):
        assert client.get(url).status_code == 404, url
    token = csrf_token(client, "/audits/calendar")
    for url, data in ((f"/audits/audits/{audit.id}/report.pdf", {}),
                      (f"/audits/audits/{audit.id}/team", {"user_id": "1", "role": "auditor"}),
                      (f"/audits/answers/{answer.id}", {"answer": "finding", "note": "x"}),
                      (f"/audits/programmes/{programme.id}/plan", {"auditee": "X"}),
                      (f"/audits/planned/{row.id}/schedule", {})):
        assert client.post(url, data={"csrf_token": token, **data}).status_code == 404, url
    assert audit_entries("export", "audits_report_pdf") == []
    db.session.expire_all()
    assert answer.answer == "" and len(queries.team_of(audit)) == 2
    assert audit.number not in text(client.get("/audits/calendar"))


def test_the_auditee_history_keeps_to_the_viewers_scope(client, login, people, make_user):
    aud = people["aud"]
    berlin, lyon = studies()
    elsewhere = started(new_audit(aud, title="Study one's lab audit", auditee="EuroLab GmbH",
                                  study_id=berlin.study_id, site_id=berlin.id), people)
    raise_one(elsewhere, aud)
    make_user("leo", "auditor", site=lyon)
    programme = new_programme(aud, study_id=lyon.study_id, site_id=lyon.id)
    plan(programme, aud, auditee="EuroLab GmbH", audit_type="vendor")
    login(client, "leo")
    assert client.get(f"/audits/audits/{elsewhere.id}").status_code == 404
    page = text(client.get(f"/audits/programmes/{programme.id}"))
    assert elsewhere.number not in page
    assert "0 earlier audit(s)" in page and "0 open finding(s)" in page
