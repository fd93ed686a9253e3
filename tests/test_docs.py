"""The documentation stays true to the code."""

import re
from pathlib import Path

from core.hookspecs import hook_names

ROOT = Path(__file__).resolve().parent.parent


def test_hook_reference_lists_exactly_the_hookspecs():
    guide = (ROOT / "docs" / "plugin-author-guide.md").read_text()
    reference = guide.split("## Hook reference", 1)[1]
    documented = re.findall(r"^### (\w+)\(", reference, flags=re.M)
    assert sorted(documented) == hook_names()


def test_hook_reference_signatures_match():
    import inspect

    from core import hookspecs

    guide = (ROOT / "docs" / "plugin-author-guide.md").read_text()
    for name in hook_names():
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"### {name}({params})" in guide, name


def test_readme_opens_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```", 2)[1]
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()[1:]] == [
        "make run", "make test"]


def test_every_config_key_is_documented_in_defaults():
    from config import load_defaults

    lines = (ROOT / "config" / "defaults.toml").read_text().splitlines()
    for key in load_defaults():
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key} = "))
        while index > 0 and re.match(r"^[A-Z_]+ = ", lines[index - 1]):
            index -= 1  # a group of keys shares the comment above it
        assert lines[index - 1].startswith("# "), f"{key} has no comment above it"


def test_every_declaration_field_is_in_the_plugin_author_guide():
    """Each field of the dataclasses plugins declare with is named in the guide."""
    import dataclasses
    import re

    import core.specs as specs

    guide = (ROOT / "docs" / "plugin-author-guide.md").read_text()
    internal = {"PluginInfo"}  # the host's own record of a plugin, not a declaration
    missing = []
    for name in dir(specs):
        spec = getattr(specs, name)
        if isinstance(spec, type) and dataclasses.is_dataclass(spec) and \
                spec.__module__ == "core.specs" and name not in internal:
            missing += [f"{name}.{f.name}" for f in dataclasses.fields(spec)
                        if not re.search(rf"\b{f.name}\b", guide)]
    assert missing == []


def test_every_testing_fixture_and_record_column_is_in_the_plugin_author_guide():
    """The fixtures ``core.testing`` gives a plugin's tests, and the base columns every record
    has, are each named in the guide (the reference cannot drift from the code)."""
    import re

    import core.testing as testing
    from core.records.models import Record

    guide = (ROOT / "docs" / "plugin-author-guide.md").read_text()
    fixtures = [name for name in dir(testing)
                if getattr(getattr(testing, name), "_fixture_function_marker", None) is not None
                or type(getattr(testing, name)).__name__ == "FixtureFunctionDefinition"]
    assert {"app", "client", "make_user"} <= set(fixtures)  # the check itself sees fixtures
    named = {getattr(getattr(testing, n), "name", None) or n for n in fixtures}
    missing = [f"fixture {name}" for name in sorted(named)
               if not re.search(rf"`{re.escape(name)}[`(]", guide)]
    missing += [f"column {column.key}" for column in Record.__table__.columns
                if not re.search(rf"`{column.key}`", guide)]
    assert missing == []
