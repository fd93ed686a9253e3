"""Benchmarks: ``make bench`` (or ``python -m bench``) prints figures and ratios, run to run."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def backends(folder: Path, name: str) -> list[tuple[str, str]]:
    """(label, database URL) of each backend a bench runs on: a SQLite file ``name`` in
    ``folder``, and PostgreSQL when CQMS_TEST_POSTGRES_URL is set (its database is wiped)."""
    import os

    found = [("sqlite", f"sqlite:///{folder / name}")]
    if os.environ.get("CQMS_TEST_POSTGRES_URL"):
        found.append(("postgresql", os.environ["CQMS_TEST_POSTGRES_URL"]))
    return found


def build_app(url: str, instance: Path, *, env: str = "testing", fresh: bool = True,
              **overrides: Any):  # type: ignore[no-untyped-def]
    """An app on ``url``; ``fresh`` empties the database (PostgreSQL: the public schema) and
    creates the schema. ``extra_plugins`` is passed through; other keywords are config keys."""
    from sqlalchemy import text

    from core.app import create_app
    from core.db import db
    from core.testing import create_schema

    extra_plugins = overrides.pop("extra_plugins", None)
    # One deployment, one integrity key: processes with sibling instance folders share it.
    overrides.setdefault("INTEGRITY_KEY_FILE", str(_shared_key(instance.parent)))
    app = create_app({"ENV": env, "DATABASE_URL": url, "INSTANCE_PATH": str(instance),
                      **overrides}, extra_plugins=extra_plugins, environ={})
    if fresh:
        if url.startswith("postgresql"):
            with app.app_context():
                db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
                db.session.commit()
        create_schema(app)
    return app


def _shared_key(folder: Path) -> Path:
    """A 32-byte key file in ``folder``, published whole once (the first process wins)."""
    import os
    import secrets
    import tempfile

    path = folder / "bench-integrity.key"
    folder.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path


def _reported(target: Any, args: tuple[Any, ...], barrier: Any, results: Any) -> None:
    """Run ``target(*args, barrier)`` in a writer process and put its ``(start, end)``, or its
    error, on ``results``."""
    try:
        start, end = target(*args, barrier)
        results.put((start, end, ""))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        results.put((0.0, 0.0, repr(exc)))


def timed_from_barrier(target: Any, args: list[tuple[Any, ...]]) -> float:
    """Run ``target(*args[n], barrier)`` in one spawned process per ``args[n]``; each waits on
    the barrier and returns the ``(start, end)`` of its timed work. Returns the seconds from the
    first start to the last end (process start-up not counted); raises on an error."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(args)), ctx.Queue()
    procs = [ctx.Process(target=_reported, args=(target, one, barrier, results)) for one in args]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    errors = [error for _start, _end, error in outcomes if error]
    if errors:
        raise RuntimeError(f"writer failed: {errors[0]}")
    return max(end for _s, end, _e in outcomes) - min(start for start, _e, _r in outcomes)
