"""Transports that hand a finished message to the world: an SMTP relay, or a local folder."""

from __future__ import annotations

import os
import smtplib
import ssl
import time
from pathlib import Path


class DeliveryError(Exception):
    """A failed hand-over; `permanent` when retrying cannot help (an SMTP 5xx)."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class FolderTransport:
    """Writes each message to <folder>/<time>-<id>.eml, atomically (no relay configured)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

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
    """Relays over SMTP (optionally STARTTLS and AUTH); 4xx and network errors are retried."""

    def __init__(self, host: str, port: int, user: str = "", password: str = "",
                 starttls: bool = False, timeout: float = 30, local_hostname: str | None = None):
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.timeout, self.local_hostname = starttls, timeout, local_hostname

    def send(self, mail_from: str, rcpt_to: list[str], raw: bytes, name: str) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout,
                              local_hostname=self.local_hostname) as client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.user:
                    client.login(self.user, self.password)
                refused = client.sendmail(mail_from, rcpt_to, raw)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"recipients refused: {exc.recipients}",
                                permanent=all(500 <= c < 600 for c in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{exc.smtp_code} {exc.smtp_error!r}",
                                permanent=500 <= exc.smtp_code < 600) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if refused:
            raise DeliveryError(f"some recipients refused: {refused}", permanent=True)


def transport_for(settings):
    out = settings.outgoing
    if not out.relay_host:
        return FolderTransport(settings.path(out.folder))
    return SmtpTransport(out.relay_host, out.relay_port, out.relay_user, out.relay_password,
                         out.starttls, out.timeout_seconds, settings.smtp.hostname)
