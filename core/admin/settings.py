"""Settings pages: one per plugin that declares settings; validated, audited with a reason."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_admin import BaseView, expose

from core.admin.config_versions import propose_url
from core.admin.users import ReasonForm
from core.audit.context import audit_reason
from core.db import db
from core.errors import ConflictError, ValidationError
from core.settings import APPROVAL_REQUIRED, coerce_setting, get_setting, set_setting


class SettingsView(BaseView):
    def __init__(self, plugin_key: str = "core", **kwargs: Any):
        self.plugin_key = plugin_key
        super().__init__(**kwargs)

    def _specs(self) -> list[Any]:
        registry = current_app.extensions["cqms"].registry
        return [s for s in registry.settings_of(self.plugin_key) if s.admin_editable]

    @expose("/", methods=["GET", "POST"])
    def index(self) -> Any:
        specs = self._specs()
        values = {s.key: get_setting(s.key) for s in specs}
        errors: dict[str, str] = {}
        form = ReasonForm()
        if request.method == "POST":
            submitted = {}
            for spec in specs:
                raw = request.form.get(spec.key, "false" if spec.type == "bool" else "")
                try:
                    submitted[spec.key] = coerce_setting(spec, raw)
                except ValidationError as exc:
                    errors.update(exc.errors)
                    submitted[spec.key] = raw
            if not form.validate_on_submit():
                errors["reason"] = "A reason is required."
            if not errors:
                try:
                    with audit_reason(form.reason.data):
                        for key, value in submitted.items():
                            set_setting(key, value)
                        db.session.flush()
                except ConflictError as exc:  # approval required: propose a change instead
                    db.session.rollback()
                    flash(f"Nothing was saved. {exc}", "error")
                    return redirect(url_for(".index"))
                db.session.commit()
                flash("Settings saved.", "info")
                return redirect(url_for(".index"))
            values = submitted
            flash("Nothing was saved: correct the fields shown.", "error")
        return self.render("core/admin/settings.html", specs=specs, values=values,
                           errors=errors, form=form,
                           approval_required=get_setting(APPROVAL_REQUIRED),
                           propose_url=propose_url())
