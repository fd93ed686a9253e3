"""Request and response schemas of the training plugin's JSON API (``api.py``)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from marshmallow import ValidationError as SchemaError

from plugins.training.matrix import STATUSES
from plugins.training.models import KINDS

MY_STATUSES = (*STATUSES, "outdated")


class Text(fields.String):
    """A string without NUL characters (PostgreSQL cannot store or compare them)."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise SchemaError("NUL characters are not allowed.")
        return text


def _not_blank(value: str) -> None:
    if not value.strip():
        raise SchemaError("Must not be blank.")


CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
                       error="Letters, digits and . _ / - only (no spaces).")
LIMIT = fields.Integer(validate=validate.Range(1, 200), load_default=50,
                       metadata={"description": "Page size (1-200)"})


class MatrixExportQuery(Schema):
    role = Text(validate=validate.Length(max=64), metadata={"description": "Role key"})
    study = Text(validate=validate.Length(max=40), metadata={"description": "Study code"})
    site = Text(validate=validate.Length(max=81), metadata={
        "description": "Site code within `study`, or STUDY/SITE"})
    user = Text(validate=validate.Length(max=64), metadata={"description": "Username"})


class MatrixQuery(MatrixExportQuery):
    after = Text(validate=validate.Length(max=64), metadata={
        "description": "`next` of the previous page (a username)"})
    limit = LIMIT


class JobStarted(Schema):
    id = fields.Integer()
    state = fields.String()
    href = fields.String(metadata={"description": "GET it until its state is done or failed"})


class RequirementRef(Schema):
    id = fields.Integer()
    code = fields.String()
    title = fields.String()
    kind = fields.String()


class Cell(Schema):
    status = fields.String(metadata={"enum": list(STATUSES)})
    assignment = fields.String(allow_none=True, metadata={
        "description": "Number of the assignment the status comes from"})
    due = fields.Date(allow_none=True)
    expires = fields.Date(allow_none=True)


class MatrixRow(Schema):
    user = fields.String(metadata={"description": "Username"})
    full_name = fields.String()
    cells = fields.Dict(keys=fields.String(), values=fields.Nested(Cell), metadata={
        "description": "By requirement code; a code missing here is not required of them"})
    compliant = fields.Integer()
    required = fields.Integer()


class MatrixPage(Schema):
    requirements = fields.List(fields.Nested(RequirementRef))
    rows = fields.List(fields.Nested(MatrixRow))
    next = fields.String(allow_none=True, metadata={"description": "Pass as `after`"})


class QualificationQuery(Schema):
    user = Text(validate=validate.Length(max=64), metadata={
        "description": "Username (default: you)"})
    document = Text(required=True, validate=validate.Length(min=1, max=64), metadata={
        "description": "Number of a controlled document, e.g. SOP-0001"})
    at = fields.AwareDateTime(format="iso", metadata={
        "description": "ISO 8601 with a time zone (default: now)"})


class EvidenceSignature(Schema):
    signer = fields.String()
    meaning = fields.String()
    signed_at = fields.String(metadata={"format": "date-time"})
    valid = fields.Boolean()


class Evidence(Schema):
    assignment = fields.String()
    state = fields.String()
    version_label = fields.String()
    completed_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    expires_on = fields.String(allow_none=True, metadata={"format": "date"})
    score = fields.Integer(allow_none=True)
    evidence = fields.String()
    signatures = fields.List(fields.Nested(EvidenceSignature))


class VersionRef(Schema):
    number = fields.String()
    label = fields.String()
    effective_at = fields.String(metadata={"format": "date-time"})


class Qualification(Schema):
    user = fields.String()
    document = fields.String()
    at = fields.String(metadata={"format": "date-time"})
    version = fields.Nested(VersionRef, allow_none=True, metadata={
        "description": "The version in effect at that moment"})
    qualified = fields.Boolean()
    evidence = fields.List(fields.Nested(Evidence))
    reason = fields.String(metadata={"description": "Why not (empty when qualified)"})


class MyAssignment(Schema):
    id = fields.Integer()
    number = fields.String()
    title = fields.String()
    requirement = fields.String(metadata={"description": "Requirement code"})
    kind = fields.String()
    version_label = fields.String()
    state = fields.String()
    status = fields.String(metadata={
        "enum": list(MY_STATUSES), "description": "As in the matrix; outdated: a completion of "
        "a document version no longer in effect"})
    due_date = fields.Date(allow_none=True)
    expires_on = fields.Date(allow_none=True)
    quiz_pending = fields.Boolean(metadata={"description": "A quiz must still be passed"})


class QuizQuestion(Schema):
    position = fields.Integer()
    text = fields.String()
    choices = fields.List(fields.String(), metadata={"description": "Answer with 1, 2, ..."})


class Quiz(Schema):
    assignment = fields.String()
    requirement = fields.String()
    state = fields.String()
    pass_mark = fields.Integer(metadata={"description": "Percent"})
    attempts_used = fields.Integer()
    attempts_allowed = fields.Integer(metadata={"description": "0: any number"})
    passed = fields.Boolean()
    questions = fields.List(fields.Nested(QuizQuestion), metadata={
        "description": "In order; empty when the requirement has no quiz"})


class QuizAnswers(Schema):
    answers = fields.List(fields.Integer(strict=True), required=True,
                          validate=validate.Length(min=1, max=200), metadata={
                              "description": "The number of the chosen choice per question"})


class QuizAttempt(Schema):
    attempt = fields.Integer()
    score = fields.Integer(metadata={"description": "Percent"})
    passed = fields.Boolean()
    taken_at = fields.AwareDateTime()


class RequirementQuery(Schema):
    after = Text(validate=validate.Length(max=40), metadata={
        "description": "`next` of the previous page (a code)"})
    limit = LIMIT
    kind = Text(validate=validate.OneOf(KINDS))


class Requirement(RequirementRef):
    document = fields.String(allow_none=True, metadata={"description": "Document number"})
    expiry_months = fields.Integer(metadata={"description": "0: never expires"})
    pass_mark = fields.Integer()
    max_attempts = fields.Integer(metadata={"description": "0: any number"})
    description = fields.String()
    active = fields.Boolean()
    questions = fields.Integer(metadata={"description": "Number of quiz questions"})


class RequirementPage(Schema):
    items = fields.List(fields.Nested(Requirement))
    next = fields.String(allow_none=True, metadata={"description": "Pass as `after`"})


class RequirementWrite(Schema):
    code = Text(required=True, validate=[validate.Length(min=1, max=40), CODE])
    title = Text(required=True, validate=[validate.Length(min=1, max=300), _not_blank])
    kind = Text(required=True, validate=validate.OneOf(KINDS))
    document = Text(allow_none=True, validate=validate.Length(max=64), metadata={
        "description": "Kind document: the controlled document's number (fixed once created)"})
    expiry_months = fields.Integer(strict=True, validate=validate.Range(0, 240), load_default=0)
    pass_mark = fields.Integer(strict=True, validate=validate.Range(1, 100), load_default=80)
    max_attempts = fields.Integer(strict=True, validate=validate.Range(0, 20), load_default=3)
    description = Text(validate=validate.Length(max=10000), load_default="")
    reason = Text(required=True, validate=[validate.Length(min=1, max=2000), _not_blank],
                  metadata={"description": "Audited: a requirement is in use once created"})
