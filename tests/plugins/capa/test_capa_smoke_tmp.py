import pytest
from capa_helpers import team, new_event, investigated, new_capa, effective, step, sig, tasks, all_capas
pytestmark = pytest.mark.plugins("capa")

def test_smoke(app, make_user, system_actor):
    p = team(make_user)
    e = new_event(p["ann"], significant=True)
    print(e.number, e.similar_found, e.due_date, e.reported_at)
    investigated(e, p["ann"])
    c = new_capa(p["ann"], e)
    effective(c, p)
    step(c, "close", p["quinn"], signature=sig())
    step(e, "close", p["quinn"], signature=sig())
    print(c.state, e.state, c.action_plan, [ (t.kind, t.state) for t in tasks(c)])
