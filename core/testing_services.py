"""The services a test needs (PostgreSQL, Redis, chromium): their addresses from the
environment, or a skip on a laptop and a failure in CI (``CQMS_TEST_REQUIRE_SERVICES``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from core.validation.results import services_required


def missing_service(reason: str) -> None:
    """Skip with ``reason`` on a laptop; fail in CI, where every service must be present."""
    if services_required():
        pytest.fail(f"{reason} (CQMS_TEST_REQUIRE_SERVICES is set)", pytrace=False)
    pytest.skip(reason)


def redis_url() -> str:
    """``CQMS_TEST_REDIS_URL``, answering; else skip (fail in CI)."""
    url = os.environ.get("CQMS_TEST_REDIS_URL", "")
    if not url:
        missing_service("Redis not configured: set CQMS_TEST_REDIS_URL")
    from limits.storage import storage_from_string

    if not storage_from_string(url).check():
        missing_service(f"Redis at {url} does not answer")
    return url


def postgres_url() -> str:
    url = os.environ.get("CQMS_TEST_POSTGRES_URL", "")
    if not url:
        missing_service("PostgreSQL not configured: set CQMS_TEST_POSTGRES_URL")
    try:
        engine = create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any connection failure means "not available"
        missing_service(f"PostgreSQL at CQMS_TEST_POSTGRES_URL unreachable: {exc.__class__.__name__}")
    return url


def chromium_path() -> str:
    path = os.environ.get("CQMS_TEST_CHROMIUM") or shutil.which("chromium") or ""
    if not path or not Path(path).exists():
        missing_service("chromium not installed (apt-get install -y chromium)")
    return path
