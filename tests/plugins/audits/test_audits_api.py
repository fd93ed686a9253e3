"""Findings through the core records API: raised only while their audit is audited, in its study
and site (another site in the body is refused), bad values as 422 naming the field, and out of scope as 404;
answered and closed with a signature through the record's transitions."""

from __future__ import annotations

import pytest
from audits_helpers import new_audit, started, studies, team

from core import db
from core.testing import DEFAULT_PASSWORD
from core.testing_api import ApiCaller, ok, problem
from plugins.audits.models import Finding

pytestmark = pytest.mark.plugins("audits")
FINDINGS = "/records/audits_finding"


@pytest.fixture
def people(app, make_user, system_actor):
    return team(make_user)


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.req("ISO-14")
def test_a_finding_is_raised_answered_and_closed_through_the_records_api(client, people,
                                                                          make_user):
    berlin, lyon = studies()
    aud = people["aud"]
    audit = new_audit(aud, study_id=berlin.study_id, site_id=berlin.id)
    api = ApiCaller(client, "aud")
    body = {"title": "Old ICF used", "audit_id": audit.id, "classification": "major",
            "evidence": "Two subjects on ICF v3."}

    problem(api.post(FINDINGS, json=body), 409)  # the audit has not started
    started(audit, people)
    problem(api.post(FINDINGS, json={**body, "classification": "catastrophic"}), 422,
            "classification")
    problem(api.post(FINDINGS, json={**body, "audit_id": None}), 422, "audit_id")
    problem(api.post(FINDINGS, json={**body, "responded_at": "2026-01-01T00:00:00Z"}), 422,
            "responded_at")  # set by the response, never by a caller

    problem(api.post(FINDINGS, json={**body, "site_id": lyon.id}), 422, "site_id")
    assert db.session.query(Finding).count() == 0  # nothing written by a refused request
    created = ok(api.post(FINDINGS, json=body), 201)  # in its audit's study and site
    found = db.session.get(Finding, created["id"])
    assert (found.site_id, found.study_id, found.state) == (berlin.id, berlin.study_id, "open")
    assert found.number.startswith("FND-") and found.response_due is not None

    url = f"{FINDINGS}/{found.id}"

    def change(**values):  # type: ignore[no-untyped-def]
        version = ok(api.get(url))["version"]
        return ok(api.patch(url, json=values, headers={"If-Match": f'"{version}"'}))

    change(response="Old copies withdrawn.", proposed_actions="Withdraw old ICFs.")
    ok(api.post(f"{url}/transitions/respond", json={}))
    db.session.expire_all()
    assert found.state == "responded" and found.verification_due is not None
    change(verification="Checked at the next visit: v4 only.", reason="Verified at the visit")
    ok(api.post(f"{url}/transitions/verify_and_close",
                json={"signature": {"password": DEFAULT_PASSWORD}}))
    db.session.expire_all()
    assert found.state == "closed" and found.verified_at is not None

    # Another site's auditor does not see it; a user without audits rights is refused.
    make_user("lea", "auditor", site=lyon)
    problem(ApiCaller(client, "lea").get(url), 404)
    problem(ApiCaller(client, "sam").get(url), 403)
