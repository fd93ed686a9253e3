"""Admin pages for controlled records: list in scope, create and edit through the services,
and a record page with state, the user's available actions (with a signing dialog),
signatures, links, attachments (with upload) and history. The core builds one per record type
that names permissions."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import Text
from wtforms import HiddenField, TextAreaField
from wtforms.validators import Length, Optional

from core.admin.base import CQMSModelView, SecureForm
from core.admin.filters import CategoryFilter, OverdueFilter, PastRetentionFilter, StateFilter
from core.admin.record_forms import RecordFormsMixin
from core.admin.record_links_files import LinksAndFilesMixin, link_form
from core.admin.record_page import (
    actions_for,
    business_columns,
    child_groups,
    choice_formatters,
    detail_formatters,
    detail_labels,
    history_entries,
    history_events,
    impact_groups,
    next_step,
    page_actions,
    printed_name_of,
    state_badge,
)
from core.api.records_io import check_form_values
from core.attachments.service import attachments_of
from core.db import db
from core.due import due_text
from core.errors import CQMSError
from core.exports.downloads import certified_copy_download, pdf_download
from core.permissions import has_permission, may_act_in, scope_clause
from core.phi import note_phi_viewed, phi_guarded, visible_entries
from core.records.access import readable_links
from core.records.content import change_needs_reason, workflow_of
from core.records.items import items_of
from core.records.links import relation_label
from core.records.models import Record
from core.records.search import search_clause
from core.records.service import (
    SERVER_OWNED,
    create_record,
    may_read,
    read_clause,
    update_record,
)
from core.retention import retention_text
from core.second_person.service import critical_field_checks
from core.signatures.forms import SignatureForm
from core.signatures.service import has_attested, signatures_of
from core.specs import RecordType, key_words
from core.verification import verify_record
from core.workflows.service import available_transitions, perform_transition

HIDDEN = SERVER_OWNED | {"owner_id", "study_id", "site_id"}


class RecordAdmin(RecordFormsMixin, LinksAndFilesMixin, CQMSModelView):
    """Base admin view of one record type; ``record_type`` is set by the core."""

    record_type: RecordType
    view_permission = ""
    allow_create = True
    allow_edit = True
    details_template = "core/admin/record_details.html"
    column_list = ("number", "title", "state", "owner", "study", "site", "updated_at")
    column_searchable_list = ("number", "title")
    column_sortable_list = ("number", "title", "state", "updated_at")
    column_default_sort = ("updated_at", True)
    column_formatters = {
        "state": lambda v, c, m, n: key_words(m.state),
        "owner": lambda v, c, m, n: m.owner.printed_name if m.owner else "",
        "study": lambda v, c, m, n: m.study.code if m.study else "",
        "site": lambda v, c, m, n: m.site.audit_label() if m.site else "",
    }
    form_extra_fields = {
        "expected_version": HiddenField(),
        "reason": TextAreaField("Reason for change", validators=[Optional(), Length(max=2000)],
                                description="Required once the record is past draft.",
                                render_kw={"rows": 2}),
    }

    def __init__(self, model: Any, session: Any, **kwargs: Any):
        excluded = {c for c in HIDDEN if c in model.__mapper__.attrs}
        server = set(self.record_type.server_fields)
        # A server-set foreign key hides its relationship too (``trainee_id`` -> ``trainee``).
        server |= {name for name, rel in model.__mapper__.relationships.items()
                   if any(col.key in server for col in rel.local_columns)}
        self.form_excluded_columns = tuple(sorted(excluded | server | {
            "owner", "created_by", "updated_by"}))
        super().__init__(model, session, **kwargs)

    def get_save_return_url(self, model: Any, is_created: bool = False) -> str:
        """After saving, the record itself (not the list)."""
        return url_for(".details_view", id=model.id)

    def _may_manage(self) -> bool:
        return has_permission(current_user, self.manage_permission or "")

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        response = super()._handle_view(name, **kwargs)
        if response is None and name == "edit_view":
            # The record's current scope first: the form's study/site is only where it goes.
            record = self.get_one(request.args.get("id", ""))
            if record is not None and not self._may_manage_record(record):
                abort(403)
        if response is None and name == "action_view" and not any(
                self.is_action_allowed(action) for action, _label in self._actions):
            abort(404)  # record pages offer no bulk actions (delete is off)
        return response

    def _may_manage_record(self, record: Record) -> bool:
        return may_act_in(current_user, self.manage_permission or "", study=record.study,
                              site=record.site)

    def _read_clauses(self) -> list[Any]:
        # The type named outright, so lists read the (type, updated_at) index (issue 13).
        clauses = [Record.type == self.record_type.key,
                   scope_clause(current_user, self.view_permission, Record.study_id,
                                Record.site_id)]
        extra = read_clause(self.record_type, current_user)
        return clauses if extra is None else [*clauses, extra]

    def get_query(self) -> Any:
        return super().get_query().filter(*self._read_clauses())

    def get_count_query(self) -> Any:
        return super().get_count_query().filter(*self._read_clauses())

    def _apply_search(self, query: Any, count_query: Any, joins: Any, count_joins: Any,
                      search: str) -> Any:
        """Each word must be in the number or the title: through the search index."""
        if not search.split():
            return query, count_query, joins, count_joins
        clause = search_clause(search, db.session.get_bind().dialect.name, every_word=True)
        count_query = count_query.filter(clause) if count_query is not None else None
        return query.filter(clause), count_query, joins, count_joins

    def get_one(self, id: Any) -> Any:  # noqa: A002 - Flask-Admin's signature
        record = super().get_one(id)
        if record is not None and not may_read(record, current_user):
            abort(404)  # out of scope (or filtered out) records do not exist for this user
        return record

    def _values(self, form: Any) -> dict[str, Any]:
        values = {}
        for name, field in form._fields.items():
            if name in ("csrf_token", "reason", "expected_version", "file"):
                continue
            value = field.data
            if name in ("study", "site") or name in self.model.__mapper__.relationships:
                # A many-to-one choice (study, site, or the type's own) sets its foreign key.
                values[f"{name}_id"] = value.id if value is not None else None
            else:
                values[name] = value
        return values

    def _in_scope(self, form: Any) -> bool:
        """The chosen study/site must be one the user may manage records in."""
        study = getattr(form, "study", None)
        site = getattr(form, "site", None)
        if may_act_in(current_user, self.manage_permission or "",
                      study=study.data if study else None, site=site.data if site else None):
            return True
        flash("You may not manage records of that study or site.", "error")
        return False

    def create_model(self, form: Any) -> Any:
        if not self._in_scope(form):
            return False
        try:
            values = self._values(form)
            check_form_values(self.record_type, values)
            record = create_record(self.record_type.key, current_user._get_current_object(),
                                   reason=form.reason.data or "", **values)
            self.attach_created(record, form)
            db.session.commit()
        except CQMSError as exc:
            self._refused(form, exc)
            return False
        return record

    def _refused(self, form: Any, exc: CQMSError) -> None:
        """Nothing is written; the form is shown again with the message, also beside each field
        the refusal names (the message names the field by its label, not its column)."""
        db.session.rollback()
        problems = []
        for name, message in getattr(exc, "errors", {}).items():
            field = form._fields.get(name) or form._fields.get(name.removesuffix("_id"))
            if field is not None:
                field.errors = [*field.errors, message]
                problems.append(f"{field.label.text}: {message}")
            else:
                problems.append(message if name == "_" else f"{name}: {message}")
        flash("; ".join(problems) or str(exc), "error")

    def on_form_prefill(self, form: Any, id: Any) -> None:  # noqa: A002
        form.expected_version.data = str(self.get_one(id).version)

    def update_model(self, form: Any, model: Any) -> bool:
        try:
            expected = int(form.expected_version.data or 0)
        except ValueError:
            expected = 0
        values = {k: v for k, v in self._values(form).items() if getattr(model, k, None) != v}
        if not self._in_scope(form):
            return False
        try:
            check_form_values(self.record_type, values)
            update_record(model, current_user._get_current_object(), expected_version=expected,
                          reason=form.reason.data or "", **values)
            db.session.commit()
        except CQMSError as exc:
            self._refused(form, exc)
            return False
        return True

    def render(self, template: str, **kwargs: Any) -> Any:
        if template == self.details_template and "model" in kwargs:
            record = kwargs["model"]
            user = current_user._get_current_object()
            actions = actions_for(record, user, available_transitions(record, user))
            entries = visible_entries(record, history_entries(record), user)
            note_phi_viewed(record, user, "record page")
            state_words, state_style = state_badge(record)
            kwargs.update(
                actions=actions,
                next_step=next_step(actions),
                state_words=state_words,
                state_style=state_style,
                events=history_events(record, entries),
                children=child_groups(record, user),
                made_by=printed_name_of(record.created_by_id),
                changed_by=printed_name_of(record.updated_by_id),
                signatures=signatures_of(record),
                links=readable_links(record, user),
                items=items_of(record),
                record_badge=self.record_type.badge(record) if self.record_type.badge else None,
                record_due=due_text(record),
                history=entries,
                                needs_attestation=not has_attested(user),
                attachments=attachments_of(record),
                link_form=link_form(record),
                impact=impact_groups(record, user),
                relation_label=relation_label,
                may_attach=self._may_manage_record(record),
                reason_required=change_needs_reason(record),
                accepted_types=", ".join(sorted(current_app.config["ATTACHMENT_TYPES"])),
                page_actions=page_actions(record, user),
                critical=critical_field_checks(record),
                retention=retention_text(record),
            )
        return super().render(template, **kwargs)

    @expose("/<int(max=2147483647):record_id>/transition/<step>", methods=["POST"])
    def transition_view(self, record_id: int, step: str) -> Any:
        record = self.get_one(str(record_id))
        if record is None:
            abort(404)
        form = SignatureForm()
        back = url_for(".details_view", id=record_id)
        if not form.validate_on_submit():
            flash("Check the form: " + form.problems(), "error")
            return redirect(back)
        user = current_user._get_current_object()
        t = next((t for t in record_workflow_transitions(record) if t.name == step), None)
        try:
            signature = form.signature_request() if t is not None and t.signature else None
            perform_transition(record, step, user, reason=form.reason.data or "",
                               signature=signature, attest=bool(form.attest.data))
        except CQMSError as exc:
            flash(str(exc), "error")
            return redirect(back)
        flash(f"{record.number}: {t.label or t.name if t else step} done.", "info")
        return redirect(back)

    @expose("/<int(max=2147483647):record_id>/verify", methods=["POST"])
    def verify_view(self, record_id: int) -> Any:
        """Check this record's history, content, signatures and files (audited)."""
        record = self.get_one(str(record_id))
        if record is None:
            abort(404)
        if not SecureForm().validate_on_submit():
            flash("The form expired; try again.", "error")
        else:
            problems = verify_record(record, current_user._get_current_object())
            db.session.commit()
            if problems:
                flash(f"{record.number} failed its integrity check: " + " ".join(problems),
                      "error")
            else:
                flash(f"{record.number} is intact: its history entries, content, signatures "
                      "and files all check. The check is recorded in its history.", "info")
        return redirect(url_for(".details_view", id=record_id))

    # Exports are POSTs with a CSRF token: each writes an audit entry (SEC-03).
    @expose("/<int(max=2147483647):record_id>/export.pdf", methods=["POST"])
    def export_pdf_view(self, record_id: int) -> Any:
        return self._export(record_id, pdf_download)

    @expose("/<int(max=2147483647):record_id>/certified-copy.zip", methods=["POST"])
    def certified_copy_view(self, record_id: int) -> Any:
        return self._export(record_id, certified_copy_download)

    def _export(self, record_id: int, download: Any) -> Any:
        """Whoever may open the record page may export it; each download is audited."""
        record = self.get_one(str(record_id))
        if record is None:
            abort(404)
        try:
            return download(record, current_user._get_current_object())
        except CQMSError as exc:
            db.session.rollback()
            flash(f"No export was made: {exc}", "error")
            return redirect(url_for(".details_view", id=record_id))

