"""Delivering the e-mail outbox over SMTP, so that two deliverers never send one message twice.

A deliverer claims a batch of due rows in a short transaction (PostgreSQL: ``FOR UPDATE SKIP
LOCKED``, so racing deliverers take disjoint rows; SQLite: ``BEGIN IMMEDIATE`` serialises the
claims) by stamping its token and a lease, commits, sends with no transaction open (a slow
server never holds the SQLite write lock), then settles each row in its own transaction: sent,
or failed with the error and a later retry, up to ``NOTIFICATION_MAX_ATTEMPTS``. A deliverer
that dies mid-batch leaves its claims to expire with the lease.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update

from core.audit.service import record_event
from core.db import db, utcnow
from core.notifications.models import EMAIL_FAILED, EMAIL_PENDING, EMAIL_SENT, Notification
from core.users.models import User

log = logging.getLogger("cqms.notifications")
BATCH = 20
FIRST_RETRY = timedelta(minutes=10)
LONGEST_RETRY = timedelta(hours=6)


@dataclass
class DeliveryReport:
    enabled: bool = True
    sent: int = 0
    retrying: int = 0
    given_up: int = 0

    def line(self) -> str:
        if not self.enabled:
            return "outbox: e-mail off (SMTP_HOST is empty); notifications are in-app only"
        return (f"outbox: {self.sent} e-mails sent, {self.retrying} failed (will retry), "
                f"{self.given_up} given up")


@dataclass(frozen=True)
class Outgoing:
    id: int
    kind: str
    key: str
    attempts: int
    username: str
    message: EmailMessage | None
    problem: str = ""


def retry_delay(attempts: int) -> timedelta:
    """10 minutes after the first failure, doubling, at most 6 hours."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_RETRY)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        return f"SMTP {exc.smtp_code} {text}"[:500]
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()), (0, b""))
        return f"SMTP {code} {text.decode(errors='replace')} (recipient refused)"[:500]
    return f"{exc.__class__.__name__}: {exc}"[:500]


