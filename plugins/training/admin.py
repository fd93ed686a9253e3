"""Admin pages of the training reference data (requirements and quiz questions); curricula and
assignments get the core's record pages, the matrix its own page (``matrix_admin``)."""

from __future__ import annotations

from typing import Any

from wtforms import StringField
from wtforms.validators import Length, Optional

from core import CQMSModelView, Record, ValidationError, db
from plugins.training import queries
from plugins.training.models import KINDS

KIND_CHOICES = [(kind, kind.replace("_", "-")) for kind in KINDS]


def _document_number(_view: Any, _context: Any, model: Any, _name: str) -> str:
    if not model.document_id:
        return ""
    record = Record.by_id(model.document_id)
    return record.number if record is not None else ""


class RequirementAdmin(CQMSModelView):
    manage_permission = "training.manage"
    allow_create = True
    allow_edit = True
    column_list = ("code", "title", "kind", "document", "expiry_months", "pass_mark",
                   "max_attempts", "active")
    column_labels = {"expiry_months": "Expiry (months)", "pass_mark": "Pass mark (%)"}
    column_formatters = {"document": _document_number}
    column_searchable_list = ("code", "title")
    column_filters = ("kind", "active")
    column_default_sort = "code"
    form_columns = ("code", "title", "kind", "document_number", "expiry_months", "pass_mark",
                    "max_attempts", "description", "active", "reason")
    form_choices = {"kind": KIND_CHOICES}
    form_extra_fields = {
        **CQMSModelView.form_extra_fields,
        "document_number": StringField(
            "Document number", validators=[Optional(), Length(max=64)],
            description="For kind document: the controlled document, e.g. SOP-0001 (fixed "
                        "once created)."),
    }

    def on_form_prefill(self, form: Any, id: Any) -> None:  # noqa: A002
        model = self.get_one(id)
        form.document_number.data = _document_number(self, None, model, "")

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        number = (form.document_number.data or "").strip()
        if not number:
            model.document_id = None
            return
        with db.session.no_autoflush:  # the new row is checked at flush, once complete
            record = queries.controlled_document(number=number)
        if record is None:
            raise ValidationError({"document_number": f"No controlled document {number!r}."})
        model.document_id = record.id


class QuestionAdmin(CQMSModelView):
    manage_permission = "training.manage"
    allow_create = True
    allow_edit = True
    column_list = ("requirement", "position", "text", "answer")
    column_default_sort = ("position", False)
    form_columns = ("requirement", "position", "text", "choices", "answer", "reason")
    form_args = {"choices": {"description": "One choice per line."},
                 "answer": {"description": "The number of the correct choice, from 1."}}
