"""Exports of controlled records: a PDF rendering, certified-copy bundles verified offline, and the
audited CSV of admin lists."""
