"""HTML to PDF (facade ``render_html``): WeasyPrint with the core's data-only URL fetcher, and
PDF/A-3b as the default output (DI-E, enduring: the archival PDF variant, fonts embedded,
XMP metadata identifying the conformance). Every PDF the system renders goes through here;
WeasyPrint is imported on first use so that importing the facade stays light."""

from __future__ import annotations

from typing import Any

#: The PDF/A variant every rendered PDF conforms to (WeasyPrint embeds the fonts it uses and
#: writes the ``pdfaid`` XMP identification and an sRGB output intent for it).
PDF_VARIANT = "pdf/a-3b"


class ArchivalDocument:
    """A laid-out WeasyPrint document whose ``write_pdf()`` writes PDF/A by default; everything
    else (``pages``, ``metadata``, ...) is the WeasyPrint document's own."""

    def __init__(self, document: Any) -> None:
        self._document = document

    def __getattr__(self, name: str) -> Any:
        return getattr(self._document, name)

    def write_pdf(self, target: Any = None, **options: Any) -> Any:
        """The PDF bytes (or written to ``target``), PDF/A unless ``pdf_variant`` says otherwise."""
        options.setdefault("pdf_variant", PDF_VARIANT)
        return self._document.write_pdf(target, **options)


def render_html(html: str) -> ArchivalDocument:
    """Lay out ``html`` (already escaped, e.g. from a Jinja template) as a WeasyPrint document:
    ``.write_pdf()`` gives the PDF/A bytes, ``.pages`` the pages. Only ``data:`` URIs are
    fetched: a stored value can never make the server fetch a URL.

    :param html: the whole HTML document, styles inline.
    """
    from weasyprint import HTML

    from core.exports.pdf import DataOnlyFetcher

    return ArchivalDocument(
        HTML(string=html, base_url=None, url_fetcher=DataOnlyFetcher()).render())
