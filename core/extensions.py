"""Flask extension objects (configured per app in ``create_app``)."""

from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from core.db import db

login_manager = LoginManager()
csrf = CSRFProtect()

__all__ = ["csrf", "db", "login_manager"]