class SmtpSender:
    """One SMTP connection for a delivery run, opened on the first message."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.smtp: smtplib.SMTP | None = None
        self.broken = ""  # a connection-level failure: the rest of the run fails fast with it

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.smtp = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        smtp = smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=cfg["SMTP_TIMEOUT"])
        try:
            smtp.ehlo()
            if cfg["SMTP_STARTTLS"]:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if cfg["SMTP_USERNAME"]:
                smtp.login(cfg["SMTP_USERNAME"], cfg["SMTP_PASSWORD"])
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage) -> str:
        """Send ``message``; returns "" on success, else the error."""
        if self.broken:
            return self.broken
        for attempt in (1, 2):
            try:
                if self.smtp is None:
                    self.smtp = self._connect()
                self.smtp.send_message(message)
                return ""
            except smtplib.SMTPServerDisconnected as exc:
                # A kept connection may have been closed by the server: reconnect once.
                self.smtp = None
                if attempt == 2:
                    self.broken = _describe(exc)
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                    smtplib.SMTPDataError) as exc:
                return _describe(exc)  # this message only; the connection stays usable
            except (OSError, smtplib.SMTPException) as exc:
                self.__exit__()
                self.broken = _describe(exc)
                return self.broken
        return self.broken


def _message(row: Notification, user: User, config: dict[str, Any]) -> EmailMessage:
    sender = config["SMTP_FROM"]
    domain = sender.rpartition("@")[2].strip(">") or "localhost"
    digest = hashlib.sha256(row.dedupe_key.encode()).hexdigest()[:20]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((user.full_name, user.email))
    message["Subject"] = row.subject
    message["Date"] = formatdate(usegmt=True)
    # Deterministic: a message re-sent after a crash carries the same id (receivers may dedupe).
    message["Message-ID"] = f"<cqms.{row.id}.{digest}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-CQMS-Notification"] = row.dedupe_key
    message.set_content(row.body or row.subject)
    return message


def _claim(now: datetime, token: str, batch: int, lease: timedelta,
           config: dict[str, Any]) -> list[Outgoing]:
    """Claim up to ``batch`` due rows for ``token`` and read what sending needs; commits."""
    session = db.session
    candidates = (
        select(Notification.id)
        .where(Notification.email_state == EMAIL_PENDING, Notification.next_attempt_at <= now,
               or_(Notification.claimed_until.is_(None), Notification.claimed_until < now))
        .order_by(Notification.id)
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimed = session.execute(
        update(Notification).where(Notification.id.in_(candidates))
        .values(claim_token=token, claimed_until=now + lease)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    outgoing = []
    if claimed:
        rows = session.execute(select(Notification, User)
                               .join(User, User.id == Notification.recipient_id)
                               .where(Notification.id.in_(claimed))
                               .order_by(Notification.id)).all()
        for row, user in rows:
            problem = ""
            if not user.active or user.is_service:
                problem = "recipient is deactivated"
            elif not user.email:
                problem = "recipient has no e-mail address"
            message = None if problem else _message(row, user, config)
            outgoing.append(Outgoing(row.id, row.kind, row.dedupe_key, row.attempts,
                                     user.username, message, problem))
    session.commit()
    return outgoing


def _settle(item: Outgoing, token: str, now: datetime, error: str, max_attempts: int,
            report: DeliveryReport) -> None:
    """Record the outcome of one message in its own transaction, with its audit event."""
    mine = (Notification.id == item.id, Notification.claim_token == token)
    attempts = item.attempts + 1
    released = {"claim_token": None, "claimed_until": None, "attempts": attempts}
    if not error:
        db.session.execute(update(Notification).where(*mine).values(
            email_state=EMAIL_SENT, sent_at=utcnow(), last_error="", **released))
        to = item.message["To"] if item.message is not None else item.username
        record_event("notification.sent", "core_notification", item.id, field=item.kind,
                     new=f"{item.username}: {to}", reason="")
        report.sent += 1
    else:
        give_up = bool(item.problem) or attempts >= max_attempts
        next_at = None if give_up else now + retry_delay(attempts)
        db.session.execute(update(Notification).where(*mine).values(
            email_state=EMAIL_FAILED if give_up else EMAIL_PENDING, next_attempt_at=next_at,
            last_error=error, **released))
        outcome = "given up" if give_up else f"retry after {next_at:%Y-%m-%d %H:%M} UTC"
        record_event("notification.failed", "core_notification", item.id, field=item.kind,
                     new=error, reason=f"attempt {attempts} of {max_attempts}; {outcome}")
        log.warning("notification %s to %s failed: %s (%s)", item.id, item.username, error,
                    outcome)
        if give_up:
            report.given_up += 1
        else:
            report.retrying += 1
    db.session.commit()


def deliver_outbox(now: datetime | None = None, *, batch: int = BATCH) -> DeliveryReport:
    """Send every e-mail that is due, as the current actor (the system principal in the CLI).

    Commits its own short transactions: call it outside a unit of work. Safe to run from
    several processes at once: each message is claimed by one deliverer.
    """
    config = current_app.config
    if not config["SMTP_HOST"]:
        return DeliveryReport(enabled=False)
    now = now or utcnow()
    token = secrets.token_hex(16)
    # Long enough for a whole batch of timeouts: a live deliverer never loses its claim.
    lease = timedelta(seconds=max(600, 4 * batch * config["SMTP_TIMEOUT"]))
    report = DeliveryReport()
    db.session.commit()  # start from a clean transaction: claims must commit on their own
    with SmtpSender(config) as sender:
        while True:
            items = _claim(now, token, batch, lease, config)
            if not items:
                break
            for item in items:
                error = item.problem or sender.send(item.message)  # type: ignore[arg-type]
                _settle(item, token, now, error, config["NOTIFICATION_MAX_ATTEMPTS"], report)
    return report
