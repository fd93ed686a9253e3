"""A CAPA found not effective and sent back to planning is checked again on its own evidence: the
next check starts without an outcome, cannot be signed on the previous check's result, and the
CAPA is due on its check date while the check runs (due_by_state)."""

from __future__ import annotations

import pytest
from capa_helpers import (
    complete_all,
    edit,
    impact_verified,
    in_check,
    new_capa,
    refused,
    sig,
    step,
    team,
)

from core import signatures_of
from core.due import due_of

pytestmark = pytest.mark.plugins("capa")


@pytest.fixture
def people(app, make_user, system_actor):
    return team(make_user)


@pytest.mark.backends("sqlite", "postgresql")
@pytest.mark.req("ISO-17")
def test_a_second_check_records_its_own_result(people):
    ann, vic, quinn, olga = people["ann"], people["vic"], people["quinn"], people["olga"]
    capa = new_capa(ann)
    in_check(capa, people)
    assert due_of(capa) == capa.check_due_date  # the check is what is due now
    edit(capa, ann, check_result="Old forms found again at visit 2.")
    step(capa, "reopen", vic, signature=sig(), reason="Old forms found again")
    assert capa.previous_check_result == "Old forms found again at visit 2."
    assert due_of(capa) == capa.due_date  # planning again: the actions are due

    impact_verified(capa, ann, olga)
    step(capa, "approve_plan", quinn, signature=sig())
    complete_all(capa)
    step(capa, "start_check", ann)
    assert capa.check_outcome == ""  # no outcome until this check is signed
    refused(capa, "confirm_effective", vic, "still the previous check's", signature=sig())
    edit(capa, ann, check_result="No old form at 3 more visits.")
    step(capa, "confirm_effective", vic, signature=sig())
    assert (capa.state, capa.check_outcome) == ("effective", "effective")
    reopened, confirmed = [s for s in signatures_of(capa)
                           if s.transition in ("reopen", "confirm_effective")]
    assert confirmed.valid  # signed on this check's own result
    assert not reopened.valid  # what it judged (the plan) was changed in the second round
