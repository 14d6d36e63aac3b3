"""Reports from mail systems that are no bounce notice: spam complaints (ARF, RFC 5965, and
Microsoft's JMRP), read receipts (MDN, RFC 8098) and Amazon SES notifications (JSON, by mail).

Each reader returns a Report (the one vocabulary of reports, bounces included), or None when the
mail is not such a report. Bounded work: header blocks, and JSON up to JSON_LIMIT characters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .addresses import split_addresses
from .parsing import ParsedMail

# RFC 5965 §7.3 feedback types that report a person's complaint; "not-spam" says the opposite and
# "auth-failure" (RFC 6591) reports a forgery of our domain: neither is anyone's complaint.
COMPLAINT_TYPES = {"abuse", "fraud", "virus", "other", "opt-out", "unsubscribe", ""}
JMRP_SUBJECT = re.compile(r"^complaint about message from ", re.I)  # Microsoft's Junk Mail Reporting Program
# Who sends JMRP reports: a client's "Complaint about message from your agent" with our reply
# attached as evidence is their complaint to us, a ticket, not a spam report.
JMRP_SENDERS = re.compile(r"@(?:[\w-]+\.)*(?:hotmail|outlook|live|msn|microsoft)\.com$", re.I)
ADDRESS = re.compile(r"[^\s<>;,\"()\[\]]+@[^\s<>;,\"()\[\]]+")
MSGID = re.compile(r"<[^<>\s]{1,250}>")
# The returned message or its header, in a report; the global forms (RFC 6533) are UTF-8.
RETURNED = ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers", "message/global",
            "message/global-headers")
JSON_START = re.compile(r"\s*+\{")
JSON_LIMIT = 512 * 1024  # characters of a JSON notification read (SES sends a few KB)


FAILURE, DELAY, DELIVERED, RECEIPT, COMPLAINT, FEEDBACK = (
    "failure", "delay", "delivered", "receipt", "complaint", "feedback")  # what each does: bounces.py


@dataclass
class Report:
    reason: str
    permanent: list[str] = field(default_factory=list)
    temporary: list[str] = field(default_factory=list)
    complained: list[str] = field(default_factory=list)  # who marked our mail as spam
    original_message_ids: list[str] = field(default_factory=list)
    kind: str = FAILURE
    reached: list[str] = field(default_factory=list)  # delivered to, or read by: marked nothing

    @property
    def is_failure(self) -> bool:
        """A failure or a delay: marks its recipients bouncing."""
        return self.kind in (FAILURE, DELAY)


def read(mail: ParsedMail) -> Report | None:
    """The report this mail is, or None."""
    return feedback(mail) or receipt(mail) or ses(mail)


def feedback(mail: ParsedMail) -> Report | None:
    """An ARF report (RFC 5965), or a JMRP one (an attached message under a "complaint about
    message from" subject): who complained, from the fields, else the returned message."""
    msg = mail.headers
    fields = _fields(msg, "message/feedback-report")
    is_arf = fields is not None or _report_type(msg) == "feedback-report"
    if not is_arf and not (JMRP_SUBJECT.match(mail.subject) and JMRP_SENDERS.search(mail.from_address)):
        return None
    returned = returned_headers(msg)
    if not is_arf and not returned:
        return None
    fields = fields or {}
    kind = " ".join(fields.get("feedback-type", [])).split(";")[0].strip().lower()
    recipients = _unredacted(fields.get("original-rcpt-to", []) + fields.get("removal-recipient", []))
    if not recipients and returned:
        recipients = _unredacted(_header(returned, "X-HmXmrOriginalRecipient")) or _unredacted(
            _header(returned, "To") + _header(returned, "Cc"))
    ids = _ids(returned)
    if kind not in COMPLAINT_TYPES:
        return Report(f"{kind} feedback report (RFC 5965), nobody's complaint", kind=FEEDBACK,
                      reached=recipients, original_message_ids=ids)
    source = "RFC 5965" if is_arf else "Microsoft JMRP"
    return Report(f"abuse/complaint feedback report ({source}, {kind or 'no type'})", kind=COMPLAINT,
                  complained=recipients, original_message_ids=ids)


def receipt(mail: ParsedMail) -> Report | None:
    """A message disposition notification (RFC 8098): who displayed (or deleted…) which mail."""
    msg = mail.headers
    fields = _fields(msg, "message/disposition-notification")
    if fields is None and _report_type(msg) != "disposition-notification":
        return None
    fields = fields or {}
    reader = _unredacted(fields.get("final-recipient", []) or fields.get("original-recipient", []))
    disposition = " ".join(fields.get("disposition", [""])).rpartition(";")[2].strip().lower() or "unknown"
    ids = MSGID.findall(" ".join(fields.get("original-message-id", []))) + _ids(returned_headers(msg))
    return Report(f"read receipt (RFC 8098): {disposition}", kind=RECEIPT, reached=reader,
                  original_message_ids=list(dict.fromkeys(ids + mail.in_reply_to + mail.references)))


def ses(mail: ParsedMail) -> Report | None:
    """An Amazon SES notification (Bounce, Complaint, Delivery, DeliveryDelay), alone or inside
    an SNS envelope ("Type": "Notification", the notification as its "Message" string)."""
    start = JSON_START.match(mail.text)
    head = mail.text[start.end() - 1:start.end() + 4096] if start else ""
    if "notificationType" not in head and "eventType" not in head:
        return None
    note = _json(mail.text[start.end() - 1:start.end() + JSON_LIMIT])
    if isinstance(note, dict) and isinstance(note.get("Message"), str):
        note = _json(note["Message"].lstrip()[:JSON_LIMIT])
    if not isinstance(note, dict) or not isinstance(note.get("mail"), dict):
        return None
    kind = str(note.get("notificationType") or note.get("eventType") or "")
    ids = _ses_ids(note["mail"])
    if kind == "Bounce":
        bounce = _dict(note.get("bounce"))
        permanent, temporary = [], []
        for recipient in _list(bounce.get("bouncedRecipients")):
            address = _address(_dict(recipient).get("emailAddress"))
            status = str(_dict(recipient).get("status") or "")
            # The status, when given (RFC 3463); else SES's own verdict. "Undetermined" is not
            # known to be permanent, so it suppresses nothing for good.
            hard = status.startswith("5") or (not status.startswith("4") and bounce.get("bounceType") == "Permanent")
            if address:
                (permanent if hard else temporary).append(address)
        return Report(f"Amazon SES bounce notification ({bounce.get('bounceType', 'no type')})",
                      permanent=permanent, temporary=temporary, original_message_ids=ids)
    if kind == "Complaint":
        complaint = _dict(note.get("complaint"))
        who = [a for r in _list(complaint.get("complainedRecipients")) if (a := _address(_dict(r).get("emailAddress")))]
        if str(complaint.get("complaintFeedbackType", "")).lower() == "not-spam":
            return Report("Amazon SES not-spam feedback", kind=FEEDBACK, reached=who, original_message_ids=ids)
        return Report("Amazon SES complaint notification", kind=COMPLAINT, complained=who, original_message_ids=ids)
    if kind == "Delivery":
        reached = [a for r in _list(_dict(note.get("delivery")).get("recipients")) if (a := _address(r))]
        return Report("Amazon SES delivery notification", kind=DELIVERED, reached=reached, original_message_ids=ids)
    if kind == "DeliveryDelay":
        delayed = [a for r in _list(_dict(note.get("deliveryDelay")).get("delayedRecipients"))
                   if (a := _address(_dict(r).get("emailAddress")))]
        return Report("Amazon SES delivery delay notification", kind=DELAY, temporary=delayed,
                      original_message_ids=ids)
    return None


def own_parts(msg):
    """The parts of the report itself, not of the message it returns (a bounce of our own read
    receipt is a bounce, not a receipt)."""
    stack = [msg]
    while stack:
        part = stack.pop()
        yield part
        if part.get_content_type() != "message/rfc822" and part.is_multipart():
            stack += reversed(part.get_payload())


def utf8(text: str) -> str:
    """Text the parser kept with 8-bit bytes escaped (a global DSN's UTF-8 fields) read as UTF-8."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return text


def payload_of(part):
    """A part's parts, or its text as stored: never decoded by its charset label, which may be
    hostile (get_payload decodes text holding 8-bit bytes, and "idna" raises)."""
    if part.is_multipart():
        return part.get_payload()
    try:
        payload = part.get_payload()
        if isinstance(payload, str) and part.get_content_type().startswith("message/global"):
            raw = part.get_payload(decode=True)  # RFC 6533: UTF-8 as sent, not as the parser kept it
            return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else payload
        return payload
    except (UnicodeError, LookupError, ValueError):
        return ""


def _report_type(msg) -> str:
    if msg.get_content_type() != "multipart/report":
        return ""
    return str(msg.get_param("report-type") or "").strip().lower()


def _fields(msg, ctype: str) -> dict[str, list[str]] | None:
    """The fields of the first `ctype` part (lower-case names, every value), or None."""
    for part in own_parts(msg):
        if part.get_content_type() != ctype:
            continue
        payload = payload_of(part)
        blocks = payload if isinstance(payload, list) else []
        found: dict[str, list[str]] = {}
        for block in blocks:
            for name, value in block.items():
                found.setdefault(name.lower(), []).append(str(value))
        if not blocks and isinstance(payload, str):  # a part the reader kept as text
            for line in re.finditer(r"^([\w-]{1,80}):[ \t]*([^\n]*)", payload, re.M):
                found.setdefault(line.group(1).lower(), []).append(line.group(2).strip())
        return found
    return None


def returned_headers(msg):
    """The header fields of the returned message (message/rfc822) or headers (text/rfc822-headers)."""
    for part in own_parts(msg):
        ctype = part.get_content_type()
        if ctype not in RETURNED:
            continue
        payload = payload_of(part)
        if isinstance(payload, list) and payload:
            return dict(_items(payload[0]))
        if isinstance(payload, str):
            head = payload.replace("\r\n", "\n").split("\n\n", 1)[0]
            found: dict[str, list[str]] = {}
            for line in re.finditer(r"^([\w-]{1,80}):[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)", head, re.M):
                found.setdefault(line.group(1).lower(), []).append(line.group(2))
            return found
    return None


def _items(message) -> list[tuple[str, list[str]]]:
    found: dict[str, list[str]] = {}
    for name, value in message.items():
        found.setdefault(name.lower(), []).append(str(value))
    return list(found.items())


def _header(returned, name: str) -> list[str]:
    return returned.get(name.lower(), []) if returned else []


def _ids(returned) -> list[str]:
    return MSGID.findall(" ".join(_header(returned, "Message-ID"))[:1000])


def _unredacted(values: list[str]) -> list[str]:
    """The addresses in `values` that are not redacted, lower-case, once each."""
    found = [a for _, a in split_addresses(values)] if values else []
    found += [a for value in values for a in ADDRESS.findall(value[:1000])]  # "rfc822; a@b" fields
    addresses = [a.strip().lower() for a in found if "@" in a]
    return list(dict.fromkeys(a for a in addresses if not _redacted(a) and not a.startswith("rfc822;")))


def _redacted(address: str) -> bool:
    """Providers hide the complainant: "redacted@…", "xxxxxxxx@…", "****@…", "@domain"."""
    local = address.rpartition("@")[0]
    return not local.strip("x*#_.-") or "redacted" in local


def _json(text: str):
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except (ValueError, RecursionError):
        return None


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _address(value) -> str:
    found = ADDRESS.search(str(value or "")[:1000])
    return found.group().lower() if found else ""


def _ses_ids(mail: dict) -> list[str]:
    """Our Message-ID as SES saw it: commonHeaders.messageId, or the Message-ID of its headers."""
    values = [str(_dict(mail.get("commonHeaders")).get("messageId") or "")]
    values += [str(h.get("value", "")) for h in _list(mail.get("headers"))
               if isinstance(h, dict) and str(h.get("name", "")).lower() == "message-id"]
    return list(dict.fromkeys(MSGID.findall(" ".join(values)[:2000])))
