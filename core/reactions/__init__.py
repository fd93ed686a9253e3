"""Durable after-commit reactions (``record_created``, ``record_transitioned``,
``signature_applied``, ``role_assignment_changed``): one row per reacting plugin, written with
the change, run after the commit each in its own transaction, retried with backoff."""
