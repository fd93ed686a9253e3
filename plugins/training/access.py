"""Who reads which assignments: their own, and others' where they hold the matrix permission
(a matrix permission at one site shows that site's assignments, not every site's)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_

from core import Record, scope_clause
from plugins.training.models import TrainingAssignment

MATRIX = "training.view_matrix"


def assignment_read_filter(user: Any) -> Any:
    return or_(TrainingAssignment.trainee_id == user.id,
               scope_clause(user, MATRIX, Record.study_id, Record.site_id, global_rows=False))
