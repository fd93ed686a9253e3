"""What code is installed: the core and each plugin, with version and SHA-256 (A11-02, ISO-22).

A component's checksum covers every file of its package (sorted relative paths and bytes, no
caches), so any edit to code, template or migration changes it; two deployments with the same
checksums run the same code.
"""

from __future__ import annotations

import hashlib
import importlib.util
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from core.plugins import installed_entry_points

CORE_DIR = Path(__file__).resolve().parents[1]
_SKIP_PARTS = {"__pycache__", ".pytest_cache"}


def package_dir(module: str) -> Path | None:
    """The directory of the package holding ``module`` (``plugins.documents.plugin`` ->
    ``plugins/documents``), found without importing the plugin."""
    package = module.split(":")[0].rpartition(".")[0] or module
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def tree_sha256(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if _SKIP_PARTS & set(relative.parts) or path.suffix == ".pyc":
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _core_version() -> str:
    try:
        return version("cqms")
    except PackageNotFoundError:
        return "0"


def _plugin_component(key: str, ep: Any) -> dict[str, Any]:
    directory = package_dir(ep.value)
    return {
        "key": key, "version": ep.dist.version if ep.dist is not None else "0",
        "sha256": tree_sha256(directory) if directory else None,
        "path": directory.relative_to(CORE_DIR.parent).as_posix()
        if directory and directory.is_relative_to(CORE_DIR.parent) else str(directory),
    }


def component(key: str) -> dict[str, Any] | None:
    """``{"key", "version", "sha256", "path"}`` of the core or one installed plugin, or None."""
    if key == "core":
        return {"key": "core", "version": _core_version(), "sha256": tree_sha256(CORE_DIR),
                "path": CORE_DIR.name}
    ep = installed_entry_points().get(key)
    return _plugin_component(key, ep) if ep is not None else None


def inventory() -> list[dict[str, Any]]:
    """Every component: the core first, then installed plugins."""
    return [component("core"), *(_plugin_component(key, ep) for key, ep
                                  in sorted(installed_entry_points().items()))]
