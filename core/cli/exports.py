"""``cqms verify-bundle``: check a certified copy offline (no database is opened)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from core.exports.verify import BundleError, verify_bundle
from core.integrity import key_path


def _key(key_file: Path | None, no_key: bool) -> bytes | None:
    """The integrity key: ``--key FILE``, else the configured key file if it exists (never
    created here), else none."""
    if no_key:
        return None
    path = key_file or key_path()
    if key_file is None and not path.is_file():
        return None
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror or exc}", param_hint="--key") from None
    if len(key) < 16:
        raise click.BadParameter(f"{path} is not an integrity key (shorter than 16 bytes)",
                                 param_hint="--key")
    return key


@click.command("verify-bundle")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Integrity key file (default: the configured INTEGRITY_KEY_FILE, if present).")
@click.option("--no-key", is_flag=True, help="Check hashes only, even if a key is configured.")
def verify_bundle_command(bundle: Path, key_file: Path | None, no_key: bool) -> None:
    """Check the certified copy BUNDLE (a .zip): every file against the manifest, nothing missing
    or added, the audit entries' hash chain and, with the integrity key, the manifest's and the
    signatures' MACs. Exit 0 if intact, 1 naming the first problem."""
    key = _key(key_file, no_key)
    try:
        report = verify_bundle(bundle, key)
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    if not report.ok:
        click.echo(f"FAILED {report.problem}")
        sys.exit(1)
    summary = f"OK {report.files} files, {report.entries} audit entries chained"
    if report.mac_checked:
        click.echo(f"{summary}, manifest MAC and {report.signatures} signature MAC(s) verified "
                   f"with key {report.key_id}")
    else:
        click.echo(f"{summary}; hashes only: no integrity key available, so the manifest MAC "
                   "and signature MACs were NOT checked (a consistent forgery would pass; use "
                   "--key FILE)")
