"""WSGI entry point: ``gunicorn wsgi:app``. Configuration comes from CQMS_CONFIG and CQMS_*.

The web process never migrates: run ``cqms db upgrade`` first (``make run`` does).
"""

from core.app import create_app

app = create_app()
