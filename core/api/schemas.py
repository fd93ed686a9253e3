"""Marshmallow schemas of the API's fixed shapes (record bodies are checked per record type in
``core.api.fields``). Unknown fields are refused everywhere (marshmallow's default, RAISE)."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from core.specs import STATE_CATEGORIES

MAX_INT = 2**31 - 1


class Text(fields.String):
    """A string without NUL characters (PostgreSQL cannot store them)."""

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("NUL characters are not allowed.")
        return text


class WholeNumber(fields.Integer):
    """An integer that JSON may also write with a zero fraction (30.0: JSON has one number
    type); 30.5, strings, booleans, NaN and infinities are refused."""

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("error_messages", {"invalid": "A whole number is required."})
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


class Problem(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class TokenRequest(Schema):
    username = Text(required=True, validate=validate.Length(min=1, max=150))
    password = Text(required=True, validate=validate.Length(max=1024))
    totp = Text(validate=validate.Length(max=10), allow_none=True)
    name = Text(validate=validate.Length(max=100), load_default="API token")
    expires_in_days = WholeNumber(validate=validate.Range(1, 3650), allow_none=True, metadata={
        "description": "Days until the token expires: a whole number, written 30 or 30.0, from 1 "
                       "to the deployment's API_TOKEN_MAX_DAYS (365 unless configured); "
                       "default API_TOKEN_DAYS (30). Anything else is a 422 naming this field."})


class Token(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String()
    user = fields.Function(lambda t: t.user.username)
    created_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime()
    last_used_at = fields.AwareDateTime(allow_none=True)
    revoked_at = fields.AwareDateTime(allow_none=True)
    active = fields.Boolean()


class NewToken(Token):
    token = fields.String(metadata={"description": "The secret: shown once, never again."})


class TokenListQuery(Schema):
    user = Text(validate=validate.Length(max=150),
                metadata={"description": "Administrators: another user's tokens."})


CURSOR = ("Keyset cursor: the `next` value of the previous page, passed back unchanged; omit it "
          "for the first page. It is opaque (URL-safe base64 of the last row's sort key and "
          "id), valid only for the same list and sort; anything else is a 400. The last page "
          "has `next: null`.")


class ListQuery(Schema):
    """Keyset pagination: pass ``next`` from a page as ``after`` to get the following one."""

    limit = fields.Integer(strict=False, validate=validate.Range(1, 200), load_default=50,
                           metadata={"description": "Page size, 1 to 200 (default 50)"})
    after = Text(validate=validate.Length(max=500), metadata={"description": CURSOR})


class RecordListQuery(ListQuery):
    state = Text(validate=validate.Length(max=40))
    category = Text(validate=validate.OneOf(STATE_CATEGORIES), metadata={
        "description": "Records whose state is in this category: " + ", ".join(STATE_CATEGORIES)})
    study = fields.Integer(validate=validate.Range(1, MAX_INT),
                           metadata={"description": "Study id"})
    site = fields.Integer(validate=validate.Range(1, MAX_INT), metadata={"description": "Site id"})
    owner = Text(validate=validate.Length(max=150), metadata={"description": "Owner's username"})
    overdue = fields.Boolean(metadata={"description": "true: open records past their due date "
                                                      "(types with a due date)"})
    q = Text(validate=validate.Length(max=200),
             metadata={"description": "Text contained in the number or title"})
    sort = Text(metadata={"description": "number, title, state, created_at or updated_at; "
                                         "prefix - for descending"})


class AuditQuery(ListQuery):
    record = Text(validate=validate.Length(max=64), metadata={"description": "Record number"})
    entity_type = Text(validate=validate.Length(max=64))
    entity_id = Text(validate=validate.Length(max=64))
    actor = Text(validate=validate.Length(max=300))
    action = Text(validate=validate.Length(max=64))
    field = Text(validate=validate.Length(max=64))
    since = fields.Date()
    until = fields.Date()


class Page(Schema):
    next = fields.String(allow_none=True,
                         metadata={"description": "Pass as `after` for the next page"})


class Record(Schema):
    """A record: these fields plus its type's own (see /record-types)."""

    class Meta:
        unknown = "include"

    id = fields.Integer()
    type = fields.String()
    number = fields.String()
    title = fields.String()
    state = fields.String()
    category = fields.String(metadata={"description": "The state's category: "
                                                      + ", ".join(STATE_CATEGORIES)})
    version = fields.Integer()
    owner = fields.String()
    owner_id = fields.Integer()
    study_id = fields.Integer(allow_none=True)
    study = fields.String(allow_none=True)
    site_id = fields.Integer(allow_none=True)
    site = fields.String(allow_none=True)
    content_hash = fields.String()
    created_at = fields.AwareDateTime()
    created_by = fields.String()
    updated_at = fields.AwareDateTime()
    updated_by = fields.String()
    actions = fields.List(fields.String(), metadata={
        "description": "Transitions the caller may try now"})


class RecordPage(Page):
    items = fields.List(fields.Nested(Record))


class RecordWrite(Schema):
    """Base fields; add the record type's own fields (see /record-types). ``reason`` is
    required for changes past draft."""

    class Meta:
        unknown = "include"

    title = Text(validate=validate.Length(min=1, max=300))
    study_id = fields.Integer(allow_none=True)
    site_id = fields.Integer(allow_none=True)
    owner_id = fields.Integer()
    reason = Text(validate=validate.Length(max=2000))


