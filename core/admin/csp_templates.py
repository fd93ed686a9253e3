"""Flask-Admin's own templates without inline script (and with the page's language). Our CSP
has no 'unsafe-inline', so the
browser refuses (and reports, at page load) their ``onclick`` attributes and refuses their
``javascript:`` links when clicked. They are served here rewritten: handlers become
``data-cqms-onclick`` attributes and links ``href="#"``; core/static/core/admin-csp.js runs
both with listeners."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import flask_admin
from flask import Flask
from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, TemplateNotFound

INLINE_HANDLER = re.compile(r'\sonclick="([^"]*)"')
SCRIPT_LINK = re.compile(r'href="javascript:[^"]*"')
PREFIX = "admin/"


def without_inline_script(source: str) -> str:
    source = INLINE_HANDLER.sub(r' data-cqms-onclick="\1"', source)
    source = source.replace("<html>", '<html lang="en">', 1)  # screen readers need the language
    return SCRIPT_LINK.sub('href="#" data-cqms-inert', source)


class InlineScriptFreeLoader(BaseLoader):
    """Flask-Admin's ``admin/...`` templates of one theme, rewritten on load."""

    def __init__(self, folder: Path) -> None:
        self.inner = FileSystemLoader(str(folder))

    def get_source(self, environment: Environment,
                   template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        if not template.startswith(PREFIX):
            raise TemplateNotFound(template)
        source, filename, uptodate = self.inner.get_source(environment, template)
        return without_inline_script(source), filename, uptodate

    def list_templates(self) -> list[str]:
        return [name for name in self.inner.list_templates() if name.startswith(PREFIX)]


def install(app: Flask, theme_folder: str) -> None:
    """Serve the rewritten templates ahead of Flask-Admin's blueprints (after the app's own)."""
    folder = Path(flask_admin.__file__).parent / "templates" / theme_folder
    loaders = [app.jinja_loader] if app.jinja_loader is not None else []
    app.jinja_loader = ChoiceLoader([*loaders, InlineScriptFreeLoader(folder)])
