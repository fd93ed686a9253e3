"""The documents blueprint: it carries the plugin's templates (``templates/documents/``)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("documents", __name__, template_folder="templates")
