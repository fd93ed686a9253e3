"""The contract every plugin keeps, checked by one line in its own suite::

    from core.testing_contract import plugin_contract

    test_contract = plugin_contract("acme")

It walks the plugin's routes (blueprints, API, admin pages, record types) and checks: each
declares an access policy; anonymous requests are refused; a signed-in user without the
plugin's permissions is refused; the plugin's code imports the core only through its facade
(``import core``); its migrations build exactly its models' schema; and while it is disabled
every one of its routes answers 404.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import BuildError, Rule

from core.audit.context import audit_context
from core.db import db, migrate
from core.permissions import policy_for
from core.users.service import system_context

REFUSED_ANONYMOUS = {302, 400, 401, 403, 404, 405}
REFUSED_SIGNED_IN = {400, 401, 403, 404, 405}


def _owned_names(app: Flask, key: str) -> set[str]:
    """Blueprint names and admin endpoints of ``key``."""
    registry = app.extensions["cqms"].registry
    names = {bp.name for plugin, bp in registry.blueprints if plugin == key}
    names |= {bp.name for plugin, bp in registry.api_blueprints if plugin == key}
    names |= {spec.endpoint for plugin, spec in registry.admin_views if plugin == key}
    names |= {rt for rt, owner in registry.record_type_owner.items() if owner == key}
    names |= {f"{key}_settings"}
    return names


def plugin_routes(app: Flask, key: str) -> Iterator[tuple[Rule, str, str]]:
    """(rule, url with every argument 1, method) of each route of the plugin."""
    owned = _owned_names(app, key)
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if rule.endpoint.partition(".")[0] not in owned:
            continue
        try:
            url = adapter.build(rule.endpoint, {name: 1 for name in rule.arguments})
        except BuildError:
            continue  # an argument 1 cannot fill (a named choice): left to the plugin's tests
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, url, method


def _imports_beyond_facade(package: Path) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            found += [f"{path.name}: imports {name}" for name in names
                      if name.startswith("core.")]
    return found


def _set_enabled(app: Flask, key: str, enabled: bool) -> None:
    ctx = system_context("plugin contract")
    with audit_context(actor_id=ctx.actor_id, actor_name=ctx.actor_name, client=ctx.client):
        app.extensions["cqms"].host.set_enabled(key, enabled, "Plugin contract check")
        db.session.commit()


def check_plugin(app: Flask, key: str, make_user: Callable[..., Any], login: Callable[..., Any],
                 fresh_app: Flask) -> list[str]:
    """Every way ``key`` breaks the contract (empty when it keeps it)."""
    problems: list[str] = []
    routes = list(plugin_routes(app, key))
    if not routes:
        problems.append(f"{key}: no route found to check (is the plugin loaded?)")
    with app.test_request_context():
        policies = {rule.endpoint: policy_for(rule.endpoint) for rule, _u, _m in routes}
    problems += [f"{endpoint}: declares no access policy"
                 for endpoint, policy in sorted(policies.items()) if policy is None]
    anonymous = app.test_client()
    make_user("contract_nobody")  # signed in, no role
    db.session.commit()
    nobody = app.test_client()
    login(nobody, "contract_nobody")
    for rule, url, method in routes:
        policy = policies[rule.endpoint]
        if policy is None or policy.kind == "public":
            continue
        status = anonymous.open(url, method=method).status_code
        if status not in REFUSED_ANONYMOUS:
            problems.append(f"{method} {url}: answers {status} to an anonymous request")
        if policy.kind != "login":
            status = nobody.open(url, method=method).status_code
            if status not in REFUSED_SIGNED_IN:
                problems.append(f"{method} {url}: answers {status} to a user without the "
                                "plugin's permissions")
    module = app.extensions["cqms"].host.plugins[key].module
    problems += _imports_beyond_facade(Path(module.__file__).parent)
    with fresh_app.app_context():
        migrate.upgrade(fresh_app)
        problems += [f"migrations differ from the models: {d}"
                     for d in migrate.schema_differences(fresh_app)]
    _set_enabled(app, key, False)
    try:
        admin = app.test_client()
        make_user("contract_admin", "system_admin", "qa_manager")
        db.session.commit()
        login(admin, "contract_admin")
        for _rule, url, method in routes:
            if method != "GET":
                continue
            status = admin.get(url).status_code
            if status != 404:
                problems.append(f"GET {url}: answers {status} while {key} is disabled (404 "
                                "expected)")
    finally:
        _set_enabled(app, key, True)
    return problems


def plugin_contract(key: str, *requires: str) -> Callable[..., None]:
    """A test function checking ``key`` (assign it to a ``test_`` name in the plugin's suite);
    ``requires``: the plugins it needs loaded beside it."""

    @pytest.mark.plugins(*requires, key)
    def test_plugin_keeps_the_contract(app: Flask, app_factory: Callable[..., Flask],
                                       make_user: Callable[..., Any], login: Callable[..., Any],
                                       tmp_path: Path) -> None:
        fresh = app_factory(schema=False,  # its own database, migrated from empty
                            DATABASE_URL=f"sqlite:///{tmp_path / 'contract-migrated.sqlite3'}")
        with app.app_context():
            problems = check_plugin(app, key, make_user, login, fresh)
        assert problems == [], "\n".join(problems)

    return test_plugin_keeps_the_contract


# -- the facade is a promise ---------------------------------------------------------------


def facade_api() -> dict[str, list[tuple[str, bool]] | None]:
    """Each name of ``core.__all__`` with its parameters (name, has a default) where it is
    callable: what plugins may rely on (docs/facade-api.txt records it)."""
    import inspect

    import core

    found: dict[str, list[tuple[str, bool]] | None] = {}
    for name in sorted(core.__all__):
        obj = getattr(core, name)
        if not callable(obj):
            found[name] = None  # a constant or the current user proxy
            continue
        try:
            params = inspect.signature(obj).parameters.values()
        except (TypeError, ValueError):  # a builtin or a class without a readable signature
            params = []
        found[name] = [(p.name, p.default is not p.empty or p.kind in (p.VAR_POSITIONAL,
                                                                       p.VAR_KEYWORD))
                       for p in params]
    return found


def facade_lines() -> list[str]:
    return [name if params is None else
            f"{name}({', '.join(p + ('=' if d else '') for p, d in params)})"
            for name, params in facade_api().items()]


def broken_promises(recorded: list[str], deprecated: set[str]) -> list[str]:
    """How today's facade breaks the recorded one: a name gone (unless still deprecated), a
    parameter gone, or a new parameter every caller must now pass."""
    current = facade_api()
    problems = []
    for line in recorded:
        name, _, rest = line.partition("(")
        before = [p for p in rest.rstrip(")").split(", ") if p]
        if name not in current:
            if name not in deprecated:
                problems.append(f"{name}: removed from core.__all__ without a deprecation")
            continue
        now = dict(current[name] or [])
        names_before = {p.rstrip("=") for p in before}
        problems += [f"{name}: parameter {p.rstrip('=')!r} removed" for p in before
                     if p.rstrip("=") not in now]
        problems += [f"{name}: new required parameter {p!r}" for p, has_default in now.items()
                     if p not in names_before and not has_default]
    return problems
