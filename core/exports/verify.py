"""Offline verification of a certified copy (``cqms verify-bundle``): no database needed.

In order: the zip lists each member once; nothing the manifest lists is missing and nothing
unlisted was added; every member has the manifest's size and SHA-256, and SHA256SUMS agrees;
each audit entry links to the entry before it when both are included; attachments and
signatures agree with the files and versions in the copy. With the integrity key, each audit
entry's keyed chain hash, the manifest's MAC and every signature's MAC are checked too; without
it a copy rebuilt consistently from scratch cannot be told from the original, and the report
says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from core.audit.chain import EntryHasher, hash_kind
from core.exports.bundle import FORMAT, MAC_FILE, MAC_PURPOSE, MANIFEST, SUMS
from core.integrity import key_id, keyed_mac
from core.signatures.models import PURPOSE as SIGNATURE_PURPOSE
from core.signatures.models import mac_matches

REQUIRED = ("README.txt", "record.json", "versions.json", "audit-trail.json", "signatures.json",
            "links.json", "attachments.json", "record.pdf")
CHUNK = 64 * 1024


class BundleError(ValueError):
    """The input is not something to verify (no such file, not a zip): bad input, exit 2."""


class Problem(Exception):
    """The first thing wrong with the copy."""


@dataclass
class BundleReport:
    files: int = 0
    entries: int = 0
    signatures: int = 0
    key_id: str = ""
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem

    @property
    def mac_checked(self) -> bool:
        return bool(self.key_id)


def verify_bundle(path: Path, key: bytes | None) -> BundleReport:
    """Check the certified copy at ``path``; ``key`` (the integrity key) enables MAC checks."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BundleError(f"{path}: no such file") from None
    except zipfile.BadZipFile:
        raise BundleError(f"{path}: not a zip file (a certified copy is a .zip)") from None
    except OSError as exc:
        raise BundleError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    report = BundleReport()
    with archive:
        try:
            _verify(archive, key, report)
        except Problem as problem:
            report.problem = str(problem)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # JSON of the wrong shape
            report.problem = f"malformed content ({exc.__class__.__name__}: {exc})"
    return report