def record_workflow_transitions(record: Record) -> tuple[Any, ...]:
    workflow = workflow_of(record)
    return workflow.transitions if workflow else ()


def _lines(_view: Any, _context: Any, model: Any, name: str) -> Markup:
    """A multi-line text on the record page, one line per line (escaped)."""
    return Markup("<br>").join(escape(line) for line in (getattr(model, name) or "").splitlines())


def _due_cell(_view: Any, _context: Any, model: Record, _name: str) -> str:
    return due_text(model)


def declared_form(record_type: RecordType) -> dict[str, Any]:
    """Flask-Admin settings from the type's declarations (help texts, pick lists)."""
    found: dict[str, Any] = {}
    if record_type.help_texts:  # on the form (a list header's help icon has no text to read)
        found["form_args"] = {name: {"description": text}
                              for name, text in record_type.help_texts.items()}
    if record_type.choices:  # a callable list is asked anew for each form
        found["form_choices"] = {name: pairs if callable(pairs) else list(pairs)
                                 for name, pairs in record_type.choices.items()}
    return found


def record_admin_for(record_type: RecordType, view_permission: str,
                     manage_permission: str, states: tuple[str, ...] = ()) -> type:
    """The admin view class the core builds for a record type."""
    texts = {attr.key: _lines for attr in record_type.model.__mapper__.column_attrs
             if isinstance(attr.columns[0].type, Text)}
    listing: dict[str, Any] = {}
    listed = RecordAdmin.column_list
    if record_type.list_columns:
        listed = (*listed[:3], *record_type.list_columns, *listed[3:])
        listing["column_list"] = listed
    chosen = choice_formatters(record_type)
    listing["column_formatters"] = phi_guarded(record_type, {**RecordAdmin.column_formatters,
                                                             **chosen})
    if record_type.due_field:  # a "Due" column and an "Overdue" filter
        listing["column_list"] = (*listed[:3], record_type.due_field, *listed[3:])
        listing["column_formatters"][record_type.due_field] = _due_cell
    return type(f"{record_type.model.__name__}Admin", (RecordAdmin,), {
        "record_type": record_type,
        **listing,
        "column_formatters_detail": phi_guarded(record_type, {
            **RecordAdmin.column_formatters, **detail_formatters(record_type), **texts,
            **chosen}),
        "column_details_list": business_columns(record_type),
        "column_labels": {**detail_labels(record_type), **record_type.labels},
        **declared_form(record_type),
        "column_filters": (StateFilter(states),
                           CategoryFilter(record_type.key),
                           *((OverdueFilter(record_type),) if record_type.due_field else ()),
                           *((PastRetentionFilter(record_type),) if record_type.retention
                             else ()),
                           *record_type.admin_filters),
        "view_permission": view_permission,
        "manage_permission": manage_permission,
        "__module__": __name__,
    })
