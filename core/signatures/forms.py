"""The one signing form: a transition's reason, the signer's user name (first signature of a
session) and password (and authenticator code), a comment, the one-time attestation and, for a
delegate, the absent person signed for. Pages render its fields with the macro in
``core/_signature.html`` and hand ``form.signature_request()`` to ``perform_transition``."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from core.errors import ValidationError
from core.signatures.models import ATTESTATION_TEXT
from core.signatures.service import SignatureRequest


class SignatureForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[Optional(), Length(max=2000)],
                           render_kw={"rows": 2})
    username = StringField("User name", validators=[Optional(), Length(max=64)],
                           render_kw={"autocomplete": "username"})
    password = PasswordField("Password (your signature)", validators=[Optional(),
                                                                       Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    totp = StringField("Authenticator code", validators=[Optional(), Length(max=10)])
    comment = TextAreaField("Comment", validators=[Optional(), Length(max=2000)],
                            render_kw={"rows": 2})
    attest = BooleanField(ATTESTATION_TEXT)
    on_behalf_of = StringField("On behalf of", validators=[Optional(), Length(max=64)])

    def signature_request(self) -> SignatureRequest:
        """What the signer entered; no password is a form error (not a failed signature)."""
        if not self.password.data:
            raise ValidationError({"password": "Enter your password to sign."})
        return SignatureRequest(password=self.password.data or "", totp=self.totp.data or None,
                                comment=self.comment.data or "",
                                username=self.username.data or None,
                                on_behalf_of=self.on_behalf_of.data or None)

    def problems(self) -> str:
        """The form's field errors as one line for a flash message."""
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items())
