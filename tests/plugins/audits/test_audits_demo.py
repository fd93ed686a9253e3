"""``cqms demo`` with the CAPA and audits plugins loads the audits demo through
``load_demo_data``, idempotently: an approved programme of the demo study, the site audit of 101
with its report approved, its observation verified and closed and its major finding answered
with a CAPA raised for it, and a planned vendor audit; every signature valid."""

from __future__ import annotations

import pytest
import test_cli
from test_cli import PASSWORD, query

cqms = test_cli.cqms  # the fixture of the CLI tests

RECORDS = """SELECT r.type, r.state, s.code, r.number FROM core_record r
LEFT JOIN core_site s ON s.id = r.site_id WHERE r.type LIKE 'audits_%' ORDER BY r.id"""
AUDITS = "SELECT a.audit_type, a.auditee, r.state FROM audits_audit a JOIN core_record r " \
         "ON r.id = a.id ORDER BY a.id"
FINDINGS = "SELECT f.classification, r.state, r.number FROM audits_finding f JOIN core_record r " \
           "ON r.id = f.id ORDER BY f.id"
RAISED = """SELECT l.kind, s.type, s.state FROM core_record_link l
JOIN core_record s ON s.id = l.source_id JOIN core_record t ON t.id = l.target_id
WHERE t.number = '{number}'"""


@pytest.mark.req("E6-08", "ISO-12", "ISO-14")
def test_demo_loads_the_programme_and_its_audits_once(cqms, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CQMS_DEMO_PASSWORD", PASSWORD)
    monkeypatch.setenv("CQMS_PLUGINS", "capa,audits")
    cqms("db", "upgrade")
    status, out, err = cqms("demo")
    assert status == 0, err
    assert "audits: AP-" in out and "report approved" in out and "stopped" not in out, out
    records = query(cqms, RECORDS)
    assert [(t, s) for t, s, _, _ in records] == [
        ("audits_programme", "approved"), ("audits_audit", "report_approved"),
        ("audits_audit", "planned"), ("audits_finding", "responded"),
        ("audits_finding", "closed")]
    assert [site for _, _, site, _ in records] == [None, "101", None, "101", "101"]
    assert query(cqms, AUDITS) == [
        ("investigator_site", "Site 101 Berlin", "report_approved"),
        ("vendor", "EuroLab GmbH (central lab)", "planned")]
    (major, major_state, major_number), (observation, obs_state, _) = query(cqms, FINDINGS)
    assert (major, major_state, observation, obs_state) == (
        "major", "responded", "observation", "closed")
    assert query(cqms, RAISED.format(number=major_number)) == [
        ("capa_addresses", "capa_capa", "planning")]
    plan = query(cqms, "SELECT plan FROM audits_programme")[0][0]
    assert "Site 101 Berlin" in plan and "EuroLab GmbH" in plan
    signed = query(cqms, "SELECT r.type, g.transition FROM core_signature g JOIN core_record r "
                         "ON r.id = g.record_id WHERE r.type LIKE 'audits_%' ORDER BY g.id")
    assert signed == [("audits_programme", "approve"), ("audits_audit", "approve_report"),
                      ("audits_finding", "verify_and_close")]
    assert query(cqms, "SELECT count(*) FROM core_signature WHERE invalidated_at IS NULL") == \
        query(cqms, "SELECT count(*) FROM core_signature")
    assert query(cqms, "SELECT count(*) FROM audits_checklist_answer WHERE answer = ''") == [(0,)]
    status, out, _ = cqms("demo")
    assert status == 0 and "audits: demo programme present" in out, out
    assert query(cqms, RECORDS) == records
