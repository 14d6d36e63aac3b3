"""Failure notices written for people (no RFC 3464 part to read): which recipients failed, and
whether for good or for now. One table of the ways MTAs word their notices, read by one reader.

Each entry of FORMATS names an MTA or provider and the phrases that open the part of its notice
naming the failed recipients, from the notice templates the software ships (or, for providers,
the notices they are known to send). The reader finds the first opening phrase, cuts the notice
where the returned message starts (ENDS), takes the addresses in between that are not the
sender's or a mail system's, and reads each one's verdict from the words after it: an RFC 3463
status or SMTP reply code (4 transient, 5 permanent), else a reason that is transient by nature
(a full mailbox), else permanent; a notice that says the MTA is still trying (DELAYS) is a
warning, and all its recipients are temporary. Lower-case phrase search and bounded, possessive
patterns: time linear in the notice, which is read up to NOTICE_LIMIT characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice


@dataclass(frozen=True)
class Format:
    name: str
    opens: tuple[str, ...]  # lower-case phrases that start the part naming the failed recipients
    source: str


FORMATS = (
    Format("Exim", ("the following address(es) failed", "could not be delivered to one or more of its",
                    "has not yet been delivered to one or more of its",
                    "this message was created automatically by mail delivery software"),
           "Exim 4 bounce and delay-warning texts (exim's bounce_message_file / warn_message_file defaults)"),
    Format("Sendmail", ("the following addresses had permanent fatal errors",
                        "the following addresses had transient non-fatal errors",
                        "the original message was received at", "----- transcript of session follows -----"),
           "sendmail 8 return-to-sender (savemail.c) and warning messages"),
    Format("Postfix", ("this is the mail system at host", "this is the postfix program at host",
                       "i'm sorry to have to inform you that", "(in reply to rcpt to command)",
                       "(in reply to end of data command)", "(in reply to mail from command)"),
           "Postfix bounce(5) templates; the \"(in reply to … command)\" lines stay English when an "
           "administrator localises the template"),
    Format("Apache James", ("this is the james mail server", "failed recipient(s):", "error message below:"),
           "Apache James Bounce and DSNBounce mailets"),
    Format("qmail", ("this is the qmail-send program", "i'm afraid i wasn't able to deliver your message",
                     "hi. this is the", "this is the mta program at"),
           "qmail-send's QSBMF (cr.yp.to/proto/qsbmf.txt), vpopmail, netqmail and qmail-like MTAs"),
    Format("Gmail", ("delivery to the following recipient failed", "delivery to the following recipients failed",
                     "your message wasn't delivered to", "** address not found **",
                     "delivery to the following recipient has been delayed", "message not delivered yet",
                     "we're having trouble delivering your message"),
           "Gmail's \"Delivery Status Notification (Failure|Delay)\" texts, old and current"),
    Format("Exchange / Office 365", ("delivery has failed to these recipients or groups", "couldn't be delivered",
                                     "the following recipient(s) cannot be reached",
                                     "your message did not reach some or all of the intended recipients",
                                     "delivery is delayed to these recipients or groups",
                                     "konnte nicht zugestellt werden", "n'a pas pu être remis",
                                     "no se pudo entregar", "non è stato possibile recapitare",
                                     "não foi possível entregar", "kon niet worden bezorgd"),
           "Exchange 2003-2019 and Office 365 NDR texts, English and localised"),
    Format("Amazon SES", ("was undeliverable.", "an error occurred while trying to deliver the mail to the"),
           "Amazon SES bounce messages (amazonses.com)"),
    Format("InterScan MSS", ("message from interscan", "interscan messaging security suite",
                             "unable to deliver message to"),
           "Trend Micro InterScan Messaging Security Suite"),
    Format("KDDI", ("could not be delivered to: <", "your mail sent on:", "the user(s) account is disabled"),
           "KDDI au.com and EZweb (ezweb.ne.jp) returned-mail notices"),
    Format("Verizon", ("message could not be delivered to mobile", "no valid recipients for this mm",
                       "this message was undeliverable due to the following reason",
                       "destination addresses were unknown"),
           "Verizon Wireless (vtext.com, vzwpix.com) and verizon.net notices"),
    Format("fml", ("you are not a member of this mailing list", "fml system error message",
                   "your message was rejected"),
           "fml mailing-list manager (X-MLServer: fml) rejections"),
    Format("X6", ("was unable to deliver the message to the following recipient",
                  "there was an error sending your mail"),
           "an MTA that writes \"There was an error sending your mail\" (sisimai calls it X6)"),
    Format("Chinese providers", ("很抱歉您发送的邮件被退回", "无法发送到", "退信原因", "邮件无法送达",
                                 "投递失败", "系统退信"),
           "QQ Mail, Tencent Exmail, NetEase 163/126 returned-mail notices"),
)

# Where the notice ends and the returned message (or its headers) begins.
ENDS = ("------ this is a copy of the message", "below this line is a copy of the message",
        "original message follows", "----- original message -----", "------ original message ------",
        "original message headers", "original mail as follows", "original message:",
        "the attachment contains the original mail headers", "end of message", "原邮件内容", "原始邮件",
        "unten folgt eine kopie der nachricht", "--- the header of the original message",
        "copy of the original message", "message headers follow", "returned mail follows")
END_LINE = re.compile(r"^(?:return-path|received|dkim-signature|message-id):", re.M)

# Words of a warning, not of a failure: the MTA is still trying (RFC 3464 "Action: delayed").
DELAYS = ("this is a warning only", "this is a warning message only", "you do not need to resend",
          "will keep trying", "will be retried", "delivery attempts will continue", "has not yet been delivered",
          "message not delivered yet", "delivery is delayed", "has been delayed", "still being retried",
          "will continue to be attempted", "hasn't been delivered yet", "we'll retry", "we will retry",
          "no action is required on your part", "you do not need to re-send", "temporary failure report",
          "message is delayed", "zustellung verzögert", "remise différée", "延迟投递", "正在重试")
DELAY_SUBJECT = re.compile(r"delayed mail|\(delay\)|delivery delayed|delivery is delayed|warning: message \S+ delayed|"
                           r"could not send message for past|delivery status notification \(delay\)|"
                           r"delivery status notification: warning|delivery warning", re.I)
# Reasons that pass by themselves, when no status code says otherwise.
TEMPORARY_REASONS = ("mailbox is full", "mailbox full", "over quota", "quota exceeded", "try again later",
                     "temporarily", "greylist", "邮箱已满", "空间已满", "暂时")

# A label before an address on its line that makes it the sender's, a mail system's or an id.
NOT_RECIPIENT_LABELS = ("from:", "sender", "reply-to", "return-path", "mail from", "message-id",
                        "in-reply-to", "references", "reporting-mta", "received-from-mta", "absender", "发件人",
                        "寄件者", "expéditeur", "remitente", "mittente")
NOT_RECIPIENT_LOCAL = re.compile(r"(?:postmaster|mailer-daemon|mail-daemon|mailerdaemon|mdaemon|abuse|hostmaster|"
                                 r"no-?reply|[^@]*-(?:ctl|admin|request|owner|bounces?))@", re.I)

ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}+@[A-Za-z0-9-]{1,63}+(?:\.[A-Za-z0-9-]{1,63}+)++")
# RFC 3463 enhanced status code, else an SMTP reply code (RFC 5321 §4.2); not part of an address or an IP.
STATUS_CODE = re.compile(r"(?<![\w.])([245])\.\d{1,3}\.\d{1,3}(?![\w.])")
REPLY_CODE = re.compile(r"(?<![\w.#-])([45])\d\d(?=[ -])")

NOTICE_LIMIT = 64 * 1024  # characters of a notice read; the returned message may follow
PARAGRAPH_LIMIT = 800  # characters after an address read for its status
MAX_MATCHES = 1000  # addresses read in one notice


@dataclass
class Notice:
    format: str  # the FORMATS name, or "" when no opening phrase was found
    text: str  # lower-case, from the opening line to where the returned message starts
    delay: bool
    words: dict[str, list[tuple[int, int]]]  # address -> (where it is named, where the words about it end)

    def recipients(self, ours: set[str]) -> list[str]:
        """The failed recipients the notice names, in order: not `ours` (the bounce's own
        recipients and the returned message's sender), no mail system, no sender or id."""
        return [a for a, spans in self.words.items() if a not in ours and not NOT_RECIPIENT_LOCAL.match(a)
                and not all(_labelled(self.text, start) for start, _ in spans)]

    def is_permanent(self, address: str) -> bool | None:
        """The notice's verdict on `address`, or None when it does not name it."""
        spans = self.words.get(address)
        if not spans:
            return None
        if self.delay:
            return False
        codes = {_code(self.text, start, end) for start, end in spans}
        if codes & {"4", "5"}:
            return "5" in codes  # a permanent answer anywhere outranks a transient one
        return not any(reason in self.text[start:end] for start, end in spans for reason in TEMPORARY_REASONS)


def read(text: str, subject: str = "") -> Notice:
    """The notice in `text` (a mail's decoded body text)."""
    lowered = text[:NOTICE_LIMIT].lower()
    found, start = "", len(lowered)
    for entry in FORMATS:
        for phrase in entry.opens:
            at = lowered.find(phrase, 0, start)
            if 0 <= at < start:
                found, start = entry.name, at
    start = lowered.rfind("\n", 0, start) + 1 if found else 0
    end = min([len(lowered)] + [at for at in (lowered.find(phrase, start) for phrase in ENDS) if at >= 0])
    line = END_LINE.search(lowered, start, end)
    notice = lowered[start:line.start() if line else end]
    matches = [(m.group().strip("."), m.start(), m.end()) for m in islice(ADDRESS.finditer(notice), MAX_MATCHES)]
    # The words about an address run from its end to the next other address (or PARAGRAPH_LIMIT):
    # the next other one is found walking backwards, so the whole is linear.
    spans, next_other = [], len(notice)
    for index in range(len(matches) - 1, -1, -1):
        address, at, after = matches[index]
        if index + 1 < len(matches) and matches[index + 1][0] != address:
            next_other = matches[index + 1][1]
        spans.append((address, at, min(next_other, after + PARAGRAPH_LIMIT)))
    words: dict[str, list[tuple[int, int]]] = {}
    for address, at, until in reversed(spans):
        words.setdefault(address, []).append((at, until))
    delay = any(phrase in notice for phrase in DELAYS) or bool(DELAY_SUBJECT.search(subject))
    return Notice(found, notice, delay, words)


def _labelled(text: str, start: int) -> bool:
    """Is the address at `start` the sender's, a mail system's or an id (by the label before it)?"""
    floor = max(0, start - 200)  # a label is near its address: a long line is not read back to its start
    newline = text.rfind("\n", floor, start)
    line = text[newline + 1 if newline >= 0 else floor:start]
    return any(label in line for label in NOT_RECIPIENT_LABELS)


def _code(text: str, start: int, end: int) -> str:
    """The class digit of the first status code in text[start:end] ("" when there is none)."""
    found = STATUS_CODE.search(text, start, end) or REPLY_CODE.search(text, start, end)
    return found.group(1) if found else ""
