"""Audits

Audit programme by study and vendor, audits with checklists, findings with responses linked to
CAPA, and signed audit reports.
"""
