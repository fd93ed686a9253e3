"""Who reads which assignments: their own, or everyone's (in scope) with the matrix permission."""

from __future__ import annotations

from typing import Any

from core import has_permission

MATRIX = "training.view_matrix"


def assignment_read_filter(user: Any) -> Any:
    from plugins.training.models import TrainingAssignment

    return None if has_permission(user, MATRIX) else TrainingAssignment.trainee_id == user.id
