"""With document control enabled too: a CAPA action "revise the SOP" names the new SOP version
it produced; the CAPA links to it (*resulted in*) and the version shows the CAPA it results
from, through the core's links only (neither plugin names the other's records)."""

from __future__ import annotations

import pytest
from capa_helpers import edit, new_capa, sig, step, team

from core import db, linked
from plugins.capa import queries, services
from plugins.documents.services import create_document, create_version, seed_types

pytestmark = pytest.mark.plugins("capa", "documents")


@pytest.mark.req("ISO-19")
def test_an_action_links_the_sop_version_it_produced(app, make_user, system_actor):
    people = team(make_user)
    seed_types()
    document = create_document(people["olga"], title="Informed consent process",
                               type_code="SOP")
    db.session.commit()
    version = create_version(document, people["olga"])
    db.session.commit()
    capa = new_capa(people["ann"])
    services.add_action(capa, people["ann"], kind="corrective", description="Revise the SOP",
                        owner=people["olga"], due_date=capa.due_date)
    db.session.commit()
    edit(capa, people["ann"], impact_assessment="No effect on subject safety.")
    step(capa, "verify_impact", people["ann"], signature=sig())
    step(capa, "approve_plan", people["quinn"], signature=sig())
    [action] = queries.actions_of(capa)
    services.complete_action(action, people["olga"], evidence="SOP revised", result=version)
    db.session.commit()
    assert action.result_record_id == version.id
    assert linked(capa, queries.RESULTED_IN, direction="out") == [version]
    assert linked(version, queries.RESULTED_IN, direction="in") == [capa]
