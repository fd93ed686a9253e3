"""Shared set-up of the work-layer tests: a real SMTP server on loopback, studies and sites,
and widgets (``acme_widget`` records from ``kernel_plugin``) to hang tasks on."""

from __future__ import annotations

import asyncio
import socket
import threading
from email import message_from_bytes
from email.message import Message

from aiosmtpd.controller import Controller

from core import create_record
from core.db import db
from core.studies import Site, Study


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps what arrives. ``fail_next`` answers that many
    DATA commands with a temporary error; ``delay`` slows each accepted message down."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.fail_next = 0
        self.fail_always = False
        self.delay = 0.0
        self.lock = threading.Lock()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        with self.lock:
            if self.fail_always or self.fail_next:
                self.fail_next = max(self.fail_next - 1, 0)
                return "451 4.3.0 Mailbox busy, try again later"
        if self.delay:
            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def keys(self) -> list[str]:
        with self.lock:
            return [m["X-CQMS-Notification"] for m in self.messages]

    def config(self) -> dict[str, object]:
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": self.port, "SMTP_FROM": "cqms@example.org",
                "SMTP_TIMEOUT": 5}


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def studies() -> dict[str, object]:
    """ST-1 with sites 101 and 102, and ST-2 with site 201 (committed)."""
    one = Study(code="ST-1", title="Study one")
    two = Study(code="ST-2", title="Study two")
    db.session.add_all([one, two])
    s101 = Site(study=one, code="101", name="Berlin")
    s102 = Site(study=one, code="102", name="Lyon")
    s201 = Site(study=two, code="201", name="Oslo")
    db.session.add_all([s101, s102, s201])
    db.session.commit()
    return {"ST-1": one, "ST-2": two, "101": s101, "102": s102, "201": s201}


def widget(user, title: str = "Widget", **values):  # type: ignore[no-untyped-def]
    """A committed ``acme_widget`` record created by ``user``."""
    values.setdefault("description", "Blue")
    record = create_record("acme_widget", user, title=title, **values)
    db.session.commit()
    return record
