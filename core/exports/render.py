"""HTML to PDF for plugins (facade ``render_html``): WeasyPrint with the core's data-only URL
fetcher, imported on first use so that importing the facade stays light."""

from __future__ import annotations

from typing import Any

from core.exports.pdf import DataOnlyFetcher


def render_html(html: str) -> Any:
    """Lay out ``html`` (already escaped, e.g. from a Jinja template) as a WeasyPrint document:
    ``.write_pdf()`` gives the bytes, ``.pages`` the pages. Only ``data:`` URIs are fetched:
    a stored value can never make the server fetch a URL.

    :param html: the whole HTML document, styles inline.
    """
    from weasyprint import HTML

    return HTML(string=html, base_url=None, url_fetcher=DataOnlyFetcher()).render()
