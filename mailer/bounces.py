"""Reports from mail systems about mail we sent: is this one, what kind, and whom it is about.

Kinds, and what each does (actions.mail.record_bounce); none opens a ticket or is answered:
- failure: a delivery failure (RFC 3464 "Action: failed", a notice in one of the formats of
  flufl.bounce or bounce_text.FORMATS). Each failed recipient is permanent (5.x.x) or temporary
  (4.x.x: a full mailbox, a timeout after the MTA gave up);
- delay: a warning that the MTA is still trying ("Action: delayed", "will keep trying"). Its
  recipients are temporary, never permanent: the mail may yet arrive;
- delivered: success ("Action: delivered", "relayed", "expanded", Status 2.x.x). Nobody is marked;
- receipt: a read receipt (MDN, RFC 8098). Nobody is marked; the ticket of the mail it answers
  gets an event;
- complaint: a recipient marked our mail as spam (ARF, RFC 5965; Microsoft JMRP; Amazon SES).
  The complainant is marked complained and gets no automatic mail;
- feedback: an ARF report that is nobody's complaint ("not-spam", "auth-failure"). Nobody is marked.
"""

from __future__ import annotations

import logging
import re

from . import bounce_text, reports
from .addresses import split_addresses
from .mime import DSN_TYPES
from .reports import DELAY, DELIVERED, FAILURE, Report

log = logging.getLogger(__name__)
# flufl.bounce logs every detector it runs, and a traceback (then re-raises) when one trips over
# malformed mail, about one fuzzed mail in five: its failure is reported below, once, by us.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

DAEMONS = re.compile(r"^(mailer-daemon|postmaster|post_master|mail-daemon|mailerdaemon|mdaemon|mail-?delivery|"
                     r"microsoftexchange[0-9a-f]{0,40})\b", re.I)
# Who writes notices when the address says nothing: display names, list managers' addresses.
MACHINE_NAMES = re.compile(r"^(mail delivery (sub)?system|mail administrator|system administrator|mailer-daemon|"
                           r"postmaster|mail system|interscan|microsoft outlook|系统退信|系統退信)", re.I)
MACHINE_LOCAL = re.compile(r"(^no-?reply|-(admin|owner|request|bounces?))$", re.I)
SUBJECTS = re.compile(
    r"(undeliver|undelivered|delivery (status notification|failure|has failed|problem)|"
    r"failure notice|returned mail|mail delivery (failed|system|failure)|could not be delivered|"
    r"nondeliverable|non-delivery|delivery notification|message not delivered|"
    r"warning: message .* delayed|rejected:|退信|投递失败|未能送达|系统退信|"
    r"\[bounce\]|mail system error|could not send message|error sending your mail|delayed mail|delivery delayed|"
    r"fml system error|unzustellbar|non remis|onbestelbaar|no se puede entregar|non recapitabile|"
    r"não é possível entregar|olevererbar|kan ikke leveres|nie można dostarczyć|недостав|не доставлено|"
    r"配信不能|配信できません|配送不能|无法送达|無法傳遞|傳送失敗)", re.I)
# A person forwarding a notice, or answering about one: a ticket, not a bounce.
FORWARDED = re.compile(r"^\s*(fwd?|fw|tr|wg|aw|re|rv|sv|vs|antw|转发|回复|答复|轉寄|回覆)\s*[:：]", re.I)
STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")
FIELD = re.compile(r"^([\w-]{1,80}):[ \t]*([^\n]*)", re.M)
ADDRESS = re.compile(r"[^\s<>;,\"()\[\]:]{1,64}@[^\s<>;,\"()\[\]:]{1,255}")
MSGID = re.compile(r"<[^<>\s]{1,250}>")
INLINE_TO = re.compile(r"^To:[ \t]*([^\n]{1,1000})", re.M)
INLINE_ID = re.compile(r"^Message-ID:[ \t]*(<[^<>\s]{1,250}>)", re.M | re.I)
SUCCESS_ACTIONS = ("delivered", "relayed", "expanded")
RANK = {"delivered": 0, "delayed": 1, "temporary": 2, "permanent": 3}  # what one recipient's blocks add up to


Bounce = Report  # what the pipeline holds as ctx.bounce: any report, a bounce or not


def detect(mail, null_sender: bool = False) -> Bounce | None:
    """What a mail system reports about mail we sent (see the kinds above), or None for any
    other mail. `null_sender`: its envelope sender was <> (RFC 5321 §4.5.5: every notice's).
    Never raises: on mail it cannot read it says what it could find, or None."""
    if mail.headers is None:
        return None
    try:
        return _detect(mail, null_sender)
    except Exception:  # our own error, on mail the parser let through: visible, not fatal
        log.error("%s bounce detection failed", mail.message_id, exc_info=True)
        return None


