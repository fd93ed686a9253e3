"""``core.users_holding``: the people a plugin may notify or choose by role, in a scope."""

from __future__ import annotations

import pytest

from core import Site, Study, ValidationError, users_holding
from core.db import db

pytestmark = pytest.mark.backends("sqlite", "postgresql")


def test_holders_in_a_scope_are_global_study_and_site_grants_only(app, make_user, system_actor):
    study = Study(code="ST-1", title="Study one")
    berlin, lyon = Site(study=study, code="101", name="Berlin"), Site(study=study, code="102",
                                                                     name="Lyon")
    db.session.add_all([study, berlin, lyon])
    db.session.commit()
    everywhere = make_user("gina", "qa_manager")
    at_berlin = make_user("bert", "qa_manager", site=berlin)
    at_lyon = make_user("lea", "qa_manager", site=lyon)
    for_study = make_user("stu", "qa_manager", study=study)
    make_user("ann", "author")
    gone = make_user("old", "qa_manager")
    gone.active = False
    db.session.commit()
    names = lambda users: sorted(u.username for u in users)  # noqa: E731
    assert names(users_holding("qa_manager")) == names([everywhere, at_berlin, at_lyon, for_study])
    assert names(users_holding("qa_manager", study=study, site=berlin)) == ["bert", "gina", "stu"]
    assert names(users_holding("qa_manager", site=lyon.id)) == ["gina", "lea"]
    with pytest.raises(ValidationError, match="Unknown role"):
        users_holding("nobody")
