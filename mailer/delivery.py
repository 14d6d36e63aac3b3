"""Transports that hand finished messages to the world: an SMTP relay, or a local folder.

A transport is opened for a batch (`with transport_for(settings) as transport:`) and sends each
message with `transport.send(...)`, raising DeliveryError when one cannot be handed over."""

from __future__ import annotations

import functools
import os
import smtplib
import ssl
import time
from pathlib import Path

# Connections one SMTP transport opens: the first, and one more when a relay drops it mid-batch.
# A relay that drops or refuses us twice is not helped by a third try within the same job.
MAX_CONNECTIONS = 2


class DeliveryError(Exception):
    """A failed hand-over; `permanent` when retrying cannot help (an SMTP 5xx to this mail)."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class ConnectionLost(DeliveryError):
    """The relay connection broke during a mail (reset, timeout, 421 closing): worth one retry
    on a new connection, since the relay refused nothing about the mail itself."""


class FolderTransport:
    """Writes each message to <folder>/<time>-<id>.eml, atomically (no relay configured)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def __enter__(self) -> FolderTransport:
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    def send(self, mail_from: str, rcpt_to: list[str], raw: bytes, name: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{name}.eml"
        partial = final.with_suffix(".tmp")
        try:
            partial.write_bytes(raw)
            os.replace(partial, final)
        except OSError as exc:
            raise DeliveryError(f"cannot write {final}: {exc}") from exc


class SmtpTransport:
    """Relays over SMTP, one connection for a whole batch: EHLO, STARTTLS (or implicit TLS,
    SMTPS on port 465) and AUTH happen once, on the first mail, so a job whose rows were all
    sent already opens no connection. When the connection drops, the mail in flight is tried
    once more on a new one, which then serves the rest of the batch; should that one fail too,
    the rest of the batch fails at once (temporarily) instead of waiting out more timeouts.

    No RSET of our own is needed between mails: a completed DATA ends the transaction (RFC 5321
    4.1.1.4) and smtplib's sendmail sends RSET itself after a refused MAIL, RCPT or DATA."""

    def __init__(self, host: str, port: int, user: str = "", password: str = "", starttls: bool = False,
                 implicit_tls: bool = False, ca_file: str = "", timeout: float = 30,
                 local_hostname: str | None = None):
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.implicit_tls, self.ca_file = starttls, implicit_tls, ca_file
        self.timeout, self.local_hostname = timeout, local_hostname
        self.client: smtplib.SMTP | None = None
        self.connections = 0  # opened or tried, at most MAX_CONNECTIONS
        self.last_failure = ""  # why the last connection failed or broke

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (smtplib.SMTPException, OSError):
                self.client.close()
            self.client = None

    def send(self, mail_from: str, rcpt_to: list[str], raw: bytes, name: str = "") -> None:
        try:
            self._send_once(mail_from, rcpt_to, raw)
        except ConnectionLost:
            if self.connections >= MAX_CONNECTIONS:
                raise
            self._send_once(mail_from, rcpt_to, raw)

    def _send_once(self, mail_from: str, rcpt_to: list[str], raw: bytes) -> None:
        client = self.client or self._connect()
        # RFC 6531: an address beyond ASCII needs a relay that offers SMTPUTF8.
        options = () if (mail_from + "".join(rcpt_to)).isascii() else ("SMTPUTF8",)
        try:
            refused = client.sendmail(mail_from, rcpt_to, raw, mail_options=options)
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"the relay cannot take this address: {exc}", permanent=True) from exc
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as exc:
            if client.sock is None:  # a 421 answer: smtplib closed the connection
                raise self._lost(describe(exc)) from exc
            raise DeliveryError(describe(exc), permanent=is_permanent(exc)) from exc
        except (smtplib.SMTPException, OSError) as exc:  # disconnected, reset or timed out
            client.close()
            raise self._lost(f"connection lost: {describe(exc)}") from exc
        if refused:
            raise DeliveryError(f"some recipients refused: {refused}", permanent=True)

    def _lost(self, reason: str) -> ConnectionLost:
        self.client, self.last_failure = None, reason
        return ConnectionLost(reason)

    def _connect(self) -> smtplib.SMTP:
        """A ready connection. Anything failing here (refused, timeout, TLS, AUTH, even a 5xx
        greeting) is temporary: nothing about the mail is at fault, and a relay down or a wrong
        password is for the operator to mend while the mail waits for its next attempt."""
        if self.connections >= MAX_CONNECTIONS:
            raise DeliveryError(f"not tried: the relay failed twice in this batch ({self.last_failure})")
        self.connections += 1
        client = None
        try:
            if self.implicit_tls:
                client = smtplib.SMTP_SSL(self.host, self.port, local_hostname=self.local_hostname,
                                          timeout=self.timeout, context=tls_context(self.ca_file))
            else:
                client = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname,
                                      timeout=self.timeout)
            client.ehlo()
            if self.starttls:
                client.starttls(context=tls_context(self.ca_file))
                client.ehlo()
            if self.user:
                client.login(self.user, self.password)
        except (smtplib.SMTPException, OSError) as exc:
            if client is not None:
                client.close()
            self.last_failure = f"relay {self.host}:{self.port}: {describe(exc)}"
            raise DeliveryError(self.last_failure) from exc
        self.client = client
        return client


@functools.cache
def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """The relay's certificate must be valid for its name and signed by a CA we trust (the
    system's, or those in `ca_file`). One per process: loading the system's CAs takes ~30 ms,
    as long as sending a dozen mails."""
    return ssl.create_default_context(cafile=ca_file or None)


def describe(exc: Exception) -> str:
    """The relay's own words where it gave any: "550 5.1.1 no such user (to gone@…)"."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{code} {_text(text)} (to {address})" for address, (code, text) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"


def is_permanent(exc: Exception) -> bool:
    """An SMTP 5xx to the mail (RFC 5321 4.2.1); 4xx and everything else may pass later."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600


def _text(text) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def transport_for(settings) -> FolderTransport | SmtpTransport:
    """A new transport for one batch: the relay when one is configured, else the folder."""
    out = settings.outgoing
    if not out.relay_host:
        return FolderTransport(settings.path(out.folder))
    return SmtpTransport(out.relay_host, out.relay_port, out.relay_user, out.relay_password,
                         starttls=out.starttls, implicit_tls=out.implicit_tls,
                         ca_file=str(settings.path(out.tls_ca_file)) if out.tls_ca_file else "",
                         timeout=out.timeout_seconds, local_hostname=settings.smtp.hostname)