def _detect(mail, null_sender: bool) -> Bounce | None:
    report = reports.read(mail)
    if report is not None:
        return report
    mail_system = null_sender or _is_mail_system(mail)
    if not mail_system and FORWARDED.match(mail.subject):
        return None  # a person (or a program) forwarding a notice, or answering about one
    machine = mail_system or _is_machine(mail)
    reason = _why(mail)
    if not reason and not machine:
        # A person's mail, whatever it attaches or pastes ("Undeliverable mail to our customers
        # since yesterday" with a bounce attached as evidence): a ticket. Notices come from mail
        # systems and programs (the null sender, a daemon, a list manager, a no-reply address).
        return None
    could_be = bool(reason) or _could_be_report(mail)
    if not could_be and not machine:
        return None  # ordinary mail skips the notice reader and flufl.bounce's 17 detectors (~2 ms)
    ids = list(dict.fromkeys(_original_ids(mail) + mail.in_reply_to + mail.references))
    verdicts = _dsn_verdicts(mail.headers)
    if any(v != "delivered" for v in verdicts.values()):
        return _from_dsn(reason or "RFC 3464 delivery status notification", verdicts, ids)
    if verdicts and reason:  # every recipient reached: a success report
        return Bounce(f"{reason}: delivered", original_message_ids=ids, kind=DELIVERED, reached=list(verdicts))
    notice = bounce_text.read(mail.text, mail.subject)
    if not reason and machine and notice.format:
        reason = f"{notice.format} non-delivery notice"
    if not reason and not could_be:
        return None  # an automatic reply, say: from a robot, but no notice
    return _from_notice(mail, reason, notice, ids)


def _from_notice(mail, reason: str, notice: bounce_text.Notice, ids: list[str]) -> Bounce | None:
    """A notice without a DSN: the failed recipients flufl.bounce finds, with the notice's word
    on each where it has one; else the ones the notice names; else X-Failed-Recipients (Exim);
    else the recipients of the returned message. A warning makes them all temporary."""
    temporary, permanent = _flufl(mail)
    if not reason and not (temporary or permanent):
        return None
    ours = _ours(mail)
    found = {a: True for a in permanent} | {a: False for a in temporary - permanent}
    if found:
        found = {a: hard if (said := notice.is_permanent(a)) is None else said for a, hard in found.items()}
    else:
        found = {a: bool(notice.is_permanent(a)) for a in notice.recipients(ours)}
    if not found:
        failed = [a for _, a in split_addresses([mail.header("X-Failed-Recipients")]) if "@" in a]
        found = {a.lower(): True for a in failed or _returned_recipients(mail)}
    found = {a: hard and not notice.delay for a, hard in found.items() if a not in ours}
    return Bounce(reason or "failed recipients reported", sorted(a for a, hard in found.items() if hard),
                  sorted(a for a, hard in found.items() if not hard), original_message_ids=ids,
                  kind=DELAY if notice.delay else FAILURE)


def _from_dsn(reason: str, verdicts: dict[str, str], ids: list[str]) -> Bounce:
    """RFC 3464 is authoritative: "failed" is permanent unless its Status is 4.x.x (RFC 3463),
    "delayed" is temporary, success marks nobody."""
    failed = any(v in ("permanent", "temporary") for v in verdicts.values())
    return Bounce(reason, sorted(a for a, v in verdicts.items() if v == "permanent"),
                  sorted(a for a, v in verdicts.items() if v in ("temporary", "delayed")),
                  original_message_ids=ids, kind=FAILURE if failed else DELAY,
                  reached=sorted(a for a, v in verdicts.items() if v == "delivered"))


def _why(mail) -> str:
    msg = mail.headers
    if msg.get_content_type() == "multipart/report" and str(msg.get_param("report-type") or "").lower() in (
            "delivery-status", "global-delivery-status"):
        return "RFC 3464 delivery status notification"
    if mail.header("X-Failed-Recipients"):
        return "X-Failed-Recipients header"
    if _is_mail_system(mail) and SUBJECTS.search(mail.subject):
        return f"non-delivery notice from {mail.from_address or 'the null sender'}"
    return ""


def _is_mail_system(mail) -> bool:
    """Sent by a mail system itself: a daemon's address, the null sender, or no sender at all."""
    return bool(not mail.from_address or DAEMONS.match(mail.from_address.split("@")[0])
                or mail.header("Return-Path").strip() == "<>")


def _is_automatic(mail) -> bool:
    auto = mail.header("Auto-Submitted").strip().lower()
    return bool(auto and auto != "no")


def _is_machine(mail) -> bool:
    """Written by a program: a mail system, or a sender that says it is one (a daemon's display
    name, a no-reply or list-manager address, Auto-Submitted). Such a sender's notice is a bounce
    when it follows a known format (a subject alone is not enough: a shop's no-reply may say
    "could not be delivered" of a parcel)."""
    return bool(_is_mail_system(mail) or MACHINE_LOCAL.search(mail.from_address.split("@")[0])
                or MACHINE_NAMES.match(mail.from_name) or _is_automatic(mail) or mail.header("X-MLServer"))


def _could_be_report(mail) -> bool:
    """Mail from a mail system or about delivery: worth flufl.bounce's time."""
    sender = mail.from_address.split("@")[0]
    return bool(_is_mail_system(mail) or SUBJECTS.search(mail.subject)
                or re.match(r"(mail|smtp|mx|postoffice|mta)", sender, re.I)
                or mail.headers.get_content_type() == "multipart/report")