class SignatureRequest(Schema):
    username = Text(required=True, validate=validate.Length(max=64), metadata={
        "description": "Your user name: every API signature gives all its components (an API "
                       "token is not a continuous signing session)"})
    password = Text(required=True, validate=validate.Length(max=1024))
    on_behalf_of = Text(validate=validate.Length(max=64), allow_none=True, metadata={
        "description": "A delegate only: the username of the absent person whose step this is; "
                       "the signature stays yours, marked on behalf of them"})
    meaning = Text(validate=validate.Length(max=40), allow_none=True)
    totp = Text(validate=validate.Length(max=10), allow_none=True)
    comment = Text(validate=validate.Length(max=2000), load_default="")
    attest = fields.Boolean(load_default=False, metadata={
        "description": "Before your first signature: sign the attestation that your electronic "
                       "signature is the legally binding equivalent of your handwritten one"})


class TransitionRequest(Schema):
    reason = Text(validate=validate.Length(max=2000), allow_none=True)
    signature = fields.Nested(SignatureRequest, allow_none=True)


class Field(Schema):
    name = fields.String()
    type = fields.String()
    required = fields.Boolean()
    nullable = fields.Boolean()
    max_length = fields.Integer(allow_none=True)
    controlled = fields.Boolean()
    read_only = fields.Boolean()
    choices = fields.List(fields.String(), allow_none=True, metadata={
        "description": "The values the field takes, when the type offers a list (labels in "
                       "choice_labels)"})
    choice_labels = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)


class TransitionInfo(Schema):
    name = fields.String()
    label = fields.String()
    source = fields.List(fields.String())
    target = fields.String()
    permission = fields.String()
    signature = fields.String(allow_none=True)
    reason_required = fields.Boolean()


class RecordType(Schema):
    key = fields.String()
    label = fields.String()
    number_prefix = fields.String()
    states = fields.List(fields.String())
    initial_state = fields.String()
    draft_states = fields.List(fields.String())
    categories = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "Each state's category: " + ", ".join(STATE_CATEGORIES)})
    reason_in_draft = fields.Boolean()
    fields_ = fields.List(fields.Nested(Field), data_key="fields")
    transitions = fields.List(fields.Nested(TransitionInfo))


class AuditEntry(Schema):
    seq = fields.Integer(attribute="id")
    at = fields.AwareDateTime()
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String()
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.String()
    entity_version = fields.Integer(allow_none=True)
    field = fields.String()
    old_value = fields.String(allow_none=True)
    new_value = fields.String(allow_none=True)
    reason = fields.String()
    request_id = fields.String()
    ip = fields.String()
    client = fields.String()
    hash = fields.String()


class AuditPage(Page):
    items = fields.List(fields.Nested(AuditEntry))


class Signature(Schema):
    id = fields.Integer()
    signer = fields.String(attribute="username")
    printed_name = fields.String()
    meaning = fields.String()
    signed_at = fields.AwareDateTime()
    record_version = fields.Integer()
    content_hash = fields.String()
    transition = fields.String()
    method = fields.String()
    comment = fields.String()
    valid = fields.Boolean()
    invalidated_at = fields.AwareDateTime(allow_none=True)
    invalidated_reason = fields.String(allow_none=True)
    on_behalf_of = fields.String(attribute="on_behalf_of_name", allow_none=True, metadata={
        "description": "A delegate's signature: the absent person signed for (P11-23)"})
    manifestation = fields.Function(
        lambda s: f"{s.printed_name} — {s.meaning} — {s.signed_at:%Y-%m-%d %H:%M:%S} UTC"
                  f"{s.on_behalf_text}")


class RecordRef(Schema):
    id = fields.Integer()
    type = fields.String()
    number = fields.String()
    title = fields.String()
    state = fields.String()


class Link(Schema):
    id = fields.Integer()
    kind = fields.String()
    relation = fields.String(metadata={"description": "how the other record relates, read "
                                                      "from this one (\"governed by\")"})
    direction = fields.String(metadata={"description": "outgoing or incoming"})
    record = fields.Nested(RecordRef)
    created_at = fields.AwareDateTime()
    ended_at = fields.AwareDateTime(allow_none=True)
    end_reason = fields.String(allow_none=True)


class UnlinkRequest(Schema):
    reason = Text(required=True, validate=validate.Length(min=1, max=2000),
                  metadata={"description": "Why the link ends"})


class ImpactedRecord(Schema):
    record = fields.Nested(RecordRef)
    type_label = fields.String()
    depth = fields.Integer(metadata={"description": "links away from the record"})
    via = fields.String(metadata={"description": "how it is reached (\"SOP-0003 governs\")"})


class Impact(Schema):
    record = fields.Nested(RecordRef)
    depth = fields.Integer()
    records = fields.List(fields.Nested(ImpactedRecord))
    hidden = fields.Integer(metadata={"description": "linked records you may not see"})


class ImpactQuery(Schema):
    depth = fields.Integer(load_default=2, validate=validate.Range(min=1, max=4))


class LinkRequest(Schema):
    target = Text(required=True, validate=validate.Length(min=1, max=64),
                  metadata={"description": "Number of the record to link to"})
    kind = Text(required=True, validate=validate.Length(min=1, max=40))
    reason = Text(validate=validate.Length(max=2000), load_default="")


class Attachment(Schema):
    id = fields.Integer()
    filename = fields.String()
    media_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    uploaded_at = fields.AwareDateTime()
    uploaded_by = fields.Function(lambda a: a.uploaded_by.username if a.uploaded_by else None)
    record_version = fields.Integer()
    download = fields.String()


class Me(Schema):
    id = fields.Integer()
    username = fields.String()
    printed_name = fields.String()
    permissions = fields.List(fields.String())
