"""Record pages customised by declaration on ``RecordType`` (issues 14 and 15): list columns,
labels, help texts, form field order and pick lists, with no subclass of the core's view; a
declaration naming an unknown field stops start-up naming the plugin."""

from __future__ import annotations

import re

import pytest
from kernel_plugin import make_plugin

from core import create_record
from core.db import db
from core.errors import StartupError

URL = "/admin/acme_widget/"
OPTIONS = {
    "list_columns": ("notes",),
    "labels": {"description": "What it is for"},
    "help_texts": {"description": "One sentence a new colleague understands."},
    "field_order": ("notes", "description"),
    "choices": {"notes": (("fragile", "Fragile"), ("sturdy", "Sturdy"))},
}


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"],
            "extra_plugins": {"acme": make_plugin(temp_plugin, rt_options=OPTIONS)}}


def test_declarations_shape_the_list_the_form_and_the_page(client, login, make_user):
    alice = make_user("alice", "author")
    record = create_record("acme_widget", alice, title="Pump", description="Moves water",
                           notes="fragile")
    db.session.commit()
    login(client, "alice")
    listing = client.get(URL).get_data(as_text=True)
    assert re.search(r">\s*Notes\s*<", listing) and "Fragile" in listing  # the label chosen
    form = client.get(URL + "new/").get_data(as_text=True)
    assert "What it is for" in form and "One sentence a new colleague understands." in form
    fields = form[form.index("<form"):]
    assert fields.index('name="notes"') < fields.index('name="description"')
    assert '<option value="sturdy">Sturdy</option>' in form
    page = client.get(f"{URL}details/?id={record.id}").get_data(as_text=True)
    assert "What it is for" in page


def test_a_declaration_naming_an_unknown_field_stops_start_up(app_factory, temp_plugin):
    broken = make_plugin(temp_plugin, rt_options={"labels": {"colour": "Colour"}})
    with pytest.raises(StartupError, match=r"admin declarations name unknown fields \['colour'\]"):
        app_factory(plugins=["acme"], extra_plugins={"acme": broken}, schema=False)


def test_create_fields_keep_the_create_form_short(app_factory, temp_plugin, make_user, login):
    plugin = make_plugin(temp_plugin, rt_options={"create_fields": ("description",)})
    app = app_factory(plugins=["acme"], extra_plugins={"acme": plugin})
    with app.app_context():
        make_user("alice", "author")
    client = app.test_client()
    login(client, "alice")
    form = client.get(URL + "new/").get_data(as_text=True)
    assert 'name="description"' in form and 'name="title"' in form
    assert 'name="notes"' not in form  # filled in later, on the edit form
    with app.app_context():
        record = create_record("acme_widget", make_user("bob", "author"), title="Pump",
                               description="Moves water")
        db.session.commit()
        record_id = record.id
    edit = client.get(f"{URL}edit/?id={record_id}").get_data(as_text=True)
    assert 'name="notes"' in edit
