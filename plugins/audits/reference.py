"""The first checklist template (``seed_reference_data``): added once, never changed (a new
version is a new row; administrators retire old ones)."""

from __future__ import annotations

from sqlalchemy import select

from core import db
from plugins.audits.models import ChecklistTemplate

SITE_GCP = ("site_gcp", "Investigator site GCP audit", "\n".join((
    "Is the latest IEC/IRB-approved informed consent form in use? | ICF log, site file",
    "Was consent obtained before any study procedure for the sampled subjects? | Source notes",
    "Are delegation log entries signed and dated before the tasks? | Delegation log",
    "Is everyone on the delegation log trained on the protocol version? | Training records",
    "Were serious adverse events reported within 24 hours? | SAE forms, fax or e-mail receipts",
    "Is investigational product stored within its temperature range? | Temperature logs",
    "Do source data support the eCRF entries for the sampled visits? | Source vs eCRF",
    "Is the investigator site file complete and current? | ISF index",
)))


def seed() -> str | None:
    key, title, questions = SITE_GCP
    if db.session.scalar(select(ChecklistTemplate.id).where(ChecklistTemplate.key == key)):
        return None
    db.session.add(ChecklistTemplate(key=key, version=1, title=title, questions=questions))
    db.session.flush()
    return "audits: 1 checklist template added"
