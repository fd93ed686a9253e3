"""``cqms demo`` loads the CAPA demo through ``load_demo_data``, idempotently: a significant
protocol deviation at site 101 investigated and addressed by a CAPA in its effectiveness check,
and a system incident closed (A11-14), every signature valid."""

from __future__ import annotations

import pytest
import test_cli
from test_cli import PASSWORD, query

cqms = test_cli.cqms  # the fixture of the CLI tests

RECORDS = """SELECT r.number, r.state, s.code FROM core_record r
LEFT JOIN core_site s ON s.id = r.site_id WHERE r.type IN ('capa_event', 'capa_capa')
ORDER BY r.number"""


@pytest.mark.req("A11-14")
def test_demo_takes_a_deviation_to_its_effectiveness_check_once(cqms, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CQMS_DEMO_PASSWORD", PASSWORD)
    monkeypatch.setenv("CQMS_PLUGINS", "capa")
    cqms("db", "upgrade")
    status, out, err = cqms("demo")
    assert status == 0, err
    assert "in its effectiveness check" in out and "closed" in out and "stopped" not in out, out
    records = query(cqms, RECORDS)
    states = {number.split("-")[0]: [] for number, _, _ in records}
    for number, state, site in records:
        states[number.split("-")[0]].append((state, site))
    assert states == {"CAPA": [("effectiveness_check", "101")],
                      "QE": [("investigated", "101"), ("closed", None)]}
    assert query(cqms, "SELECT count(*) FROM core_signature WHERE invalidated_at IS NULL") == \
        query(cqms, "SELECT count(*) FROM core_signature")
    status, out, _ = cqms("demo")
    assert status == 0 and "capa: demo events present" in out
    assert query(cqms, RECORDS) == records
