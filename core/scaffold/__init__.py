"""``cqms plugins new``: a pip-installable in-house plugin that installs, migrates, enables and
passes its own tests unchanged. The files are the templates in ``package/`` (``$name``
placeholders); the CI test ``tests/test_plugin_scaffold.py`` builds one and runs its tests."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).parent / "package"
KEY = re.compile(r"^[a-z][a-z0-9]{1,19}$")
LABEL = re.compile(r"^[A-Za-z][A-Za-z ]{1,58}[A-Za-z]$")


class ScaffoldError(ValueError):
    """A key, label or folder the scaffold refuses (one readable line)."""


def names(key: str, label: str) -> dict[str, str]:
    words = label.split()
    return {
        "key": key, "package": f"cqms_{key}", "title": key.capitalize(), "label": label,
        "type_key": f"{key}_{'_'.join(w.lower() for w in words)}",
        "Class": "".join(w.capitalize() for w in words),
        "prefix": key[:4].upper(), "created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_plugin(key: str, label: str, folder: Path, taken: set[str]) -> Path:
    """Write the package ``cqms-<key>`` into ``folder``; returns its path."""
    if not KEY.match(key):
        raise ScaffoldError(f"KEY: 2 to 20 lower-case letters and digits, starting with a "
                            f"letter (got {key!r})")
    if key in taken:
        raise ScaffoldError(f"KEY: {key!r} is already a plugin (or the core) here")
    if not LABEL.match(label):
        raise ScaffoldError(f"--record-type: 3 to 60 letters and spaces (got {label!r})")
    target = folder / f"cqms-{key}"
    if target.exists():
        raise ScaffoldError(f"--path: {target} already exists; nothing was written")
    values = names(key, label)
    for source in sorted(TEMPLATES.rglob("*.tmpl")):
        relative = str(source.relative_to(TEMPLATES)).removesuffix(".tmpl")
        relative = relative.replace("PACKAGE", values["package"]).replace("KEY", key)
        out = target / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(Template(source.read_text()).substitute(values))
    return target
