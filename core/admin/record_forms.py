"""The record forms: the declared field order, a short create form (``create_fields``) that
starts in the user's only study or site, and a reason marked required on the edit form once the
record is past draft. Mixed into every record admin view."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_login import current_user
from wtforms.fields.core import UnboundField

from core.db import db
from core.permissions import only_scope
from core.phi import hidden_fields
from core.records.content import change_needs_reason
from core.studies import Site, Study


class RecordFormsMixin:
    def scaffold_form(self) -> Any:
        """The form with the type's ``field_order`` first (WTForms orders fields by creation)."""
        form_class = super().scaffold_form()  # type: ignore[misc]
        fields = {name: getattr(form_class, name) for name in dir(form_class)
                  if isinstance(getattr(form_class, name, None), UnboundField)}
        order = self.record_type.field_order  # type: ignore[attr-defined]
        if fields and order:
            first = min(f.creation_counter for f in fields.values()) - len(order) - 1
            for position, name in enumerate(order):
                found = fields.get(name) or fields.get(name.removesuffix("_id"))
                if found is not None:
                    found.creation_counter = first + position
        return form_class

    def create_form(self, obj: Any = None) -> Any:
        """The type's ``create_fields`` only, when it names them (the rest come later)."""
        form = super().create_form(obj)  # type: ignore[misc]
        if request.method == "GET":
            self._default_scope(form)
        asked = self.record_type.create_fields  # type: ignore[attr-defined]
        if asked:
            kept = {"csrf_token", "reason", "expected_version", "title", "study", "site", "file",
                    *asked, *(name.removesuffix("_id") for name in asked)}
            for name in [n for n in form._fields if n not in kept]:
                del form[name]
        return form

    def _default_scope(self, form: Any) -> None:
        """Someone who may create these records in one study or site only starts there."""
        place = only_scope(current_user, self.manage_permission or "")  # type: ignore[attr-defined]
        if place is None or not hasattr(form, "study") or not hasattr(form, "site"):
            return
        study_id, site_id = place
        form.study.data = db.session.get(Study, study_id) if study_id is not None else None
        form.site.data = Site.by_id(site_id) if site_id is not None else None

    def edit_form(self, obj: Any = None) -> Any:
        """Past draft, the reason for the change is required: the form says so. PHI the user may
        not see is left out of the form (never shown, and so never changed by them)."""
        form = super().edit_form(obj)  # type: ignore[misc]
        if obj is not None:
            for name in hidden_fields(obj, current_user._get_current_object()):
                if name in form:
                    del form[name]
        if obj is not None and hasattr(form, "reason") and change_needs_reason(obj):
            form.reason.flags.required = True
            form.reason.description = ("Required: why the record changes (kept on the audit "
                                       "trail with the change).")
        return form
