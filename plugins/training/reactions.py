"""After-commit reactions: a role granted or revoked, a curriculum approved or retired, a
document version made effective, an assignment made or ended (its trainee's task). Each
commits."""

from __future__ import annotations

from typing import Any

from core import User, close_tasks, db, open_task
from plugins.training import services

# While the plugin is disabled the host does not call these; the sweep training.sync catches up.


def role_changed(grant: Any) -> None:
    services.sync_user(grant.user)
    db.session.commit()


def curriculum_transitioned(curriculum: Any, transition: Any) -> None:
    if transition.name in ("approve", "retire", "revise"):
        services.sync_role(curriculum.role_key)
        db.session.commit()


def version_effective(document: Any, version: Any) -> None:
    services.version_became_effective(document, version)
    db.session.commit()


# -- one inbox: each open assignment is a task of its trainee -----------------------------------

COMPLETE_TASK = "training.complete"


def assignment_created(assignment: Any) -> None:
    """The trainee's task for a new assignment, due with it (My tasks lists training too)."""
    if assignment.state != "assigned" or assignment.trainee is None:
        return
    requirement = assignment.requirement
    open_task(assignment, COMPLETE_TASK, f"Complete training {requirement.code} "
              f"{requirement.title}", assignee=assignment.trainee, due=assignment.due_date,
              by=User.by_id(assignment.created_by_id))
    db.session.commit()


def assignment_transitioned(assignment: Any, user: Any) -> None:
    """The task ends with the assignment: done when completed, cancelled otherwise."""
    if assignment.state == "assigned":
        return
    close_tasks(assignment, kind=COMPLETE_TASK, by=user,
                state="done" if assignment.state == "completed" else "cancelled")
    db.session.commit()
