"""Dashboard charts: server-side SVG (no external script), counts in the viewer's scope."""

from __future__ import annotations

import base64
import re
from datetime import date, timedelta

import pytest
from kernel_plugin import make_plugin

from core import create_record, open_task
from core.db import db
from core.studies import Site, Study
from core.testing import csrf_token


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


def widget(page: str, key: str) -> str:
    match = re.search(rf'id="widget-{key}">(.*?)</section>', page, re.S)
    assert match, f"no widget {key}"
    return match.group(1)


def svg_of(html: str) -> str:
    uri = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html).group(1)
    return base64.b64decode(uri).decode()


@pytest.mark.req("SEC-02")
def test_charts_count_in_the_viewers_scope(client, make_user, login, system_actor):
    study = Study(code="ST-1", title="One")
    s1, s2 = Site(study=study, code="101", name="A"), Site(study=study, code="102", name="B")
    db.session.add_all([study, s1, s2])
    db.session.commit()
    alice = make_user("alice", "author")
    sam = make_user("sam", "site_monitor", site=s1)
    for site, n in ((s1, 2), (s2, 3)):
        for i in range(n):
            create_record("acme_widget", alice, title=f"W{i}", study_id=study.id, site_id=site.id)
    late = create_record("acme_widget", alice, title="Late", study_id=study.id, site_id=s1.id)
    db.session.commit()
    open_task(late, "acme.fix", "Fix it", assignee=sam, due=date.today() - timedelta(days=1),
              by=alice)
    db.session.commit()

    login(client, "sam")
    page = client.get("/admin/").get_data(as_text=True)
    states = widget(page, "core_records_by_state")
    assert "Widget: draft</td><td class=\"text-right\">3<" in states  # 2 + Late at site 101
    svg = svg_of(states)
    assert svg.startswith("<svg") and "Widget: draft" in svg
    assert not re.search(r"<script[^>]+src=", svg)  # nothing fetched from elsewhere
    overdue = widget(page, "core_overdue_tasks")
    assert "acme.fix</td><td class=\"text-right\">1<" in overdue
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/")})

    login(client, "alice")
    page = client.get("/admin/").get_data(as_text=True)
    assert "Widget: draft</td><td class=\"text-right\">6<" in widget(page, "core_records_by_state")
    assert "No overdue tasks." in widget(page, "core_overdue_tasks")
