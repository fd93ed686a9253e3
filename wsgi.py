"""WSGI entry point: ``gunicorn wsgi:app``. Configuration comes from CQMS_CONFIG and CQMS_*.

The web process never migrates: run ``cqms db upgrade`` first (``make run`` does). A bad
configuration or plugin set stops start-up with one line naming the key or plugin.
"""

import sys

from config import ConfigError
from core.app import create_app
from core.errors import StartupError

try:
    app = create_app()
except (ConfigError, StartupError) as exc:
    sys.stderr.write(f"cqms: error: {exc}\n")
    raise SystemExit(2) from None