def _flufl(mail) -> tuple[set[str], set[str]]:
    from flufl.bounce import all_failures  # here: only notices get this far, and its import costs 16 ms

    try:
        temporary, permanent = all_failures(mail.headers)
    except Exception as exc:  # a detector tripped on malformed input; the notice reader still applies
        log.debug("%s flufl.bounce failed: %s: %s", mail.message_id, type(exc).__name__, exc)
        return set(), set()
    return {_text(a) for a in temporary}, {_text(a) for a in permanent}


def _dsn_verdicts(msg) -> dict[str, str]:
    """Each recipient of the delivery-status parts (RFC 3464 §2.3) and what happened to it:
    permanent, temporary (failed with a 4.x.x Status), delayed, or delivered."""
    verdicts: dict[str, str] = {}
    for part in reports.own_parts(msg):  # not those of a mail it returns, or a person attached
        if part.get_content_type() not in DSN_TYPES:
            continue
        for block in _blocks(part):
            verdict = _verdict(" ".join(block.get("action", [])).lower(), " ".join(block.get("status", [])))
            addresses = [a.lower() for name in ("original-recipient", "final-recipient", "x-actual-recipient")
                         for value in block.get(name, []) for a in ADDRESS.findall(value.partition(";")[2] or value)]
            for address in dict.fromkeys(addresses) if verdict else ():
                if RANK[verdict] >= RANK.get(verdicts.get(address, ""), -1):
                    verdicts[address] = verdict
    return verdicts


def _verdict(action: str, status: str) -> str:
    """One recipient's fate by its Action, else its Status class; "" when neither says."""
    found = STATUS.search(status)
    klass = found.group(1) if found else ""
    if action.startswith(SUCCESS_ACTIONS):
        return "delivered"
    if action.startswith("delayed"):
        return "delayed"
    if action.startswith(("fail", "error")):  # OpenSMTPD writes "error"
        return "temporary" if klass == "4" else "permanent"
    return {"5": "permanent", "4": "temporary", "2": "delivered"}.get(klass, "")


def _blocks(part) -> list[dict[str, list[str]]]:
    """The field blocks of a delivery-status part, names in lower case."""
    payload = reports.payload_of(part)
    blocks: list[dict[str, list[str]]] = []
    for item in payload if isinstance(payload, list) else [payload]:
        if isinstance(item, str):  # a part kept as text: blank-line separated blocks
            for text in re.split(r"\n[ \t]*\n", reports.utf8(item.replace("\r\n", "\n")[:64 * 1024])):
                block: dict[str, list[str]] = {}
                for name, value in FIELD.findall(text):
                    block.setdefault(name.lower(), []).append(value)
                blocks.append(block)
            continue
        block = {}
        for name, value in item.raw_items():  # as stored: a global DSN's UTF-8 escaped, not replaced
            block.setdefault(name.lower(), []).append(reports.utf8(value if isinstance(value, str) else str(value)))
        blocks.append(block)
        if isinstance(reports.payload_of(item), str) and reports.payload_of(item).strip():
            blocks += _blocks(item)  # the rest of a part read as one message (global DSNs)
    return blocks


def _ours(mail) -> set[str]:
    """Addresses a notice names that are not failed recipients: the bounce's own recipients (us),
    its sender, and the sender of the returned message."""
    returned = reports.returned_headers(mail.headers) or {}
    senders = [v for name in ("from", "sender", "reply-to", "return-path") for v in returned.get(name, [])]
    ours = {a for _, a in mail.to + mail.cc} | {mail.from_address}
    return ours | {a.lower() for _, a in split_addresses(senders) if a} if senders else ours


def _returned_recipients(mail) -> list[str]:
    """To and Cc of the returned message (an attached part, else the header lines in the text):
    whom the mail went to, when the notice does not say."""
    returned = reports.returned_headers(mail.headers)
    values = (returned.get("to", []) + returned.get("cc", [])) if returned else []
    if not values:
        values = INLINE_TO.findall(mail.text[:bounce_text.NOTICE_LIMIT])[:1]
    return [a.lower() for _, a in split_addresses(values) if "@" in a] if values else []


def _original_ids(mail) -> list[str]:
    """Message-IDs of the returned original (an attached message or headers, else the header
    lines of the text) and of a DSN's X-Original-Message-ID."""
    returned = reports.returned_headers(mail.headers) or {}
    ids = MSGID.findall(" ".join(returned.get("message-id", []))[:1000])
    for part in reports.own_parts(mail.headers):
        if part.get_content_type() in DSN_TYPES:
            ids += [found for block in _blocks(part) for value in block.get("x-original-message-id", [])
                    for found in MSGID.findall(value)]
    return ids or INLINE_ID.findall(mail.text[:bounce_text.NOTICE_LIMIT])[:1]


def _text(address) -> str:
    return (address.decode("utf-8", "replace") if isinstance(address, bytes) else str(address)).lower()
