"""The inbound SMTP edge (aiosmtpd): refuse strangers at RCPT, store at DATA, answer after commit."""

from __future__ import annotations

import asyncio
import logging
from email.utils import formatdate

from aiosmtpd.controller import Controller

from . import spool

log = logging.getLogger(__name__)


class Edge:
    """aiosmtpd handler. Zulip's email gateway is the model: cheap checks, store, enqueue."""

    def __init__(self, settings):
        self.settings = settings

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.settings.mailbox_for(address) is None:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = self._received_header(session, envelope) + envelope.original_content
        loop = asyncio.get_running_loop()
        try:
            # SQLite and Redis calls block; keep them off the event loop serving other clients.
            inbound_id = await loop.run_in_executor(
                None, lambda: spool.receive(self.settings, raw, "smtp", envelope.mail_from or "",
                                            tuple(envelope.rcpt_tos)))
        except spool.StorageError:
            return "451 4.3.0 Message not stored; please try again later"
        return f"250 2.0.0 OK: queued as {inbound_id}"

    def _received_header(self, session, envelope) -> bytes:
        # RFC 5321 §4.4: each server that accepts a message adds a Received trace line.
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        line = (f"Received: from {session.host_name or 'unknown'} ([{peer}])\r\n"
                f"\tby {self.settings.smtp.hostname} (Postdesk) with ESMTP;\r\n\t{formatdate()}\r\n")
        return line.encode("ascii", "replace")


def make_controller(settings, host: str | None = None, port: int | None = None) -> Controller:
    s = settings.smtp
    return Controller(Edge(settings), hostname=host or s.host, port=s.port if port is None else port,
                      server_hostname=s.hostname, data_size_limit=s.max_message_bytes,
                      enable_SMTPUTF8=True, decode_data=False)
