"""Due dates proportionate to the problem: an event's from its severity, a CAPA's from its
priority (ISO-20), an action's proposed from the setting or the CAPA's own when sooner."""

from __future__ import annotations

from datetime import timedelta

import pytest
from capa_helpers import new_capa, new_event, team, today

from core import audit_reason, db
from core.settings import set_setting

pytestmark = pytest.mark.plugins("capa")


@pytest.fixture
def people(app, make_user, system_actor):
    return team(make_user)


@pytest.mark.req("ISO-20")
def test_due_dates_follow_severity_and_priority(people):
    ann = people["ann"]
    due = {severity: new_event(ann, title=severity, severity=severity).due_date
           for severity in ("minor", "major", "critical")}
    assert due == {"minor": today() + timedelta(days=30), "major": today() + timedelta(days=20),
                   "critical": today() + timedelta(days=10)}
    assert new_capa(ann, priority="high").due_date == today() + timedelta(days=30)
    assert new_capa(ann, priority="low").due_date == today() + timedelta(days=90)
    given = today() + timedelta(days=3)
    assert new_event(ann, title="given", due_date=given).due_date == given


def test_the_actions_page_proposes_the_sooner_due_date(client, login, people):
    capa = new_capa(people["ann"], priority="high", due_date=today() + timedelta(days=12))
    capa_id = capa.id
    with audit_reason("test: setting"):
        set_setting("capa.default_due_days", 20)
    db.session.commit()
    login(client, "ann")
    page = client.get(f"/capa/capas/{capa_id}/actions").get_data(as_text=True)
    assert f'value="{(today() + timedelta(days=12)).isoformat()}"' in page
