"""Meeting mail (iCalendar, RFC 5545 / iTIP, RFC 5546) in words: what an agent reads as the text
of a mail whose only content is a calendar part.

Outlook's "Accepted: …" reply to an invitation, or an invitation sent to the support address,
often has no text at all (or a line the calendar part says better): its ticket would show an
empty message. These few lines say who answered what, or what is proposed when and where; the
calendar part stays attached as it came.
"""

from __future__ import annotations

import re

READ_LIMIT = 256 * 1024  # characters of the calendar read: the first event is at its top
TEXT_LIMIT = 4000  # characters of a description or comment kept
FOLDED = re.compile(r"\r?\n[ \t]")
PROPERTY = re.compile(r"([A-Za-z0-9-]++)((?:;[^:\r\n]*+)?+):([^\r\n]*+)")
PARAMETER = re.compile(r';([A-Za-z0-9-]++)=("[^"]*+"|[^;:]*+)')
ESCAPED = re.compile(r"\\([\\;,nN])")
STAMP = re.compile(r"(\d{4})(\d\d)(\d\d)(?:T(\d\d)(\d\d)(\d\d)?(Z?))?")

ANSWERS = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentatively accepted",
           "DELEGATED": "delegated", "NEEDS-ACTION": "has not yet answered"}
METHODS = {"REQUEST": "Meeting invitation", "CANCEL": "Meeting cancelled", "COUNTER": "New time proposed",
           "PUBLISH": "Calendar event", "ADD": "Meeting invitation", "REFRESH": "Meeting update requested"}


# The answer word Outlook puts before a reply's title ("Accepted: Review", "接受: 评审").
ANSWER_PREFIX = re.compile(r"^\s*(?:accepted|declined|tentative(?:ly accepted)?|接受|已接受|拒绝|已拒绝|暂定|暫定|"
                           r"zugesagt|abgelehnt|mit vorbehalt|accepté|refusé|provisoire|aceptado|rechazado|"
                           r"provisional)\s*[:：]\s*", re.I)


def describe(calendar: str) -> str:
    """A few lines about the first event of the calendar, or "" when it has none."""
    lines = FOLDED.sub("", calendar[:READ_LIMIT]).splitlines()
    method, event, inside = "", {}, False
    for line in lines:
        found = PROPERTY.fullmatch(line.strip())
        if found is None:
            continue
        name, params, value = found.group(1).upper(), found.group(2), found.group(3)
        if name == "METHOD" and not inside:
            method = value.strip().upper()
        elif name == "BEGIN" and value.strip().upper() == "VEVENT":
            inside = True
        elif name == "END" and value.strip().upper() == "VEVENT":
            break
        elif inside and name not in event:
            event[name] = (dict((k.upper(), v.strip('"')) for k, v in PARAMETER.findall(params)), value)
    if not event:
        return ""
    summary = _text(event.get("SUMMARY")) or "(no title)"
    when = _when(event.get("DTSTART"))
    where = _text(event.get("LOCATION"))
    if method == "REPLY":
        summary = ANSWER_PREFIX.sub("", summary, count=1) or summary  # Outlook's "Accepted: " is said once, below
        params, value = event.get("ATTENDEE", ({}, ""))
        who = params.get("CN") or value.partition(":")[2] or value or "The attendee"
        answer = ANSWERS.get(params.get("PARTSTAT", "").upper(), "answered")
        said = [f'{who} {answer} "{summary}"' + (f" ({when})" if when else "") + "."]
        comment = _text(event.get("COMMENT"))
        return "\n\n".join(said + ([comment] if comment else []))
    head = f'{METHODS.get(method, "Calendar event")}: "{summary}"' + (f", {when}" if when else "") + (
        f", at {where}" if where else "") + "."
    description = _text(event.get("DESCRIPTION"))
    return "\n\n".join([head] + ([description] if description else []))


def _text(found) -> str:
    if not found:
        return ""
    value = ESCAPED.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), found[1])
    return value.strip()[:TEXT_LIMIT]


def _when(found) -> str:
    """DTSTART as people write it: "2026-12-05 10:00 UTC", "… Asia/Shanghai" (its TZID), or a date."""
    if not found:
        return ""
    params, value = found
    stamp = STAMP.match(value.strip())
    if stamp is None:
        return value.strip()[:100]
    year, month, day, hour, minute, _, utc = stamp.groups()
    if hour is None:
        return f"{year}-{month}-{day}"
    zone = " UTC" if utc else f" {params['TZID'][:100]}" if params.get("TZID") else ""
    return f"{year}-{month}-{day} {hour}:{minute}{zone}"
