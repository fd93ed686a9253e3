"""The facade's lookups for plugins (``User.by_username``, ``Role.by_key``, ``Study.by_code``,
``Site.by_code``, pick-lists, ``User.in_scope``, ``Record.by_id``...): found rows, None (or an
empty list) for anything else, whitespace stripped, never an error, on both backends."""

from __future__ import annotations

import pytest
from kernel_plugin import AcmeWidget, make_plugin

from core import Record, Role, Site, Study, User, create_record
from core.db import db
from core.signatures.models import Signature
from core.users.service import revoke_assignment

pytestmark = pytest.mark.backends("sqlite", "postgresql")

# What a form, a query string or a JSON body may carry instead of a key.
JUNK = ["", "   ", "\x00", "ST-1\x00", "a" * 5000, None, 17, 3.5, b"ST-1", ["ST-1"], {"x": 1}]
BAD_IDS = [None, "", " ", "x", "1x", "-1", "0", 0, -4, 2**31, 2**70, "9" * 40, "\x00", "1\x00",
           True, 1.0, "١", [1]]


@pytest.fixture
def app_config(temp_plugin):
    return {"plugins": ["acme"], "extra_plugins": {"acme": make_plugin(temp_plugin)}}


@pytest.fixture
def world(app, system_actor):
    """Two studies, each with a site 101; a site 102 only in the first."""
    first, second = Study(code="ST-1", title="One"), Study(code="ST-2", title="Two")
    sites = {"1/101": Site(study=first, code="101", name="Berlin"),
             "1/102": Site(study=first, code="102", name="Lyon"),
             "2/101": Site(study=second, code="101", name="Oslo")}
    db.session.add_all([first, second, *sites.values()])
    db.session.commit()
    return first, second, sites


def test_users_by_username_and_id(app, make_user, system_actor):
    alice = make_user("alice", "author")
    alice.active = False
    db.session.commit()
    assert User.by_username("alice") is alice  # inactive people are found: past records
    assert User.by_username("  alice\t") is alice
    assert User.by_username("ALICE") is None
    assert User.by_username("nobody") is None
    assert User.by_id(alice.id) is alice
    assert User.by_id(f" {alice.id} ") is alice
    assert User.by_id(alice.id + 1000) is None
    for junk in JUNK:
        assert User.by_username(junk) is None, junk
    for junk in BAD_IDS:
        assert User.by_id(junk) is None, junk


def test_active_people_leave_out_the_deactivated_and_service_principals(app, make_user,
                                                                       system_actor):
    bob, cleo = make_user("bob"), make_user("cleo")
    make_user("dan").active = False
    db.session.commit()
    assert [u.username for u in User.active_people()] == [bob.username, cleo.username]
    assert all(not u.is_service for u in User.active_people())


def test_roles_by_key_and_the_pick_list(app):
    role = Role.by_key("qa_manager")
    assert role is not None and role.key == "qa_manager"
    assert Role.by_key(" qa_manager ") is role
    assert Role.by_key("QA_MANAGER") is None
    assert Role.by_key("nobody") is None
    for junk in JUNK:
        assert Role.by_key(junk) is None, junk
    keys = [r.key for r in Role.pick_list()]
    assert keys == sorted(keys) and {"qa_manager", "author"} <= set(keys)


def test_studies_and_sites_by_code(world):
    first, second, sites = world
    assert Study.by_code("ST-1") is first
    assert Study.by_code(" ST-2 ") is second
    assert Study.by_code("st-1") is None
    assert Study.by_code("ST-3") is None
    assert Site.by_code("102") is sites["1/102"]  # one study has a 102
    assert Site.by_code("101") is None  # two studies have a 101: name the study
    assert Site.by_code(" 101", first) is sites["1/101"]
    assert Site.by_code("101", second.id) is sites["2/101"]
    assert Site.by_code("102", second) is None
    assert Site.by_id(sites["1/102"].id) is sites["1/102"]
    assert Site.by_id(str(sites["2/101"].id)) is sites["2/101"]
    for junk in JUNK:
        assert Study.by_code(junk) is None, junk
        assert Site.by_code(junk) is None, junk
        assert Site.by_code(junk, first) is None, junk
    for junk in BAD_IDS:
        assert Site.by_id(junk) is None, junk


