"""Separation of duties: who may not take a transition, said in the words of the business.

``Transition.not_by`` names record attributes holding user ids; the refusal reads like "the
person who created VEN-0001 may not qualify it", never like "the created by may not Qualify".
"""

from __future__ import annotations

from typing import Any

from core.specs import Transition

# The core's own attributes; a plugin's read from their names (``trainee_id``, ``approved_by_id``).
WHO = {
    "created_by_id": "the person who created {number}",
    "updated_by_id": "the person who last changed {number}",
    "owner_id": "the owner of {number}",
}


def who(attribute: str, number: str) -> str:
    """The person an attribute names, e.g. ``trainee_id`` -> "the trainee of TRN-0001"."""
    if attribute in WHO:
        return WHO[attribute].format(number=number)
    name = attribute.removesuffix("_id")
    if name.endswith("_by"):  # approved_by -> the person who approved
        return f"the person who {name.removesuffix('_by').replace('_', ' ')} {number}"
    return f"the {name.replace('_', ' ')} of {number}"


def deed(t: Transition) -> str:
    """The transition as a verb phrase: "qualify it", "sign the review"."""
    words = (t.label or t.name.replace("_", " ")).split()
    if not words[0].isupper():  # keep acronyms such as "QA"
        words[0] = words[0].lower()
    return " ".join(words) + (" it" if len(words) == 1 else "")


def barred(record: Any, t: Transition, user: Any) -> list[str]:
    """Reasons ``user`` may not take ``t`` on ``record`` (empty: no duty is separated)."""
    return [f"separation of duties: {who(attribute, record.number)} may not {deed(t)}"
            for attribute in t.not_by if getattr(record, attribute, None) == user.id]