def _hash(archive: zipfile.ZipFile, name: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    try:
        with archive.open(name) as member:
            while chunk := member.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:  # corrupt data or CRC mismatch
        raise Problem(f"{name}: unreadable in the zip ({exc})") from None
    return size, digest.hexdigest()


def _json(archive: zipfile.ZipFile, name: str) -> Any:
    try:
        return json.loads(archive.read(name))
    except (ValueError, zipfile.BadZipFile, OSError):
        raise Problem(f"{name}: not valid JSON") from None


def _manifest(archive: zipfile.ZipFile) -> tuple[bytes, dict[str, Any], dict[str, dict[str, Any]]]:
    names = [info.filename for info in archive.infolist()]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise Problem(f"{name}: appears twice in the zip")
        seen.add(name)
    if MANIFEST not in seen:
        raise Problem(f"{MANIFEST}: missing (this is not a CQMS certified copy)")
    raw = archive.read(MANIFEST)
    manifest = _json(archive, MANIFEST)
    try:
        files = {str(f["name"]): f for f in manifest["files"]}
        if manifest["format"] != FORMAT:
            raise Problem(f"{MANIFEST}: unknown format {manifest['format']!r} (expected {FORMAT})")
    except (KeyError, TypeError):
        raise Problem(f"{MANIFEST}: not a certified-copy manifest (files or format missing)") from None
    absent = sorted(set(REQUIRED) - set(files))
    if absent:
        raise Problem(f"{absent[0]}: missing (a certified copy always has it; not in the manifest)")
    for name in (*sorted(files), SUMS, MAC_FILE):
        if name not in seen:
            raise Problem(f"{name}: missing (listed in the manifest, not in the zip)")
    for name in names:
        if name not in files and name not in (MANIFEST, SUMS, MAC_FILE):
            raise Problem(f"{name}: not listed in the manifest (added to the copy)")
    return raw, manifest, files


def _check_members(archive: zipfile.ZipFile, files: dict[str, dict[str, Any]], raw: bytes) -> None:
    for name in sorted(files):
        size, digest = _hash(archive, name)
        if digest != files[name].get("sha256") or size != files[name].get("size"):
            raise Problem(f"{name}: SHA-256 does not match the manifest (altered)")
    expected = {name: f["sha256"] for name, f in files.items()}
    expected[MANIFEST] = hashlib.sha256(raw).hexdigest()
    listed: dict[str, str] = {}
    for line in archive.read(SUMS).decode("utf-8", "replace").splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    for name in sorted(set(expected) | set(listed)):
        if listed.get(name) != expected.get(name):
            raise Problem(f"{SUMS}: disagrees with the manifest about {name}")


def _check_chain(entries: Any, manifest: dict[str, Any], key: bytes | None) -> int:
    """Order and links always; each entry's keyed hash with the key (legacy unkeyed hashes
    only before the first keyed entry)."""
    if not isinstance(entries, list):
        raise Problem("audit-trail.json: not a list of entries")
    hasher = EntryHasher(key) if key is not None else None
    previous: dict[str, Any] | None = None
    keyed_seen = False
    for position, entry in enumerate(entries, start=1):
        try:
            seq = entry["id"]
            kind = hash_kind(hasher, entry) if hasher is not None else "unchecked"
        except (KeyError, TypeError, AttributeError):
            raise Problem(f"audit-trail.json: entry {position} is malformed") from None
        if kind is None or (kind == "legacy" and keyed_seen):
            raise Problem(f"audit-trail.json: entry seq {seq} does not match its keyed hash "
                          f"(edited or forged; field {entry.get('field') or '-'})")
        keyed_seen = keyed_seen or kind == "keyed"
        if previous is not None:
            if seq <= previous["id"]:
                raise Problem(f"audit-trail.json: entry seq {seq} is out of order")
            # Adjacent ids on one chain are adjacent links (copies made before the trail had
            # several chains name none: chain 0).
            if (seq == previous["id"] + 1 and entry.get("chain", 0) == previous.get("chain", 0)
                    and entry["prev_hash"] != previous["hash"]):
                raise Problem(f"audit-trail.json: entry seq {seq} does not link to seq "
                              f"{previous['id']} (chain broken)")
        previous = entry
    if manifest.get("audit_entries") != len(entries):
        raise Problem(f"audit-trail.json: holds {len(entries)} entries, the manifest says "
                      f"{manifest.get('audit_entries')}")
    return len(entries)


def _check_contents(archive: zipfile.ZipFile, files: dict[str, dict[str, Any]]) -> list[Any]:
    """Attachments are the files listed; each signature binds a version of the copy."""
    for row in _json(archive, "attachments.json"):
        member = files.get(str(row.get("member")))
        if member is None or member["sha256"] != row.get("sha256"):
            raise Problem(f"{row.get('member')}: does not match attachments.json (SHA-256 "
                          f"{str(row.get('sha256'))[:16]}...)")
    versions = {v.get("version"): v for v in _json(archive, "versions.json")}
    signatures = _json(archive, "signatures.json")
    for sig in signatures:
        version = versions.get(sig.get("record_version"))
        if version is None or version.get("content_hash") != sig.get("content_hash"):
            raise Problem(f"signatures.json: signature {sig.get('id')} binds content that no "
                          f"version in versions.json has (version {sig.get('record_version')})")
    return signatures


def _same(computed: str, stated: Any) -> bool:
    return hmac.compare_digest(computed.encode(), str(stated).encode("utf-8", "replace"))


def _check_macs(archive: zipfile.ZipFile, raw: bytes, manifest: dict[str, Any], key: bytes,
                signatures: list[Any]) -> None:
    """Signatures first (names the altered one), then the manifest MAC over everything."""
    for sig in signatures:
        try:
            signed_at = datetime.strptime(sig["signed_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
            values = SimpleNamespace(**{**sig, "signed_at": signed_at})
            intact = mac_matches(values, sig.get("mac"), lambda message, stated: _same(
                keyed_mac(key, SIGNATURE_PURPOSE, message), stated))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise Problem(f"signatures.json: signature {sig.get('id')} is malformed") from None
        if not intact:
            raise Problem(f"signatures.json: signature {sig.get('id')} ({sig.get('printed_name')}"
                          ") does not match its MAC (altered)")
    stated = archive.read(MAC_FILE).decode("utf-8", "replace").strip()
    if not _same(keyed_mac(key, MAC_PURPOSE, raw), stated):
        named = (manifest.get("mac") or {}).get("key_id", "?")
        raise Problem(f"{MAC_FILE}: the manifest's MAC does not verify with this key (key id "
                      f"{key_id(key)}; the copy names {named}): manifest.json was altered, or "
                      "the copy was made with another key")


def _verify(archive: zipfile.ZipFile, key: bytes | None, report: BundleReport) -> None:
    raw, manifest, files = _manifest(archive)
    _check_members(archive, files, raw)
    report.files = len(files)
    report.entries = _check_chain(_json(archive, "audit-trail.json"), manifest, key)
    signatures = _check_contents(archive, files)
    if key is not None:
        _check_macs(archive, raw, manifest, key, signatures)
        report.signatures = len(signatures)
        report.key_id = key_id(key)
