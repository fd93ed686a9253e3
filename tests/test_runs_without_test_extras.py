"""``make run`` installs the project without its ``test`` extras: every module the application
and ``cqms`` load must import without pytest, Playwright, Hypothesis, Schemathesis, moto or
aiosmtpd (a module-level ``import pytest`` once stopped ``cqms db upgrade`` on a fresh
machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What only the test extras install, and the modules that are test support by design.
TEST_ONLY = ("pytest", "_pytest", "playwright", "hypothesis", "schemathesis", "moto", "aiosmtpd",
             "xdist", "importlinter", "axe_playwright_python")
SUPPORT = ("core.testing", "core.validation.results", "core.migrations.env")

PROBE = f"""
import importlib, pkgutil, sys

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {TEST_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (a test extra)")
        return None

sys.meta_path.insert(0, Absent())
import core, plugins
failed = []
for package in (core, plugins):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if module.name.startswith({SUPPORT!r}) or ".tests" in module.name:
            continue
        try:
            importlib.import_module(module.name)
        except Exception as error:
            failed.append(f"{{module.name}}: {{error!r}}")
from core.cli import main
print("\\n".join(failed) or "all imported")
"""


def test_the_application_and_its_cli_import_without_the_test_extras():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "all imported", done.stdout
