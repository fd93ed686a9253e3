"""Audit trail: append-only entries written by the core in the same transaction as the change."""
