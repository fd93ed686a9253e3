"""No admin page carries inline script that our CSP would refuse: Flask-Admin's ``onclick``
attributes and ``javascript:`` links are served as data attributes run by an external script
(core/admin/csp_templates.py, core/static/core/admin-csp.js). The browser check is
tests/browser/test_admin_csp.py."""

from __future__ import annotations

import re

import pytest
from flask import url_for
from sqlalchemy import select

from core.admin.csp_templates import without_inline_script
from core.db import db
from core.studies import Study
from core.users.models import Role

INLINE_SCRIPT = re.compile(r"<[^>]*(\son[a-z]+\s*=|javascript:)[^>]*>", re.IGNORECASE)


@pytest.fixture
def app_config():
    return {"plugins": ["documents", "training", "capa", "audits"]}


def test_flask_admin_handlers_become_data_attributes():
    source = ('<a href="javascript:void(0)" class="filter" onclick="return false;">x</a>'
              '<button onclick="return faHelpers.safeConfirm(\'{{ _gettext(\'Sure?\') }}\');">')
    assert without_inline_script(source) == (
        '<a href="#" data-cqms-inert class="filter" data-cqms-onclick="return false;">x</a>'
        '<button data-cqms-onclick="return faHelpers.safeConfirm(\'{{ _gettext(\'Sure?\') }}\');">')


@pytest.mark.req("SEC-10")
def test_no_admin_page_carries_inline_script(app, client, make_user, login, system_actor):
    make_user("root", *db.session.scalars(select(Role.key)).all())
    db.session.add(Study(code="S-001", title="Study"))
    db.session.commit()
    assert login(client, "root").status_code == 302
    pages = []
    for view in app.extensions["cqms"].admin._views:
        with app.test_request_context():
            if hasattr(view, "index_view"):
                pages.append(url_for(f"{view.endpoint}.index_view"))
                if getattr(view, "can_create", False):
                    pages.append(url_for(f"{view.endpoint}.create_view"))
            else:
                pages.append(url_for(f"{view.endpoint}.index"))
    pages.append("/admin/core_studies/edit/?id=1")
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        found = INLINE_SCRIPT.findall(response.get_data(as_text=True))
        assert found == [], (url, found)
    assert len(pages) >= 25
