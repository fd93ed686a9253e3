"""The application factory: configuration, plugin host, registries, web, admin and CLI wiring."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from flask import Flask

from config import load_config
from core import defaults
from core import read_only as _read_only  # noqa: F401 - installs the read-only guard
from core.admin import build_admin
from core.api import install_api
from core.attachments.service import verify_attachments
from core.audit.reconcile import reconcile_audited_rows
from core.db.engine import configure_engine
from core.extensions import csrf, db, login_manager
from core.plugins import PluginHost
from core.records import content as _record_guard  # noqa: F401 - installs the flush guard
from core.records.reconcile import reconcile_record_hashes
from core.registry import build_registry
from core.signatures.service import verify_signatures
from core.state import CQMSState
from core.users.passwords import make_hasher
from core.validation.gate import require_approved_summary
from core.web import install_web

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


def _instance_path(config: dict[str, Any]) -> Path:
    path = Path(config["INSTANCE_PATH"])
    if not path.is_absolute():
        path = Path.cwd() / path
    path.mkdir(parents=True, exist_ok=True)
    return path


def _secret_key(config: dict[str, Any], instance: Path) -> str:
    if config["SECRET_KEY"]:
        return config["SECRET_KEY"]
    if config["ENV"] == "testing":
        return secrets.token_hex(32)
    # Development only (production refuses an empty key): generate once, keep it private.
    key_file = instance / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _flask_config(config: dict[str, Any], instance: Path) -> dict[str, Any]:
    url = config["DATABASE_URL"] or f"sqlite:///{instance / 'cqms.sqlite3'}"
    idle = config["SESSION_IDLE_MINUTES"] * 60
    return {
        **config,
        "SECRET_KEY": _secret_key(config, instance),
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "TESTING": config["ENV"] == "testing",
        "SESSION_COOKIE_NAME": "cqms_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": config["FORCE_HTTPS"],
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=config["SESSION_ABSOLUTE_HOURS"]),
        "WTF_CSRF_TIME_LIMIT": idle,
        "MAX_CONTENT_LENGTH": MAX_UPLOAD_BYTES,
        "PREFERRED_URL_SCHEME": "https" if config["FORCE_HTTPS"] else "http",
    }


def create_app(
    overrides: Mapping[str, Any] | None = None,
    *,
    extra_plugins: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Flask:
    """Build an app: validated config, one plugin manager, checked registries, protected views.

    :param overrides: configuration keys that win over profile and environment (tests).
    :param extra_plugins: plugin objects by key, treated as installed (tests, embedding).
    :param environ: environment to read ``CQMS_*`` from (defaults to ``os.environ``).
    """
    config = load_config(overrides, environ)
    instance = _instance_path(config)
    app = Flask(__name__, instance_path=str(instance))
    app.config.update(_flask_config(config, instance))
    logging.getLogger("cqms").setLevel(config["LOG_LEVEL"])

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            configure_engine(engine)

    host = PluginHost(
        config["PLUGINS"],
        core=defaults,
        enable_gate=require_approved_summary,
        extra_plugins=extra_plugins,
        enabled_by_default=config["PLUGINS_ENABLED_BY_DEFAULT"],
    )
    state = CQMSState(
        host=host,
        registry=build_registry(host),
        hasher=make_hasher(config["ENV"] == "testing"),
        totp_roles=frozenset(config["TOTP_REQUIRED_ROLES"]),
    )
    app.extensions["cqms"] = state
    from core.audit import checkpoints as _checkpoints  # noqa: F401 - installs the writer
    from core.workflows import service as _workflows  # noqa: F401 - installs after-commit hooks

    state.reconcilers.extend([reconcile_audited_rows, reconcile_record_hashes,
                              verify_signatures, verify_attachments])

    login_manager.init_app(app)
    csrf.init_app(app)

    install_web(app, state)
    install_api(app, state)
    for _plugin, blueprint in state.registry.blueprints:
        app.register_blueprint(blueprint)

    build_admin(app, state)
    _register_plugin_commands(app, host)
    host.pm.hook.app_ready(app=app)
    return app


def _register_plugin_commands(app: Flask, host: PluginHost) -> None:
    for key in host.plugins:
        if key == "core":
            continue
        group = click.Group(key, help=f"Commands of the {host.plugins[key].title} plugin.")
        host.hook_of(key, "register_commands")(cli=group)
        if group.commands:
            app.cli.add_command(group)
