"""Validation evidence the system generates itself (A11-02, P11-01, ISO-22).

``catalogue`` reads the requirements catalogue (``catalogue.md``, a copy of the project's
shared REQUIREMENTS.md); ``scope`` reads what the core and each plugin claim of it
(``requirements.yaml`` beside their code); ``results`` is the pytest plugin that records each
test's outcome with its requirement IDs and backend; ``trace`` joins the three into the trace
matrix; ``inventory`` lists the installed code with versions and SHA-256 checksums.
"""

# The results file's format marker: written by the pytest plugin, checked by the report (which
# runs in installs without pytest, so it is defined here).
FORMAT = "cqms-validation-results/1"
