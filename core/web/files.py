"""``GET /files/<id>``: download an attachment, after checking access and its SHA-256.

Always served as a download (``Content-Disposition: attachment``) with the stored, checked media
type, ``nosniff`` and a sandboxing CSP, so an uploaded file never renders as part of the site.
A file that no longer matches its recorded hash is refused with 409 and logged.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, send_file
from flask_login import current_user

from core.attachments.models import Attachment
from core.attachments.service import (
    AUDIT_VIEW,
    AttachmentIntegrityError,
    may_download,
    open_attachment,
)
from core.db import db
from core.permissions import has_permission, login_only
from core.records.service import type_enabled

blueprint = Blueprint("core_files", __name__)
ALTERED = ("This file failed its integrity check and cannot be served. The problem has been "
           "logged; please tell your quality administrator.")


def download_response(data: bytes, mimetype: str, filename: str) -> Response:
    """Bytes the server made (an export, a job's file) sent as a download, never cached."""
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """``attachment`` (or ``inline``) with an ASCII fallback name and the exact name as RFC 5987
    ``filename*``."""
    fallback = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = "".join(c if c.isprintable() and c not in '"\\;' else "_" for c in fallback)
    fallback = fallback.strip() or "download"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@blueprint.get("/files/<int(max=2147483647):attachment_id>")
@login_only
def download(attachment_id: int) -> Any:
    user = current_user._get_current_object()
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or not type_enabled(attachment.record.type):
        # Only those who could see any file learn that an id does not exist (nor a disabled
        # plugin's file: it answers as if it did not exist).
        abort(404 if has_permission(user, AUDIT_VIEW) else 403)
    if not may_download(user, attachment):
        abort(403)
    try:
        fh = open_attachment(attachment)
    except AttachmentIntegrityError as exc:
        current_app.logger.error("download refused: %s", exc)
        abort(409, description=ALTERED)
    response = send_file(fh, mimetype=attachment.media_type, as_attachment=True,
                         download_name=attachment.filename, conditional=False, etag=False,
                         max_age=0)
    response.headers["Content-Disposition"] = content_disposition(attachment.filename)
    response.headers["Content-Length"] = str(attachment.size)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
