"""Deployment configuration: documented defaults, profiles and CQMS_* environment overrides.

``defaults.toml`` is both the documentation and the schema: the type of each default is the
type the key must have. :func:`load_config` merges defaults < profile < environment < explicit
overrides and raises :class:`ConfigError` (one line naming the key) on any unknown key or type.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent
PROFILES_DIR = CONFIG_DIR / "profiles"
ENV_PREFIX = "CQMS_"
ENVIRONMENTS = ("development", "production", "testing")
MIN_PRODUCTION_SECRET = 32
# CQMS_* variables that are not configuration keys.
NON_CONFIG_ENV = {"CQMS_CONFIG", "CQMS_DEMO_PASSWORD"}
NON_CONFIG_ENV_PREFIXES = ("CQMS_TEST_",)
# Media types the attachment service can recognise from content (ATTACHMENT_TYPES picks from these).
ATTACHMENT_MEDIA_TYPES = frozenset({
    "application/pdf",
    "image/png",
    "image/jpeg",
    "text/plain",
    "text/csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
})


class ConfigError(ValueError):
    """A configuration value is unknown or invalid; the message names the key."""


MAX_AUDIT_CHAINS = 1024


def load_defaults() -> dict[str, Any]:
    with open(CONFIG_DIR / "defaults.toml", "rb") as fh:
        return tomllib.load(fh)


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def _profile_path(name: str) -> Path:
    if name.endswith(".toml") or os.sep in name:
        path = Path(name)
    else:
        path = PROFILES_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(
            f"CQMS_CONFIG: profile {name!r} not found (available: {', '.join(available_profiles())}"
            " or a path to a .toml file)"
        )
    return path


def load_profile(name: str) -> dict[str, Any]:
    path = _profile_path(name)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"CQMS_CONFIG: {path} is not valid TOML: {exc}") from None


def _parse_env(key: str, raw: str, default: Any) -> Any:
    name = ENV_PREFIX + key
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: expected true or false, got {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if isinstance(default, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def _env_overrides(environ: Mapping[str, str], defaults: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NON_CONFIG_ENV:
            continue
        if name.startswith(NON_CONFIG_ENV_PREFIXES):
            continue
        key = name[len(ENV_PREFIX) :]
        if key not in defaults:
            raise ConfigError(f"{name}: unknown configuration key {key!r}")
        values[key] = _parse_env(key, raw, defaults[key])
    return values


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", str: "string", list: "list of strings"}.get(
        type(value), type(value).__name__
    )


def _check_types(values: Mapping[str, Any], defaults: dict[str, Any], source: str) -> None:
    for key, value in values.items():
        if key not in defaults:
            raise ConfigError(f"{key}: unknown configuration key (in {source})")
        expected = defaults[key]
        ok = type(value) is type(expected)
        if ok and isinstance(value, list):
            ok = all(isinstance(item, str) for item in value)
        if not ok:
            raise ConfigError(
                f"{key}: expected {_type_name(expected)}, got {value!r} (in {source})"
            )


def _check_values(config: dict[str, Any]) -> None:
    if config["ENV"] not in ENVIRONMENTS:
        raise ConfigError(f"ENV: must be one of {', '.join(ENVIRONMENTS)}, got {config['ENV']!r}")
    for key in ("LOCKOUT_THRESHOLD", "SESSION_IDLE_MINUTES", "SESSION_ABSOLUTE_HOURS",
                "API_TOKEN_DAYS"):
        if config[key] < 1:
            raise ConfigError(f"{key}: must be at least 1, got {config[key]}")
    if config["PASSWORD_MIN_LENGTH"] < 8:
        raise ConfigError("PASSWORD_MIN_LENGTH: must be at least 8")
    if config["PASSWORD_MAX_LENGTH"] < max(64, config["PASSWORD_MIN_LENGTH"]):
        raise ConfigError("PASSWORD_MAX_LENGTH: must accept at least 64 characters")
    if config["API_TOKEN_MAX_DAYS"] < config["API_TOKEN_DAYS"]:
        raise ConfigError("API_TOKEN_MAX_DAYS: must be at least API_TOKEN_DAYS")
    if config["PASSWORD_HISTORY"] < 0:
        raise ConfigError("PASSWORD_HISTORY: must not be negative")
    _check_rate_limits(config)
    if not 1 <= config["AUDIT_CHAINS"] <= MAX_AUDIT_CHAINS:
        raise ConfigError(f"AUDIT_CHAINS: must be 1 to {MAX_AUDIT_CHAINS}, got "
                          f"{config['AUDIT_CHAINS']}")
    if len(set(config["PLUGINS"])) != len(config["PLUGINS"]):
        raise ConfigError("PLUGINS: lists a plugin twice")
    _check_attachments(config)
    _check_jobs(config)
    _check_mail(config)
    if config["ENV"] == "production":
        if len(config["SECRET_KEY"]) < MIN_PRODUCTION_SECRET:
            raise ConfigError(
                f"SECRET_KEY: production needs a real secret key of at least "
                f"{MIN_PRODUCTION_SECRET} characters (set CQMS_SECRET_KEY)"
            )
        config["FORCE_HTTPS"] = True
        if not config["INTEGRITY_KEY_FILE"] or not Path(config["INTEGRITY_KEY_FILE"]).is_file():
            raise ConfigError(
                "INTEGRITY_KEY_FILE: production needs an existing key file outside the database "
                "(create one with: head -c 32 /dev/urandom > /etc/cqms/integrity.key)"
            )


def _check_rate_limits(config: dict[str, Any]) -> None:
    from limits import parse
    from limits.storage import storage_from_string

    for key in ("SIGN_IN_RATE_LIMIT", "TOKEN_RATE_LIMIT", "SIGNING_RATE_LIMIT"):
        try:
            parse(config[key])
        except ValueError:
            raise ConfigError(f"{key}: expected a limit such as '20 per minute', got "
                              f"{config[key]!r}") from None
    try:
        storage_from_string(config["RATE_LIMIT_STORAGE_URL"])
    except Exception as exc:  # noqa: BLE001 - any refusal is a configuration error
        raise ConfigError(f"RATE_LIMIT_STORAGE_URL: {exc}".splitlines()[0]) from None


def _check_jobs(config: dict[str, Any]) -> None:
    url = config["JOB_QUEUE_URL"]
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"JOB_QUEUE_URL: expected empty or a redis:// URL, got {url!r}")
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", config["JOB_QUEUE_NAME"]):
        raise ConfigError("JOB_QUEUE_NAME: 1 to 64 letters, digits and _ . : - only")
    for key, lowest in (("JOB_THREADS", 1), ("JOB_STALE_SECONDS", 60), ("JOB_KEEP_DAYS", 1)):
        if config[key] < lowest:
            raise ConfigError(f"{key}: must be at least {lowest}, got {config[key]}")


def _check_attachments(config: dict[str, Any]) -> None:
    if config["ATTACHMENT_STORAGE"] not in ("folder", "database", "s3"):
        raise ConfigError(f"ATTACHMENT_STORAGE: must be 'folder', 'database' or 's3', got "
                          f"{config['ATTACHMENT_STORAGE']!r}")
    if config["ATTACHMENT_STORAGE"] == "s3" and not config["S3_BUCKET"]:
        raise ConfigError("S3_BUCKET: required when ATTACHMENT_STORAGE is 's3'")
    endpoint = config["S3_ENDPOINT_URL"]
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"S3_ENDPOINT_URL: expected an http(s):// URL, got {endpoint!r}")
    if config["ATTACHMENT_MAX_BYTES"] < 1:
        raise ConfigError(f"ATTACHMENT_MAX_BYTES: must be at least 1, got "
                          f"{config['ATTACHMENT_MAX_BYTES']}")
    unknown = sorted(set(config["ATTACHMENT_TYPES"]) - ATTACHMENT_MEDIA_TYPES)
    if unknown:
        raise ConfigError(f"ATTACHMENT_TYPES: unsupported media type {unknown[0]!r} (supported: "
                          f"{', '.join(sorted(ATTACHMENT_MEDIA_TYPES))})")
    folder = config["ATTACHMENT_DIR"]
    if folder and Path(folder).exists() and not Path(folder).is_dir():
        raise ConfigError(f"ATTACHMENT_DIR: {folder} exists and is not a folder")


def _check_mail(config: dict[str, Any]) -> None:
    if config["SMTP_HOST"] and "@" not in config["SMTP_FROM"]:
        raise ConfigError("SMTP_FROM: a sender address is required when SMTP_HOST is set")
    if not 0 < config["SMTP_PORT"] < 65536:
        raise ConfigError(f"SMTP_PORT: must be between 1 and 65535, got {config['SMTP_PORT']}")
    for key in ("SMTP_TIMEOUT", "NOTIFICATION_MAX_ATTEMPTS"):
        if config[key] < 1:
            raise ConfigError(f"{key}: must be at least 1, got {config[key]}")
    url = config["PUBLIC_URL"]
    if url and not url.startswith(("https://", "http://")):
        raise ConfigError(f"PUBLIC_URL: must start with https:// or http://, got {url!r}")


def load_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the validated configuration as a dict of UPPER_CASE keys."""
    environ = os.environ if environ is None else environ
    defaults = load_defaults()
    config = dict(defaults)
    profile = environ.get("CQMS_CONFIG", "").strip()
    if profile:
        values = load_profile(profile)
        _check_types(values, defaults, f"profile {profile}")
        config.update(values)
    config.update(_env_overrides(environ, defaults))
    if overrides:
        _check_types(overrides, defaults, "overrides")
        config.update(overrides)
    _check_values(config)
    config["CONFIG_PROFILE"] = profile or "default"
    return config
