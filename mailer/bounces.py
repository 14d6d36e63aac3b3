"""Delivery failure reports: is this a bounce, and which recipients failed for good or for now."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from flufl.bounce import all_failures

log = logging.getLogger(__name__)
# flufl.bounce logs every detector it runs, and a traceback (then re-raises) when one trips over
# malformed mail, about one fuzzed mail in five: its failure is reported below, once, by us.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

DAEMONS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|mdaemon)\b", re.I)
SUBJECTS = re.compile(
    r"(undeliver|undelivered|delivery (status notification|failure|has failed|problem)|"
    r"failure notice|returned mail|mail delivery (failed|system|failure)|could not be delivered|"
    r"nondeliverable|non-delivery|delivery notification|message not delivered|"
    r"warning: message .* delayed|rejected:|退信|投递失败|未能送达|系统退信)", re.I)
STATUS = re.compile(r"^\s*Status:\s*([245])\.(\d{1,3})\.(\d{1,3})", re.I | re.M)
ORIGINAL_RCPT = re.compile(r"^Original-Rcpt-To:\s*<?([^\s<>;]+@[^\s<>;]+)>?", re.I | re.M)  # RFC 5965
RECIPIENT = re.compile(r"^\s*(?:Final|Original)-Recipient:\s*(?:rfc822;)?\s*<?([^\s<>;]+@[^\s<>;]+)>?", re.I | re.M)


@dataclass
class Bounce:
    reason: str
    permanent: list[str] = field(default_factory=list)
    temporary: list[str] = field(default_factory=list)
    complained: list[str] = field(default_factory=list)  # ARF: who marked our mail as spam
    original_message_ids: list[str] = field(default_factory=list)


def detect(mail) -> Bounce | None:
    """A Bounce when the mail reports a delivery failure (RFC 3464 or an MTA's own format).
    Never raises: on mail it cannot read it says what it could find, or None."""
    if mail.headers is None:
        return None
    try:
        return _detect(mail)
    except Exception:  # our own error, on mail the parser let through: visible, not fatal
        log.error("%s bounce detection failed", mail.message_id, exc_info=True)
        return None


def _detect(mail) -> Bounce | None:
    msg = mail.headers
    reason = _why(mail)
    if reason.startswith("abuse/complaint"):
        return Bounce(reason, complained=_complainants(msg), original_message_ids=_original_ids(msg))
    if not reason and not _could_be_report(mail):
        return None  # flufl.bounce's 17 detectors cost ~2 ms; ordinary mail skips them
    try:
        temporary, permanent = all_failures(msg)
    except Exception as exc:  # a detector tripped on malformed input; heuristics still apply
        log.debug("%s flufl.bounce failed: %s: %s", mail.message_id, type(exc).__name__, exc)
        temporary, permanent = frozenset(), frozenset()
    if not reason and not (temporary or permanent):
        return None
    bounce = Bounce(reason or "failed recipients reported")
    # An explicit RFC 3464 Status is authoritative (RFC 3463: 4.x.x transient, 5.x.x permanent);
    # flufl.bounce files every "Action: failed" as permanent.
    dsn5, dsn4 = set(_dsn_recipients(msg, "5")), set(_dsn_recipients(msg, "4"))
    permanent_set = ({_text(a) for a in permanent} - dsn4) | dsn5
    temporary_set = ({_text(a) for a in temporary | permanent} | dsn4) - permanent_set
    failed = mail.header("X-Failed-Recipients")
    if failed and not (permanent_set or temporary_set):
        permanent_set = {a.strip().lower() for a in failed.split(",") if "@" in a}
    bounce.permanent, bounce.temporary = sorted(permanent_set), sorted(temporary_set)
    bounce.original_message_ids = _original_ids(msg)
    return bounce


def _why(mail) -> str:
    msg = mail.headers
    if msg.get_content_type() == "multipart/report":
        kind = str(msg.get_param("report-type") or "").lower()
        if kind == "delivery-status":
            return "RFC 3464 delivery status notification"
        if kind == "feedback-report":
            return "abuse/complaint feedback report (RFC 5965)"
    if mail.header("X-Failed-Recipients"):
        return "X-Failed-Recipients header"
    sender = mail.from_address.split("@")[0]
    envelope_empty = mail.header("Return-Path").strip() == "<>"
    if (DAEMONS.match(sender) or envelope_empty or not mail.from_address) and SUBJECTS.search(mail.subject):
        return f"non-delivery notice from {mail.from_address or 'the null sender'}"
    return ""


def _could_be_report(mail) -> bool:
    """Mail from a mail system or about delivery: worth the detectors' time."""
    sender = mail.from_address.split("@")[0]
    return bool(DAEMONS.match(sender) or not mail.from_address or SUBJECTS.search(mail.subject)
                or mail.header("Return-Path").strip() == "<>"
                or re.match(r"(mail|smtp|mx|postoffice|mta)", sender, re.I)
                or mail.headers.get_content_type() == "multipart/report")


def _dsn_recipients(msg, klass: str) -> list[str]:
    """Recipients of delivery-status parts whose Status class is `klass` (RFC 3464 §2.3)."""
    found = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = [str(p) for p in payload] if isinstance(payload, list) else [str(payload)]
        for block in blocks:
            recipient, status = RECIPIENT.search(block), STATUS.search(block)
            if recipient and status and status.group(1) == klass:
                found.append(recipient.group(1).lower())
    return found


def _complainants(msg) -> list[str]:
    """The recipients an ARF report (RFC 5965) is about: its Original-Rcpt-To fields, else the To
    of the returned message (providers often redact one or the other)."""
    found = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/feedback-report":
            payload = part.get_payload()
            text = "\n".join(str(p) for p in payload) if isinstance(payload, list) else str(payload)
            found += [a.lower() for a in ORIGINAL_RCPT.findall(text)]
        elif ctype in ("message/rfc822", "text/rfc822-headers") and not found:
            inner = part.get_payload()
            headers = str(inner[0]) if isinstance(inner, list) and inner else str(inner)
            to = re.search(r"^To:[^\n]*?<?([^\s<>,;\"]+@[^\s<>,;\"]+)>?", headers, re.I | re.M)
            found += [to.group(1).lower()] if to else []
    return sorted(set(found))


def _original_ids(msg) -> list[str]:
    """Message-IDs of the returned original (message/rfc822 or text/rfc822-headers part)."""
    ids = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and inner[0].get("Message-ID"):
                ids.append(str(inner[0]["Message-ID"]).strip())
        elif ctype == "text/rfc822-headers":
            ids += re.findall(r"^Message-ID:\s*(<[^>]+>)", str(part.get_payload()), re.I | re.M)
    return ids


def _text(address) -> str:
    return (address.decode("utf-8", "replace") if isinstance(address, bytes) else str(address)).lower()
