"""Study/site scope on every write: who may write records of a type where, and who may own
them. The record services (create, update, link, attach) call these, so the admin, the API and
plugin services share one rule (parents and children: ``core.records.family``)."""

from __future__ import annotations

from typing import Any

from core.db import db
from core.errors import PermissionDenied, ValidationError
from core.permissions import may_act_in
from core.records.content import in_transition
from core.records.models import Record
from core.specs import RecordType
from core.studies import Site
from core.users.models import User


def write_permission(rt: RecordType) -> str | None:
    """The permission that means "works on records of this type": it writes them and may own
    them (the type's manage permission, else its view permission)."""
    return rt.manage_permission or rt.view_permission


def _scope_objects(study_id: int | None, site_id: int | None) -> tuple[Any, Any]:
    site = db.session.get(Site, site_id) if site_id is not None else None
    return study_id, site


def require_write(rt: RecordType, user: User, study_id: int | None, site_id: int | None) -> None:
    """Refuse (PermissionDenied) unless ``user`` may write records of ``rt`` in this study/site.

    The system principal passes, and so do a transition's effects (the transition already
    checked its permission in the record's scope). A type naming no permission is written only
    by its plugin's services: nothing to check.
    """
    permission = write_permission(rt)
    if permission is None or user.is_service or in_transition():
        return
    study, site = _scope_objects(study_id, site_id)
    if not may_act_in(user, permission, study=study, site=site):
        where = "records of no study" if study is None and site is None else "this study/site"
        raise PermissionDenied(f"{permission} is required to write {rt.label} {where}")


def target_scope(record: Record | None, values: dict[str, Any]) -> tuple[int | None, int | None]:
    """The (study id, site id) a record has once ``values`` apply; a site brings its study, and
    a site of another study is refused (422 naming ``site_id``)."""
    study_id = values.get("study_id", record.study_id if record is not None else None)
    site_id = values.get("site_id", record.site_id if record is not None else None)
    if site_id is None:
        return study_id, None
    site = db.session.get(Site, site_id)
    if site is None:
        raise ValidationError({"site_id": f"No site with id {site_id}."})
    if study_id is None:
        return site.study_id, site_id
    if study_id != site.study_id:
        raise ValidationError({"site_id": "The site does not belong to the chosen study."})
    return study_id, site_id


def check_owner(rt: RecordType, owner_id: Any, study_id: int | None,
                site_id: int | None) -> None:
    """An owner is an active person (never the system principal) who may write records of the
    type where the record is; otherwise 422 naming ``owner_id``."""
    owner = db.session.get(User, owner_id) if isinstance(owner_id, int) else None
    if owner is None or not owner.active or owner.is_service:
        raise ValidationError({"owner_id": "Owners are active people: name an active user "
                                           "account (not the system account)."})
    permission = write_permission(rt)
    study, site = _scope_objects(study_id, site_id)
    if permission is not None and not may_act_in(owner, permission, study=study, site=site):
        raise ValidationError({"owner_id": f"{owner.username} may not own {rt.label} records "
                                           f"here: {permission} in the record's study/site is "
                                           "required."})
