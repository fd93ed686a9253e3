"""Others' training assignments are visible only where the viewer holds the matrix permission."""

from __future__ import annotations

import pytest
from training_helpers import attested, curriculum, requirement

from core import Role, Site, Study, audit_reason, db, may_read
from core.users.service import assign_role
from plugins.training.models import TrainingAssignment

pytestmark = [pytest.mark.plugins("training"), pytest.mark.backends("sqlite", "postgresql")]


@pytest.mark.req("SEC-02", "ISO-10")
def test_a_site_trainer_sees_that_sites_assignments_and_no_other(app, make_user, system_actor,
                                                                  cqms_backend):
    with audit_reason("test set-up"):
        study = Study(code="ST-1", title="Study 1")
        berlin, lyon = Site(study=study, code="101", name="Berlin"), Site(study=study,
                                                                            code="102", name="Lyon")
        db.session.add_all([study, berlin, lyon])
        db.session.commit()
    qa = make_user("quinn", "qa_manager")
    attested(qa)
    requirement("GCP-101")
    curriculum(qa, "trainee", "GCP-101")
    here = make_user("hana", "trainee", site=berlin)
    there = make_user("theo", "trainee", site=lyon)
    # Reads training everywhere (trainee globally), sees the matrix at Berlin only.
    trainer = make_user("terry", "trainee")
    with audit_reason("test set-up"):
        assign_role(trainer, db.session.query(Role).filter_by(key="trainer").one(),
                    reason="Berlin trainer", site=berlin)
        db.session.commit()
    mine = db.session.query(TrainingAssignment).filter_by(trainee_id=here.id).one()
    theirs = db.session.query(TrainingAssignment).filter_by(trainee_id=there.id).one()
    assert (mine.site_id, theirs.site_id) == (berlin.id, lyon.id)
    assert may_read(mine, trainer)
    assert not may_read(theirs, trainer)  # was readable: the matrix permission counted anywhere
    own = db.session.query(TrainingAssignment).filter_by(trainee_id=trainer.id).one()
    assert may_read(own, trainer)
    assert may_read(theirs, qa)  # a global matrix holder sees every site
