"""Absences and signing delegations (21 CFR 11.200(a)(2)-(3), P11-23)."""
