"""Turn raw RFC 5322 bytes into a ParsedMail: decoded headers, body text, HTML and attachments."""

from __future__ import annotations

import email
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.header import decode_header
from email.message import Message as RawMessage
from email.utils import getaddresses, parsedate_to_datetime

from . import charsets, htmltext

MSGID_RE = re.compile(r"<[^<>\s]+>")


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class ParsedMail:
    message_id: str
    message_id_generated: bool
    from_name: str
    from_address: str
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    reply_to: list[tuple[str, str]]
    subject: str
    date: datetime | None
    in_reply_to: list[str]
    references: list[str]
    text: str
    html: str  # sanitised, "" when the mail has no HTML part
    reply_basis: str = ""  # text to look for the new content in (HTML-only mail: without quotes)
    attachments: list[Attachment] = field(default_factory=list)
    headers: RawMessage | None = None

    def header(self, name: str) -> str:
        """A header's decoded value ("" when absent)."""
        value = self.headers.get(name) if self.headers is not None else None
        return decode_words(value) if value is not None else ""


def parse(raw: bytes) -> ParsedMail:
    # compat32 is several times faster than policy.default on small mail and never raises on
    # malformed headers; decoding is done here, per header, with charset fallbacks.
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    from_name, from_address = (first_address(msg.get_all("From", [])) or ("", ""))
    message_ids = MSGID_RE.findall(str(msg.get("Message-ID", "")))
    text, html, reply_basis, attachments = _walk_body(msg)
    return ParsedMail(
        message_id=message_ids[0] if message_ids else synthetic_message_id(raw),
        message_id_generated=not message_ids,
        from_name=from_name,
        from_address=from_address,
        to=addresses(msg.get_all("To", [])),
        cc=addresses(msg.get_all("Cc", [])),
        reply_to=addresses(msg.get_all("Reply-To", [])),
        subject=" ".join(decode_words(msg.get("Subject", "")).split()),
        date=_date(msg.get("Date")),
        in_reply_to=MSGID_RE.findall(str(msg.get("In-Reply-To", ""))),
        references=MSGID_RE.findall(" ".join(str(v) for v in msg.get_all("References", []))),
        text=text,
        html=html,
        reply_basis=reply_basis,
        attachments=attachments,
        headers=msg,
    )


def message_id_of(raw: bytes) -> str:
    """The idempotency key without a full parse: the Message-ID, or the hash of the bytes."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    head = raw[: raw.find(b"\n\n") if b"\n\n" in raw[:65536] else 65536].replace(b"\r\n", b"\n")
    found = re.search(rb"^Message-ID:[ \t]*(?:\n[ \t]+)?(<[^<>\s]+>)", head, re.I | re.M)
    return found.group(1).decode("ascii", "replace") if found else synthetic_message_id(raw)


def synthetic_message_id(raw: bytes) -> str:
    """Idempotency key for mail without a Message-ID: the same bytes always get the same id."""
    return f"<{hashlib.sha256(raw).hexdigest()}@postdesk.invalid>"


def decode_words(value) -> str:
    """Decode RFC 2047 encoded words (and raw 8-bit header bytes) into text."""
    if value is None:
        return ""
    if not isinstance(value, str):  # email.header.Header from compat32 for 8-bit headers
        value = str(value)
    value = _unescape_surrogates(value)
    try:
        chunks = decode_header(value)
    except Exception:  # malformed encoded word: keep the text as it stands
        return value
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(charsets.decode(chunk, charset))
        else:
            out.append(chunk)
    # decode_header drops the whitespace between plain and encoded chunks in some cases.
    return "".join(out) if len(out) > 1 or not chunks else out[0]


def _unescape_surrogates(value: str) -> str:
    """compat32 keeps raw 8-bit header bytes as surrogate escapes; decode them as text."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return charsets.guess(value.encode("utf-8", "surrogateescape"))


def addresses(values: list) -> list[tuple[str, str]]:
    raw = [_unescape_surrogates(str(v)) for v in values]
    result = []
    for name, address in getaddresses(raw):
        # Keep a mailbox without a domain ("no_host", "MAILER-DAEMON"): it is what the header says;
        # the pipeline refuses it as a sender it cannot answer.
        if address and " " not in address.strip():
            result.append((" ".join(decode_words(name).split()), address.strip().lower()))
    return result


def first_address(values: list) -> tuple[str, str] | None:
    found = addresses(values)
    return found[0] if found else None


def _date(value) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _leaves(part: RawMessage):
    """The non-multipart parts, in order, without descending into attached messages: a forwarded
    or bounced mail inside this one is one attachment, not more body text."""
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        for child in part.get_payload() or []:
            if isinstance(child, RawMessage):
                yield from _leaves(child)
    else:
        yield part


def _walk_body(msg: RawMessage) -> tuple[str, str, list[Attachment]]:
    text_parts, html_parts, attachments = [], [], []
    for part in _leaves(msg):
        ctype = part.get_content_type()
        if part.get_content_maintype() == "multipart":
            ctype = "text/plain"  # a multipart without a usable boundary: its bytes are the text
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        filename = decode_words(part.get_filename() or "")
        payload = _payload(part)
        is_body = disposition != "attachment" and not filename and ctype in ("text/plain", "text/html")
        if is_body and ctype == "text/plain":
            text_parts.append(charsets.decode(payload, part.get_content_charset()))
        elif is_body:
            html_parts.append(charsets.decode(payload, part.get_content_charset()))
        elif ctype == "message/rfc822":
            inner_subject = _inner_subject(part)
            attachments.append(Attachment(filename or f"{inner_subject or 'message'}.eml", ctype, payload))
        else:
            content_id = (part.get("Content-ID") or "").strip().strip("<>")
            attachments.append(Attachment(
                filename=filename or _default_name(ctype, len(attachments) + 1),
                content_type=ctype,
                data=payload,
                content_id=content_id,
                inline=disposition == "inline" or (bool(content_id) and disposition != "attachment"),
            ))
    html = "\n".join(html_parts)
    text = "\n".join(text_parts) if text_parts else htmltext.to_text(html)
    text = text.replace("\r\n", "\n").strip("\n")
    # HTML-only mail: its quotes are containers (gmail_quote, blockquote type=cite), not "> ".
    reply_basis = text if text_parts else htmltext.to_text(html, drop_quotes=True)
    return text, htmltext.sanitise(html) if html else "", reply_basis, attachments


def _inner_subject(part: RawMessage) -> str:
    inner = part.get_payload()
    if isinstance(inner, list) and inner:
        return " ".join(decode_words(inner[0].get("Subject", "")).split())[:100].replace("/", "_")
    return ""


def _payload(part: RawMessage) -> bytes:
    if part.get_content_maintype() == "message" and part.is_multipart():
        inner = part.get_payload()
        if part.get_content_type() == "message/rfc822" and inner:
            return inner[0].as_bytes()
        return b"\n".join(block.as_bytes() for block in inner)  # delivery-status header blocks
    try:
        data = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding: keep the bytes as sent
        data = None
    if data is None:
        raw = part.get_payload()
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return data


def _default_name(ctype: str, index: int) -> str:
    extension = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "text/plain": "txt",
                 "application/pdf": "pdf", "text/calendar": "ics"}.get(ctype, "bin")
    return f"attachment-{index}.{extension}"
