"""``cqms validation report``: the validation summary of a test run, as HTML and PDF."""

from __future__ import annotations

from pathlib import Path

import click

from core.cli.context import as_system
from core.exports.render import render_html
from core.users.service import require_user
from core.validation.report import Results, ResultsError, read_results, render_summary
from core.validation.scope import ScopeError
from core.validation.store import record_summary
from core.validation.trace import Trace, build_trace


def _load(results_path: Path) -> tuple[Results, Trace]:
    try:
        results = read_results(results_path)
        return results, build_trace(results.document)
    except (ResultsError, ScopeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--results") from None


@click.group("validation", help="Validation evidence: trace matrix and summary of a test run.")
def group() -> None:
    pass


@group.command(help="Build the validation summary from a results file written by "
                    "`pytest --validation-results=FILE` (make test writes "
                    "reports/validation-results.json).")
@click.option("--results", "results_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The results JSON file.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the summary as HTML here.")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the summary as PDF here.")
def report(results_path: Path, html_path: Path | None, pdf_path: Path | None) -> None:
    results, trace = _load(results_path)
    html = render_summary(results, trace)
    if html_path is not None:
        html_path.write_text(html, encoding="utf-8")
    if pdf_path is not None:
        pdf_path.write_bytes(render_html(html).write_pdf())
    click.echo(trace.summary_line())
    for gap in trace.unproven_claims():
        click.echo(f"  claimed but not proven: {gap}")


@group.command("record", help="Store the summary of a results file as a draft validation "
                              "summary record, its PDF attached, for QA to approve.")
@click.option("--results", "results_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The results JSON file.")
@click.option("--owner", required=True,
              help="Username of the person who owns it (needs core.validation.approve).")
@as_system
def record(results_path: Path, owner: str) -> None:
    results, trace = _load(results_path)
    pdf = render_html(render_summary(results, trace)).write_pdf()
    summary = record_summary(results, trace, pdf, require_user(owner))
    click.echo(f"created {summary.number} ({trace.summary()})")
