"""Every demo role's everyday pages at 1,366 x 768 (issue 15): no horizontal scrolling, no
internal keys in the visible text, no serious or critical accessibility violation (axe-core,
from the axe-playwright-python package, injected into the page). Screenshots are kept as CI
artefacts in CQMS_SCREENS (default reports/screens/)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from browser_helpers import sign_in
from sqlalchemy import select

from core.db import db
from core.records.models import Record
from core.testing import DEFAULT_PASSWORD

SCREENS = Path(os.environ.get("CQMS_SCREENS", "reports/screens"))
RAW_KEYS = re.compile(r"\b(?:documents|training|core|capa|audits)(?:_|\.\w)|__None|\w_id\b|"
                      r"content_hash|attachments_digest")  # "audits.view", not "audits."
SERIOUS = {"serious", "critical"}
ROLE_PAGES = {
    "qa": ["/admin/", "/admin/documents_document/", "{document}", "{version}",
           "/admin/core_audit/", "/admin/training_matrix/", "/admin/core_tasks/", "{event}",
           "{capa}", "/admin/capa_board/", "{chain}", "{actions}", "/admin/capa_capa/",
           "/admin/training_curriculum/", "/admin/training_requirement/",
           "/admin/core_settings/", "/admin/core_periodic_review/", "/reviews/system-report",
           "/admin/core_config_versions/", "/admin/core_jobs/"],
    "author": ["/admin/", "/admin/documents_version/", "{version}", "/training/my",
               "/admin/documents_document/new/", "{revise}", "{compare}", "{capa}",
               "/capa/my-actions", "{submit}", "/account/delegations"],
    "reviewer": ["/admin/", "/admin/core_tasks/", "{review}"],
    "approver": ["/admin/", "{review}"],
    "trainee": ["/admin/", "/training/my", "/admin/core_tasks/"],
    "admin": ["/admin/", "/admin/core_users/", "/admin/core_audit/", "/admin/core_plugins/",
              "/admin/core_reactions/", "/admin/core_roles/", "/admin/core_settings/"],
    "auditor": ["/admin/", "/admin/audits_audit/", "{audit}", "{audit_work}", "{programme}",
                "/audits/calendar", "{finding}"],
    "inspector": ["/admin/", "/admin/documents_document/", "{document}", "{chain}"],
    "site_monitor": ["/admin/", "/admin/documents_document/", "/admin/capa_event/", "{event}",
                     "/admin/capa_event/new/"],
}
pytestmark = pytest.mark.plugins("documents", "training", "capa", "audits")


@pytest.fixture
def demo(app, run_cqms, monkeypatch):
    monkeypatch.setenv("CQMS_DEMO_PASSWORD", DEFAULT_PASSWORD)
    status, out, err = run_cqms("demo")
    assert status == 0, err
    numbers = dict(db.session.execute(select(Record.number, Record.id)).all())
    db.session.commit()
    return {"document": f"/admin/documents_document/details/?id={numbers['SOP-0001']}",
            "revise": f"/documents/{numbers['SOP-0001']}/revise",
            "compare": f"/documents/{numbers['SOP-0002']}/compare",
            "version": f"/admin/documents_version/details/?id={numbers['SOP-0001-v2.0']}",
            "submit": f"/documents/versions/{numbers['SOP-0003-v1.0']}/submit",
            "review": f"/admin/documents_version/details/?id={numbers['SOP-0002-v1.1']}",
            "event": f"/admin/capa_event/details/?id={first(numbers, 'QE-')}",
            "capa": f"/admin/capa_capa/details/?id={first(numbers, 'CAPA-')}",
            "chain": f"/capa/records/{first(numbers, 'CAPA-')}/chain",
            "actions": f"/capa/capas/{first(numbers, 'CAPA-')}/actions",
            "audit": f"/admin/audits_audit/details/?id={first(numbers, 'AUD-')}",
            "audit_work": f"/audits/audits/{first(numbers, 'AUD-')}",
            "programme": f"/audits/programmes/{first(numbers, 'AP-')}",
            "finding": f"/admin/audits_finding/details/?id={first(numbers, 'FND-')}"}


def first(numbers: dict[str, int], prefix: str) -> int:
    """The id of the first record numbered with ``prefix`` (numbers carry the year)."""
    return numbers[min(n for n in numbers if n.startswith(prefix))]


@pytest.mark.parametrize("username", sorted(ROLE_PAGES))
def test_each_role_s_pages_fit_read_in_words_and_pass_axe(page, live_server, demo, username):
    page.set_viewport_size({"width": 1366, "height": 768})
    SCREENS.mkdir(parents=True, exist_ok=True)
    sign_in(page, live_server, username)
    axe, problems = Axe(), []
    for n, path in enumerate(ROLE_PAGES[username]):
        response = page.goto(live_server + path.format(**demo))
        assert response is not None and response.status == 200, path
        page.screenshot(path=str(SCREENS / f"{username}-{n}.png"), full_page=True)
        where = f"{username} {path}"
        if page.evaluate("document.documentElement.scrollWidth") > 1366:
            problems.append(f"{where}: wider than the window")
        text = page.inner_text("body")
        problems += [f"{where}: shows {key!r}" for key in set(RAW_KEYS.findall(text))]
        results = axe.run(page)
        problems += [f"{where}: {v['id']} ({v['impact']}) {v['help']}"
                     for v in results.response["violations"] if v["impact"] in SERIOUS]
    assert problems == [], "\n".join(problems)
