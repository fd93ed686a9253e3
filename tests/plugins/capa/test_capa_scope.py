"""Study and site scope on the CAPA plugin's own paths: similar events a reporter is shown come
from what they may read; an action's owner is someone who may see the CAPA."""

from __future__ import annotations

import re

import pytest
from capa_helpers import in_days, new_capa, new_event, studies

from core import ValidationError, db
from plugins.capa import services

pytestmark = pytest.mark.plugins("capa")


@pytest.mark.req("ISO-16")
def test_similar_events_come_from_the_reporter_s_scope(app, make_user, system_actor):
    berlin, lyon = studies()
    sam = make_user("sam", "site_monitor", site=berlin)
    lou = make_user("lou", "site_monitor", site=lyon)
    at_lyon = new_event(lou, site_id=lyon.id)
    at_berlin = new_event(sam, site_id=berlin.id)
    assert at_berlin.similar_found == "none found"  # Lyon's event is not Sam's to see
    again = new_event(sam, site_id=berlin.id)
    assert again.similar_found == at_berlin.number
    assert at_lyon.number not in again.similar_found


def test_an_action_owner_must_be_able_to_see_the_capa(app, make_user, system_actor):
    berlin, lyon = studies()
    sam = make_user("sam", "site_monitor", site=berlin)
    lou = make_user("lou", "site_monitor", site=lyon)
    capa = new_capa(sam, site_id=berlin.id)
    with pytest.raises(ValidationError) as refused:
        services.add_action(capa, sam, kind="corrective", description="Fix it", owner=lou,
                            due_date=in_days(5))
    assert "owner_id" in refused.value.errors
    db.session.rollback()
    assert services.add_action(capa, sam, kind="corrective", description="Fix it", owner=sam,
                               due_date=in_days(5)).owner_id == sam.id


def test_a_site_user_s_report_form_starts_at_their_site(app, client, login, make_user,
                                                        system_actor):
    berlin, _lyon = studies()
    make_user("sam", "site_monitor", site=berlin)
    make_user("quinn", "qa_manager")
    site_id, study_id = berlin.id, berlin.study_id
    login(client, "sam")
    form = client.get("/admin/capa_event/new/").get_data(as_text=True)
    assert re.search(rf'<option selected value="{site_id}">', form), "the site is preselected"
    assert re.search(rf'<option selected value="{study_id}">', form)
    other = app.test_client()
    login(other, "quinn")  # global: no default
    form = other.get("/admin/capa_event/new/").get_data(as_text=True)
    assert not re.search(rf'<option selected value="{site_id}">', form)
