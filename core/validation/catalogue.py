"""The requirements catalogue: ID -> source clause and testable requirement text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOGUE_PATH = Path(__file__).with_name("catalogue.md")
_ROW = re.compile(r"^\|\s*(?P<id>[A-Z0-9]+-[A-Z0-9]+)\s*\|(?P<rest>.*)\|\s*$")


@dataclass(frozen=True)
class Requirement:
    id: str
    section: str
    clause: str
    text: str


def parse(markdown: str) -> dict[str, Requirement]:
    """Every table row whose first cell is an ID (``P11-05``), in catalogue order."""
    requirements: dict[str, Requirement] = {}
    section = ""
    for line in markdown.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        match = _ROW.match(line)
        if match is None:
            continue
        cells = [cell.strip() for cell in match["rest"].split("|")]
        cells = [cell.replace("**", "").replace("`", "") for cell in cells]  # plain text
        clause, text = (cells[0], cells[-1]) if len(cells) > 1 else ("", cells[0])
        if match["id"] in requirements:
            raise ValueError(f"requirement {match['id']} is listed twice")
        requirements[match["id"]] = Requirement(match["id"], section, clause, text)
    return requirements


@cache
def catalogue() -> dict[str, Requirement]:
    return parse(CATALOGUE_PATH.read_text(encoding="utf-8"))
