"""The benchmarks' own plugins still start on today's core: a declaration the core began to
require (state categories, say) must not leave ``make bench`` broken until someone runs it."""

from __future__ import annotations

from bench import audit_trail, build_app, kernel_app


def _creates_a_record(app, type_key: str, user, **values) -> str:  # type: ignore[no-untyped-def]
    from core import create_record
    from core.db import db

    record = create_record(type_key, user, **values)
    db.session.commit()
    number = record.number
    db.engine.dispose()
    return number


def test_the_kernel_bench_plugin_starts_and_creates_a_record(tmp_path):
    app = kernel_app.make_app(f"sqlite:///{tmp_path / 'bench.sqlite3'}", tmp_path / "instance")
    with app.app_context():
        assert _creates_a_record(app, "bench_item", kernel_app.bench_user(), title="t",
                                 alpha="a").startswith("BEN-")


def test_the_audit_trail_bench_plugin_starts_and_creates_a_record(tmp_path):
    app = build_app(f"sqlite:///{tmp_path / 'trail.sqlite3'}", tmp_path / "instance",
                    PLUGINS=["benchsig"], extra_plugins={"benchsig": audit_trail._Plugin})
    with app.app_context():
        assert _creates_a_record(app, "benchsig_item", audit_trail._user(), title="t")
