"""The inbound SMTP edge (aiosmtpd): refuse strangers at RCPT, store at DATA, answer after commit."""

from __future__ import annotations

import hmac
import logging
import re
import ssl
from email.utils import formatdate

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from models import inbound

from . import spool

log = logging.getLogger(__name__)

# A path as nearly every client writes it: <dot-atom@host.name>, then its parameters.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(rf"<({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>[ \t]*(.*)", re.S)


class Edge:
    """aiosmtpd handler. Zulip's email gateway is the model: cheap checks, store, enqueue."""

    def __init__(self, settings, committer: spool.LoopCommitter | spool.GroupCommitter):
        self.settings = settings
        self.committer = committer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.settings.mailbox_for(address) is None:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        try:
            # Stored in a transaction shared with concurrent sessions (spool.LoopCommitter). Our
            # Received line goes in front, but the size and the idempotency key are the mail's
            # as the client sent it: the size the SMTP limit accepted is the one the pipeline checks.
            inbound_id = await self.committer.store(spool.incoming(
                envelope.original_content, "smtp", envelope.mail_from or inbound.NULL_SENDER,
                tuple(envelope.rcpt_tos), trace=self._received_header(session, envelope)))
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
    """aiosmtpd's SMTP with caps on simultaneous connections, in all and per client address, so
    that idle or greedy clients cannot shut everyone else out (the idle ones are also closed by
    aiosmtpd's `timeout`)."""

    def __init__(self, handler, limits: ConnectionLimits, **kwargs):
        super().__init__(handler, **kwargs)
        self.limits, self.client = limits, None

    def connection_made(self, transport):
        if self._original_transport is None:  # a new connection, not its STARTTLS upgrade
            peer = transport.get_extra_info("peername")
            client = peer[0] if isinstance(peer, tuple) else str(peer)
            refusal = self.limits.take(client)
            if refusal:
                transport.write(f"421 4.7.0 {refusal}, try again later\r\n".encode())
                transport.close()
                return
            self.client = client
        super().connection_made(transport)

    def _getaddr(self, arg: str):
        """The path of MAIL FROM or RCPT TO, and what follows it. aiosmtpd reads it with the email
        package's header parser, and defines a class on every call: a fifth of the edge's time per
        mail. The plain form is read here by one regex instead, to the same result (a test compares
        the two); any other form, and a comment after the path, go to aiosmtpd."""
        plain = _PLAIN_PATH.fullmatch(arg)
        if plain is None or plain[2].startswith("("):
            return super()._getaddr(arg)
        address, rest = plain[1], plain[2]
        if self.local_part_limit and address.index("@") > self.local_part_limit:
            return None, None
        return address, rest

    def _timeout_cb(self):
        # aiosmtpd just closes an idle session; RFC 5321 §3.8 lets a server that must close say
        # so with 421 first, so the client knows to try again rather than guess.
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"421 4.4.2 Idle for too long, closing connection\r\n")
        super()._timeout_cb()

    def connection_lost(self, error):
        if self.client is None:  # refused: it was never counted
            return
        self.limits.give_back(self.client)
        self.client = None
        super().connection_lost(error)


class ConnectionLimits:
    """Counts of open connections, in all and per client address (touched by the event loop only)."""

    def __init__(self, total: int, per_client: int):
        self.total, self.per_client = total, per_client
        self.open, self.by_client = 0, {}

    def take(self, client: str) -> str:
        """Count a new connection, or say why it is refused."""
        if self.total and self.open >= self.total:
            return "Too many connections"
        if self.per_client and self.by_client.get(client, 0) >= self.per_client:
            return f"Too many connections from {client}"
        self.open += 1
        self.by_client[client] = self.by_client.get(client, 0) + 1
        return ""

    def give_back(self, client: str) -> None:
        self.open -= 1
        left = self.by_client.get(client, 1) - 1
        if left:
            self.by_client[client] = left
        else:
            self.by_client.pop(client, None)


class EdgeController(Controller):
    def __init__(self, *args, limits: ConnectionLimits, **kwargs):
        super().__init__(*args, **kwargs)
        self.limits = limits

    def stop(self, *args, **kwargs):
        super().stop(*args, **kwargs)
        self.handler.committer.close()

    def factory(self):
        return LimitedSMTP(self.handler, self.limits, **self.SMTP_kwargs)


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
    return EdgeController(Edge(settings, spool.edge_committer(settings, batcher)), hostname=host or s.host,
                          port=s.port if port is None else port,
                          server_hostname=s.hostname, data_size_limit=s.max_message_bytes,
                          enable_SMTPUTF8=True, decode_data=False, timeout=s.idle_timeout_seconds,
                          limits=ConnectionLimits(s.max_connections, s.max_connections_per_client),
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
