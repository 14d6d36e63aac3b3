"""The inbound SMTP edge (aiosmtpd): refuse strangers at RCPT, store at DATA, answer after commit."""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
from email.utils import formatdate

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from . import spool

log = logging.getLogger(__name__)


class Edge:
    """aiosmtpd handler. Zulip's email gateway is the model: cheap checks, store, enqueue."""

    def __init__(self, settings, committer: spool.GroupCommitter):
        self.settings = settings
        self.committer = committer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.settings.mailbox_for(address) is None:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = self._received_header(session, envelope) + envelope.original_content
        try:
            # Stored off the event loop, in a transaction shared with concurrent sessions.
            inbound_id = await asyncio.wrap_future(self.committer.submit(
                raw, "smtp", envelope.mail_from or "", tuple(envelope.rcpt_tos)))
        except spool.StorageError:
            return "451 4.3.0 Message not stored; please try again later"
        return f"250 2.0.0 OK: queued as {inbound_id}"

    def _received_header(self, session, envelope) -> bytes:
        # RFC 5321 §4.4: each server that accepts a message adds a Received trace line.
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        line = (f"Received: from {session.host_name or 'unknown'} ([{peer}])\r\n"
                f"\tby {self.settings.smtp.hostname} (Postdesk) with ESMTP;\r\n\t{formatdate()}\r\n")
        return line.encode("ascii", "replace")


class LimitedSMTP(SMTP):
    """aiosmtpd's SMTP with a cap on simultaneous connections (one counter per listener)."""

    def __init__(self, handler, counter: list[int], limit: int, **kwargs):
        super().__init__(handler, **kwargs)
        self.counter, self.limit, self.refused = counter, limit, False

    def connection_made(self, transport):
        if self._original_transport is None:  # a new connection, not its STARTTLS upgrade
            if self.limit and self.counter[0] >= self.limit:
                self.refused = True
                transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
                transport.close()
                return
            self.counter[0] += 1
        super().connection_made(transport)

    def connection_lost(self, error):
        if self.refused:
            return
        self.counter[0] -= 1
        super().connection_lost(error)


class EdgeController(Controller):
    def __init__(self, *args, max_connections: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.counter, self.max_connections = [0], max_connections

    def stop(self, *args, **kwargs):
        super().stop(*args, **kwargs)
        self.handler.committer.close()

    def factory(self):
        return LimitedSMTP(self.handler, self.counter, self.max_connections, **self.SMTP_kwargs)


def make_controller(settings, host: str | None = None, port: int | None = None,
                    batcher=None) -> Controller:
    s = settings.smtp
    options = {}
    if s.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(settings.path(s.tls_cert), settings.path(s.tls_key))
        options.update(tls_context=context, require_starttls=s.require_tls)
    if s.auth_username:
        options.update(authenticator=Authenticator(s.auth_username, s.auth_password),
                       auth_required=s.auth_required, auth_require_tls=True)
    return EdgeController(Edge(settings, spool.GroupCommitter(settings, batcher)), hostname=host or s.host, port=s.port if port is None else port,
                          server_hostname=s.hostname, data_size_limit=s.max_message_bytes,
                          enable_SMTPUTF8=True, decode_data=False, max_connections=s.max_connections,
                          **options)


class Authenticator:
    """AUTH PLAIN/LOGIN against the one configured account, compared in constant time."""

    def __init__(self, username: str, password: str):
        self.username, self.password = username.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and hmac.compare_digest(auth_data.login, self.username)
              and hmac.compare_digest(auth_data.password, self.password) and bool(self.password))
        if not ok:
            log.warning("SMTP AUTH failed from %s", session.peer)
        # handled=False: aiosmtpd itself answers 535 (the default, handled=True, answers nothing).
        return AuthResult(success=ok, handled=False)