def test_study_and_site_pick_lists(world):
    first, second, sites = world
    assert Study.pick_list() == [first, second]
    assert Site.pick_list() == [sites["1/101"], sites["1/102"], sites["2/101"]]
    assert Site.pick_list(second) == [sites["2/101"]]
    assert Site.pick_list(first.id) == [sites["1/101"], sites["1/102"]]


def test_people_in_a_viewers_scope(world, make_user, system_actor):
    first, second, sites = world
    viewer = make_user("vera", "inspector", study=first)  # core.users.view for study ST-1
    everywhere = make_user("gina", "qa_manager")
    in_first = make_user("fred", "author", "trainee", study=first)
    make_user("olaf", "author", study=second)
    at_lyon = make_user("lea", "qa_manager", site=sites["1/102"])
    gone = make_user("gus", "author", study=first)
    gone.active = False
    revoked = make_user("rex", "author", study=first)
    revoke_assignment(revoked.assignments[0], reason="left the study")
    db.session.commit()
    names = lambda users: [u.username for u in users]  # noqa: E731
    seen = names(User.in_scope(viewer, "core.users.view"))
    # Grants of no study are everyone's; ST-1's grants, not ST-2's; a site grant needs a
    # grant of that site (the same rule as scope_clause).
    assert seen == ["fred", "gina", "vera"]
    assert names(User.in_scope(viewer, "core.users.view", role="author")) == ["fred"]
    assert names(User.in_scope(viewer, "core.users.view", role=" author ")) == ["fred"]
    assert names(User.in_scope(viewer, "core.users.view", study=first)) == ["fred", "vera"]
    assert names(User.in_scope(viewer, "core.users.view", after="fred", limit=1)) == ["gina"]
    assert names(User.in_scope(viewer, "core.users.view", username="gina")) == ["gina"]
    assert names(User.in_scope(viewer, "core.users.view", former=True)) == [
        "fred", "gina", "gus", "rex", "vera"]
    admin = make_user("ada", "qa_manager")
    assert names(User.in_scope(admin, "core.users.view", site=sites["1/102"])) == ["lea"]
    assert names(User.in_scope(admin, "core.users.view", study=first.id)) == [
        "fred", "lea", "vera"]
    assert User.in_scope(viewer, "acme.approve") == []  # a permission the viewer lacks
    assert User.in_scope(viewer, "core.users.view", role="nobody") == []
    for junk in ("\x00", "   ", "gina\x00"):
        assert User.in_scope(viewer, "core.users.view", role=junk) == []
        assert User.in_scope(viewer, "core.users.view", username=junk) == []
    assert User.in_scope(viewer, "core.users.view", after="\x00") == []
    # Nobody is left out for being listed through another grant: one row per person.
    assert names(User.in_scope(admin, "core.users.view")) == sorted(
        [u.username for u in (admin, viewer, everywhere, in_first, at_lyon)] + ["olaf"])


def test_records_by_id(app, make_user, system_actor):
    owner = make_user("owen", "author")
    pump = create_record("acme_widget", owner, title="Pump")
    valve = create_record("acme_widget", owner, title="Valve")
    db.session.commit()
    assert Record.by_id(pump.id) is pump
    assert AcmeWidget.by_id(str(valve.id)) is valve
    assert Record.by_id(valve.id + 1000) is None
    for junk in BAD_IDS:
        assert Record.by_id(junk) is None, junk
    assert Record.by_ids([pump.id, valve.id, valve.id + 1000, "x", None]) == {
        pump.id: pump, valve.id: valve}
    assert Record.by_ids([]) == {} and Record.by_ids(BAD_IDS) == {}


def test_a_signatures_meaning_label(app):
    assert Signature(meaning="approved").meaning_label == "Approved by"
    assert Signature(meaning="retired_meaning").meaning_label == "retired_meaning"
