"""Deny by default: every route declares a policy, and permissions come from scoped roles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import abort, current_app, g, redirect, request, url_for
from flask_login import current_user

# The permission to open the admin pages at all (declared by the core in core.defaults).
ADMIN_ACCESS = "core.admin.access"

F = TypeVar("F", bound=Callable[..., Any])
POLICY_ATTR = "_cqms_policy"


@dataclass(frozen=True)
class Policy:
    # "public", "login", "permission", "admin" (implicit), or "in_view" (core API views whose
    # permission depends on a path argument, e.g. the record type, and is checked in the view)
    kind: str
    permissions: tuple[str, ...] = ()
    any_of: bool = False  # one of ``permissions`` is enough

    def refuses(self, user: Any) -> tuple[str, ...]:
        """The permissions ``user`` lacks for this policy (empty: let through)."""
        if self.kind != "permission":
            return ()
        missing = tuple(p for p in self.permissions if not has_permission(user, p))
        if self.any_of and len(missing) < len(self.permissions):
            return ()
        return missing


def public(view: F) -> F:
    """Mark a view as reachable without signing in (login, health)."""
    setattr(view, POLICY_ATTR, Policy("public"))
    return view


def login_only(view: F) -> F:
    """Mark a view as open to any signed-in user (their own account pages)."""
    setattr(view, POLICY_ATTR, Policy("login"))
    return view


def requires(*permissions: str) -> Callable[[F], F]:
    """Mark a view as needing every one of ``permissions`` (held in some study/site; the view
    checks the object's scope). The core checks them before the view runs: an API caller
    without them gets 403 problem+json before the body is read. Put it right under the route.

    Example::

        @blp.route("/matrix")
        @requires("training.view_matrix")
        @blp.arguments(MatrixQuery, location="query")
        def matrix(query): ...
    """

    def mark(view: F) -> F:
        setattr(view, POLICY_ATTR, Policy("permission", tuple(permissions)))
        return view

    return mark


def requires_any(*permissions: str) -> Callable[[F], F]:
    """Like ``requires``, but one of ``permissions`` is enough (e.g. your own record with
    ``training.view``, anyone's with ``training.view_matrix``: the view tells them apart)."""

    def mark(view: F) -> F:
        setattr(view, POLICY_ATTR, Policy("permission", tuple(permissions), any_of=True))
        return view

    return mark


def checks_in_view(view: F) -> F:
    """Core API views only: the permission depends on a path argument (the record type), so
    the view checks it (type permission, record scope). Ignored on a plugin's view."""
    setattr(view, POLICY_ATTR, Policy("in_view"))
    return view


# -- permission resolution ---------------------------------------------------------------------


def _grants(user: Any) -> list[tuple[frozenset[str], int | None, int | None, int | None]]:
    """(permissions, study id, site id, site's study id) per active role assignment: kept per
    request (and by the process between requests: ``User.permission_grants``)."""
    cache = g.setdefault("cqms_grants", {})
    if user.id not in cache:
        cache[user.id] = user.permission_grants()
    return cache[user.id]


def only_scope(user: Any, name: str) -> tuple[int | None, int | None] | None:
    """(study id, site id) when every grant of ``name`` the user holds is for that one study or
    site (a form's default scope); None when they hold it globally, in several places or not
    at all."""
    places = {(a_site_study if a_site is not None else a_study, a_site)
              for perms, a_study, a_site, a_site_study in _grants(user) if name in perms}
    if len(places) != 1:
        return None
    place = places.pop()
    return None if place == (None, None) else place


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
    """The declared policy of an endpoint; admin views and static files have implicit ones.
    API views declare theirs like any other route (None: refused with 403)."""
    if endpoint == "static" or endpoint.endswith(".static"):
        return Policy("public")
    blueprint = endpoint.rpartition(".")[0]
    state = current_app.extensions["cqms"]
    if blueprint in state.admin_endpoints:
        return Policy("admin")
    view = current_app.view_functions.get(endpoint)
    declared = getattr(view, POLICY_ATTR, None)
    if declared is not None and declared.kind == "in_view" and not blueprint.startswith("core_"):
        return None  # a plugin declares the permission its view needs
    return declared


def _enforce_api(policy: Policy, state: Any) -> None:
    """A bearer token's caller: no redirects (403 problem+json), the declared permissions."""
    if current_user.must_change_password or (
            state.totp_required(current_user) and current_user.totp_enabled_at is None):
        abort(403, description="Sign in to the web interface first: your account must "
                               "change its password or enrol an authenticator.")
    missing = policy.refuses(current_user)
    if missing:
        needed = " or ".join(policy.permissions) if policy.any_of else ", ".join(missing)
        abort(403, description=f"{needed} is required.")


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
    if request.blueprint in state.api_blueprints:
        _enforce_api(policy, state)
        return None
    if endpoint not in ACCOUNT_ENDPOINTS:
        if current_user.must_change_password:
            return redirect(url_for("core_auth.change_password"))
        if state.totp_required(current_user) and current_user.totp_enabled_at is None:
            return redirect(url_for("core_auth.totp_enrol"))
    if policy.refuses(current_user):
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
