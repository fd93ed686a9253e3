"""The record page's links and files: add and end typed links, attach files (each audited and
checked in the record's scope), a file on the create form. Mixed into every record admin
view."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import select
from wtforms import FileField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from core.admin.base import SecureForm
from core.attachments.service import add_attachment
from core.db import db
from core.errors import CQMSError
from core.records.links import kinds_from, link_records, relation_label, unlink
from core.records.models import Record, RecordLink
from core.records.service import may_read


class LinkForm(SecureForm):
    target = StringField("Record number", validators=[DataRequired(), Length(max=64)])
    kind = SelectField("Kind of link", validators=[DataRequired()], choices=[])
    reason = TextAreaField("Reason", validators=[Optional(), Length(max=2000)])


class UnlinkForm(SecureForm):
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=2000)])


def link_form(record: Record, submitted: bool = False) -> LinkForm:
    """The link form with the kinds a link from ``record`` may take."""
    form = LinkForm() if submitted else LinkForm(formdata=None)
    form.kind.choices = [(k.key, k.label) for k in kinds_from(record)]
    return form


class LinksAndFilesMixin:
    """Views of ``RecordAdmin`` (which provides ``get_one`` and ``_may_manage_record``)."""

    @expose("/<int(max=2147483647):record_id>/links", methods=["POST"])
    def link_view(self, record_id: int) -> Any:
        record = self.get_one(str(record_id))
        if record is None:
            abort(404)
        if not self._may_manage_record(record):
            abort(403)
        back = url_for(".details_view", id=record_id)
        form = link_form(record, submitted=True)
        if not form.validate_on_submit():
            flash("Check the form: " + "; ".join(f"{k}: {' '.join(v)}"
                                                  for k, v in form.errors.items()), "error")
            return redirect(back)
        user = current_user._get_current_object()
        target = db.session.scalar(select(Record).where(Record.number == form.target.data.strip()))
        if target is None or not may_read(target, user):
            flash(f"Check the form: target: no record numbered {form.target.data!r} that you "
                  "may see.", "error")
            return redirect(back)
        try:
            link = link_records(record, target, form.kind.data, user,
                                reason=form.reason.data or "")
            db.session.commit()
        except CQMSError as exc:
            db.session.rollback()
            flash(f"Check the form: {exc}", "error")
            return redirect(back)
        flash(f"{record.number} {relation_label(link, record.id)} {target.number}.", "info")
        return redirect(back)

    @expose("/<int(max=2147483647):record_id>/links/<int(max=2147483647):link_id>/end",
            methods=["POST"])
    def unlink_view(self, record_id: int, link_id: int) -> Any:
        record = self.get_one(str(record_id))
        if record is None:
            abort(404)
        if not self._may_manage_record(record):
            abort(403)
        back = url_for(".details_view", id=record_id)
        link = db.session.get(RecordLink, link_id)
        if link is None or link.source_id != record.id:
            abort(404)
        form = UnlinkForm()
        if not form.validate_on_submit():
            flash("Check the form: reason: say why the link ends.", "error")
            return redirect(back)
        target = link.target.number
        try:
            unlink(link, current_user._get_current_object(), reason=form.reason.data)
            db.session.commit()
        except CQMSError as exc:
            db.session.rollback()
            flash(f"Check the form: {exc}", "error")
            return redirect(back)
        flash(f"The link from {record.number} to {target} has ended.", "info")
        return redirect(back)

    def get_create_form(self) -> Any:
        """The create form, with the type's file field when it declares one
        (``RecordType.file_on_create``)."""
        form_class = super().get_create_form()  # type: ignore[misc]
        label = self.record_type.file_on_create  # type: ignore[attr-defined]
        if not label:
            return form_class
        return type(form_class.__name__, (form_class,), {"file": FileField(label)})

    def attach_created(self, record: Record, form: Any) -> None:
        """The create form's file on the new record, in its transaction (refused: nothing)."""
        upload = getattr(getattr(form, "file", None), "data", None)
        if upload is not None and getattr(upload, "filename", ""):
            add_attachment(record, current_user._get_current_object(), upload.filename,
                           upload.stream, declared_type=upload.mimetype)


    @expose("/<int(max=2147483647):record_id>/attachments", methods=["POST"])
    def attach_view(self, record_id: int) -> Any:
        record = self.get_one(str(record_id))
        if record is None:
            abort(404)
        if not self._may_manage_record(record):
            abort(403)
        back = url_for(".details_view", id=record_id)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash("Check the form: file: choose a file to attach.", "error")
            return redirect(back)
        try:
            attachment = add_attachment(record, current_user._get_current_object(),
                                        upload.filename, upload.stream,
                                        declared_type=upload.mimetype,
                                        reason=request.form.get("reason", "")[:2000])
            db.session.commit()
        except CQMSError as exc:
            db.session.rollback()
            flash(f"Check the form: {exc}", "error")
            return redirect(back)
        flash(f"{record.number}: {attachment.filename} attached (version {record.version}).",
              "info")
        return redirect(back)


