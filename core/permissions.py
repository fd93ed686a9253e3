"""Deny by default: every route declares a policy, and permissions come from scoped roles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import abort, current_app, g, redirect, request, url_for
from flask_login import current_user

F = TypeVar("F", bound=Callable[..., Any])
POLICY_ATTR = "_cqms_policy"


@dataclass(frozen=True)
class Policy:
    kind: str  # "public", "login" or "permission"
    permissions: tuple[str, ...] = ()


def public(view: F) -> F:
    """Mark a view as reachable without signing in (login, health)."""
    setattr(view, POLICY_ATTR, Policy("public"))
    return view


def login_only(view: F) -> F:
    """Mark a view as open to any signed-in user (their own account pages)."""
    setattr(view, POLICY_ATTR, Policy("login"))
    return view


def requires(*permissions: str) -> Callable[[F], F]:
    """Mark a view as needing every one of ``permissions`` (checked before the view runs)."""

    def mark(view: F) -> F:
        setattr(view, POLICY_ATTR, Policy("permission", tuple(permissions)))
        return view

    return mark


# -- permission resolution ---------------------------------------------------------------------


def _grants(user: Any) -> list[tuple[frozenset[str], int | None, int | None, int | None]]:
    """(permissions, study id, site id, site's study id) per active role assignment, per request."""
    cache = g.setdefault("cqms_grants", {})
    if user.id not in cache:
        cache[user.id] = [
            (
                frozenset(a.role.permission_names),
                a.study_id,
                a.site_id,
                a.site.study_id if a.site is not None else None,
            )
            for a in user.active_assignments()
        ]
    return cache[user.id]


def has_permission(user: Any, name: str, *, study: Any = None, site: Any = None) -> bool:
    """Whether ``user`` holds ``name``; with a study/site, only assignments covering it count.

    A global assignment covers everything, a study assignment covers the study and its sites,
    a site assignment covers that site. Without a study or site any assignment counts (route
    access); object-level checks pass the record's study and site.
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    study_id = getattr(study, "id", study)
    site_id = getattr(site, "id", site)
    if site is not None and study_id is None:
        study_id = getattr(site, "study_id", None)
    scoped = study_id is not None or site_id is not None
    for perms, a_study, a_site, a_site_study in _grants(user):
        if name not in perms:
            continue
        if not scoped or (a_study is None and a_site is None):
            return True
        if a_site is not None:
            if site_id == a_site:
                return True
        elif a_study is not None and a_study in (study_id, a_site_study):
            return True
    return False


def may_act_in(user: Any, name: str, study: Any = None, site: Any = None) -> bool:
    """Whether ``user`` may act with ``name`` on data of this study/site (create, edit,
    transition): an assignment must cover the scope, and data of no study needs a global one
    (a study-scoped user reads global SOPs but does not approve them)."""
    if getattr(study, "id", study) is not None or getattr(site, "id", site) is not None:
        return has_permission(user, name, study=study, site=site)
    return has_permission(user, name) and any(
        name in perms and a_study is None and a_site is None
        for perms, a_study, a_site, _ in _grants(user))


def user_permissions(user: Any) -> set[str]:
    names: set[str] = set()
    for perms, *_ in _grants(user):
        names |= perms
    return names


# -- enforcement -------------------------------------------------------------------------------

ACCOUNT_ENDPOINTS = {"core_auth.logout", "core_auth.change_password", "core_auth.totp_enrol"}


def _wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best == "application/json"
    )


def deny_anonymous() -> Any:
    if _wants_json():
        refused = g.get("cqms_auth_refused")  # a bearer token refused, with the reason
        if refused is not None:
            raise refused
        abort(401)
    return redirect(url_for("core_auth.login", next=request.full_path.rstrip("?")))


def policy_for(endpoint: str) -> Policy | None:
    """The declared policy of an endpoint; admin views and static files have implicit ones."""
    if endpoint == "static" or endpoint.endswith(".static"):
        return Policy("public")
    blueprint = endpoint.rpartition(".")[0]
    state = current_app.extensions["cqms"]
    if blueprint in state.admin_endpoints:
        return Policy("admin")
    view = current_app.view_functions.get(endpoint)
    declared = getattr(view, POLICY_ATTR, None)
    if declared is None and blueprint in state.api_blueprints:
        return Policy("api")  # a bearer token; each view checks permissions and scope
    return declared


def enforce_request_policy() -> Any:
    """``before_request``: plugin gating, then the route's policy. No policy means 403."""
    endpoint = request.endpoint
    if endpoint is None:
        return None  # the router answers 404/405
    state = current_app.extensions["cqms"]
    owner = state.host.owner_of(request.blueprint or "")
    if owner is not None and not state.host.is_enabled(owner):
        abort(404)
    policy = policy_for(endpoint)
    if policy is None:
        current_app.logger.error("route %s has no access policy; refused", endpoint)
        abort(403)
    if policy.kind == "public":
        return None
    if not current_user.is_authenticated:
        return deny_anonymous()
    if policy.kind == "api":
        if current_user.must_change_password or (
                state.totp_required(current_user) and current_user.totp_enabled_at is None):
            abort(403, description="Sign in to the web interface first: your account must "
                                   "change its password or enrol an authenticator.")
        return None
    if endpoint not in ACCOUNT_ENDPOINTS:
        if current_user.must_change_password:
            return redirect(url_for("core_auth.change_password"))
        if state.totp_required(current_user) and current_user.totp_enabled_at is None:
            return redirect(url_for("core_auth.totp_enrol"))
    if policy.kind == "permission":
        if not all(has_permission(current_user, p) for p in policy.permissions):
            abort(403)
    return None


def scope_clause(user: Any, name: str, study_column: Any, site_column: Any, *,
                 global_rows: bool = True) -> Any:
    """A SQL condition selecting the rows whose study/site ``user`` may see with ``name``:
    the same rule as ``has_permission`` (global rows are visible to every holder). With
    ``global_rows=False`` the rule of ``may_act_in``: rows of no study need a global grant."""
    from sqlalchemy import and_, false, or_, true

    grants = [(s, si) for perms, s, si, _ss in _grants(user) if name in perms]
    if not grants:
        return false()
    if any(s is None and si is None for s, si in grants):
        return true()
    clauses = [and_(study_column.is_(None), site_column.is_(None))] if global_rows else []
    for study_id, site_id in grants:
        clauses.append(site_column == site_id if site_id is not None else study_column == study_id)
    return or_(*clauses)
