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


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.M | re.S)


def _hook_sections(guide: str) -> dict[str, str]:
    reference = guide.split("## Hook reference", 1)[1]
    parts = re.split(r"^### (\w+)\(.*\n", reference, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_hook_in_the_reference_has_an_example_that_implements_it():
    """Each hook section shows a ```python block with a ``@hookimpl`` function of the hook's
    name taking only parameters of the hookspec (pluggy allows fewer, never others)."""
    import ast
    import inspect

    from core import hookspecs

    sections = _hook_sections((ROOT / "docs" / "plugin-author-guide.md").read_text())
    problems = []
    for name in hook_names():
        spec_params = set(inspect.signature(getattr(hookspecs, name)).parameters)
        implementations = [
            node for block in _python_blocks(sections.get(name, ""))
            for node in ast.walk(ast.parse(block))
            if isinstance(node, ast.FunctionDef) and node.name == name
            and any("hookimpl" in ast.unparse(d) for d in node.decorator_list)]
        if not implementations:
            problems.append(f"{name}: no @hookimpl example")
        for node in implementations:
            extra = {a.arg for a in node.args.args} - spec_params
            if extra:
                problems.append(f"{name}: example takes {sorted(extra)}, not in the hookspec")
    assert problems == []


def test_guide_code_compiles_and_imports_only_facade_names():
    """Every ```python block of the guide compiles, and every ``from core import ...`` in
    them names something in ``core.__all__`` (a renamed or internal name fails here)."""
    import ast

    import core

    guide = (ROOT / "docs" / "plugin-author-guide.md").read_text()
    blocks = _python_blocks(guide)
    assert len(blocks) > 31  # the check itself sees the examples
    problems = []
    for number, code in enumerate(blocks, start=1):
        try:
            compile(code, f"guide block {number}", "exec")
        except SyntaxError as exc:
            problems.append(f"block {number} does not compile: {exc}")
            continue
        problems += [f"block {number}: core.{alias.name} is not in core.__all__"
                     for node in ast.walk(ast.parse(code))
                     if isinstance(node, ast.ImportFrom) and node.module == "core"
                     for alias in node.names if alias.name not in core.__all__]
    assert problems == []


def test_declaration_examples_build_the_declarations_they_show():
    """The examples of the ``register_*`` hooks that return declarations run: their
    ``Permission``, ``RecordType``, ``Workflow``... take exactly the fields written (a renamed
    or removed field raises here) and the hook returns declarations of the hookspec's type.
    Names the example leaves to the reader (``Supplier``, a sweep) stand in as empty classes."""
    import ast
    import builtins
    import dataclasses
    import inspect

    import core.specs as specs
    from core import hookspecs

    sections = _hook_sections((ROOT / "docs" / "plugin-author-guide.md").read_text())
    checked = []
    for name in hook_names():
        spec = getattr(hookspecs, name)
        returns = re.fullmatch(r"(?:list\[)?(\w+)\]?", str(inspect.signature(spec)
                                                             .return_annotation))
        declared = getattr(specs, returns.group(1), None) if returns else None
        if inspect.signature(spec).parameters or not dataclasses.is_dataclass(declared):
            continue
        code = next(b for b in _python_blocks(sections[name]) if f"def {name}(" in b)
        tree = ast.parse(code)
        bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                 and isinstance(n.ctx, ast.Store)}
        bound |= {n.name for n in ast.walk(tree)
                  if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        bound |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
                  if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
        free = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - bound - set(dir(builtins))
        namespace = {"__name__": "acme_cqms.plugin", "__file__": "acme_cqms/plugin.py"}
        namespace.update({stand_in: type(stand_in, (), {}) for stand_in in free
                          if stand_in not in namespace})
        exec(compile(code, name, "exec"), namespace)  # noqa: S102 - the guide's own example
        result = namespace[name]()
        items = result if isinstance(result, list) else [result]
        assert items and all(dataclasses.is_dataclass(i) and type(i).__module__ == "core.specs"
                             for i in items), name
        assert any(isinstance(i, declared) for i in items), name
        checked.append(name)
    assert {"register_permissions", "register_record_types", "register_workflows",
            "register_migrations", "register_settings"} <= set(checked)
