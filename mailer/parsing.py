"""Turn raw RFC 5322 bytes into a ParsedMail: decoded headers, body text, HTML and attachments.

Any bytes give a ParsedMail, in time and memory linear in their length. A part that cannot be read
is degraded (guessed, kept as raw bytes, or cut at a bound) and the reason is listed in
`ParsedMail.problems`; it never costs the rest of the mail. The MIME structure comes from
`mime.Reader`; what the stdlib still parses here (addresses, dates) gets bounded input.
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message as RawMessage
from email.utils import parsedate_to_datetime
from html import unescape as html_unescape

from . import charsets, flowed, htmltext, invitations, smime, tnef
from .addresses import BIDI_CONTROLS, CONTROLS, FOLD, MAX_ADDRESS, MAX_ADDRESSES, addresses, first_address, one_line
from .charsets import decode_words
from .mime import (
    BOM,
    CONTENT_TYPE,
    FIELD,
    FIELD_LIMIT,
    FIELD_OR_LINE,
    HEADER_LINES,
    MAX_PARTS,
    Leaf,
    Problems,
    Reader,
    all_values,
    decoded,
    first,
    params,
)

log = logging.getLogger(__name__)

# Column sizes the values must fit (PostgreSQL enforces them; SQLite does not): a Message-ID of
# RFC 5322's 998-character line (an address: addresses.MAX_ADDRESS).
MAX_ID = 250
MSGID_RE = re.compile(r"<[^<>\s]+>")
MSGID_BYTES = re.compile(rb"<[^<>\s]+>")
MESSAGE_ID_LINE = re.compile(rb"\nmessage-id:", re.I)
# The fields the writer's program wrote, which no relay adds or changes: what tells one mail from
# another. Everything else in a header may differ between two deliveries of the same mail (trace
# fields, a virus scanner's or a spam filter's stamp, Exchange's and Gmail's own fields).
WRITERS_FIELDS = frozenset({b"from", b"sender", b"reply-to", b"to", b"cc", b"subject", b"date", b"message-id",
                           b"in-reply-to", b"references", b"mime-version", b"content-type",
                           b"content-transfer-encoding"})
HEADER_FIELD = re.compile(rb"^([^:\s]++)[ \t]*+:([^\n]*+\n?(?:[ \t][^\n]*+\n?)*+)", re.M)

SUBJECT_LIMIT = 16 * 1024
HTML_LIMIT = 2 * 1024 * 1024  # characters of HTML made into text and sanitised (≤ ~3 s)
HASH_CHUNK = 1024 * 1024
DEGRADED_NOTE = ("This message could not be read, so its text is not shown here. "
                 "The original is attached as original.eml.")
DEGRADED_HEAD = 64 * 1024
DEGRADED_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]++):[ \t]*+([^\r\n]*+)", re.M)
DEGRADED_ADDRESS = re.compile(r'[^\s<>()\[\]",;:@]++(?:@[^\s<>()\[\]",;:@]++)?+')
# A saved file may start with its SMTP envelope (MAIL FROM:<…> / RCPT TO:<…>, as some tools store
# it), after an mbox "From " line or not: no header fields, skipped. A file with only the mbox
# line keeps it (the reader skips it) and so the key it always had.
ENVELOPE = re.compile(rb"(?:From [^\n]*+\n)?(?:(?i:MAIL[ \t]++FROM|RCPT[ \t]++TO)[ \t]*+:[^\n]*+\n)++")


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
    problems: list[str] = field(default_factory=list)  # what was degraded and why, for a human
    charsets: tuple[str, ...] = ()  # the body parts' charset labels, lower-case: a hint of the writer's language
    _firsts: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def header(self, name: str) -> str:
        """A header's decoded value ("" when absent). The steps ask for a dozen: the fields are
        read into a map once."""
        if self._firsts is None:
            self._firsts = {}
            for key, value in self.headers.raw_items() if self.headers is not None else ():
                self._firsts.setdefault(key.lower(), value if isinstance(value, str) else str(value))
        value = self._firsts.get(name.lower())
        return decode_words(value) if value is not None else ""




def parse(raw: bytes) -> ParsedMail:
    raw = raw if isinstance(raw, bytes) else bytes(raw)
    try:
        return _parse(line_ends_read(raw))
    except Exception as exc:  # a bug of ours, not the mail's fault: logged, and still a ParsedMail
        mail = parse_degraded(raw, f"unreadable: {type(exc).__name__}: {exc}")
        log.error("%s could not be parsed", mail.message_id, exc_info=True)
        return mail


def _parse(raw: bytes, opened: int = 0) -> ParsedMail:
    problems = Problems()
    msg, leaves = Reader(raw, problems).read(head_start(raw))
    message_id, generated = _message_id(raw)
    signed = _signed_entity(raw, msg, leaves) if opened < MAX_OPENED else None
    if signed is not None:  # read as the mail its writer signed; its key stays the one of the mail as sent
        mail = _parse(line_ends_read(signed), opened + 1)
        mail.message_id, mail.message_id_generated = message_id, generated
        return mail
    # Raw 8-bit bytes in header fields and file names: most likely in the charset the body declares.
    with charsets.hinted(_declared_charsets(leaves)):
        text, html, reply_basis, attachments, labels = _body(raw, leaves, problems)
        attachments, text, html, reply_basis = _unpacked(attachments, text, html, reply_basis, problems)
        sealed = _encrypted(raw, leaves, text)
        if sealed:
            problems.add(f"the mail is encrypted ({sealed}): its text cannot be read here (the encrypted data is kept)")
        elif not text.strip() and any(not a.inline for a in attachments):
            kinds = ", ".join(dict.fromkeys(f"{a.filename} ({a.content_type})" for a in attachments if not a.inline))
            problems.add(f"no text: what it says is in its attachments only, {kinds[:300]}")
        sender = _guarded(problems, "From", lambda: first_address(all_values(msg, "From")), None)
        from_name, from_address = sender or ("", "")
        return ParsedMail(
            message_id=message_id,
            message_id_generated=generated,
            from_name=from_name,
            from_address=from_address,
            to=_guarded(problems, "To", lambda: addresses(all_values(msg, "To")), []),
            cc=_guarded(problems, "Cc", lambda: addresses(all_values(msg, "Cc")), []),
            reply_to=_guarded(problems, "Reply-To", lambda: addresses(all_values(msg, "Reply-To")), []),
            subject=_subject(first(msg, "Subject"), problems),
            date=read_date(first(msg, "Date")),
            in_reply_to=_message_ids(all_values(msg, "In-Reply-To")[:1]),
            references=_message_ids(all_values(msg, "References")),
            text=text,
            html=html,
            reply_basis=reply_basis,
            attachments=attachments,
            headers=msg,
            problems=list(problems),
            charsets=labels,
        )


MAX_OPENED = 2  # signed, then signed again (a gateway signing what a client signed)


MAX_TYPE = 255  # characters of a content type (the column's size)


def _unpacked(attachments: list[Attachment], text: str, html: str, reply_basis: str,
              problems: Problems) -> tuple[list[Attachment], str, str, str]:
    """Outlook's winmail.dat (`tnef`) in place of what it holds: its files (a signature's logo
    inline, as in MIME), and its text when the mail has none of its own. One that cannot be read,
    or holds what is not unpacked here (an attached Outlook item, a text in RTF only), or more
    files than a mail may have, is kept as it came, said in the problems."""
    unpacked, room = [], MAX_PARTS
    for attachment in attachments:
        if attachment.content_type not in tnef.TYPES and attachment.filename.lower() != "winmail.dat":
            unpacked.append(attachment)
            continue
        contents = tnef.read(attachment.data)
        if contents is None or len(contents.files) > room:
            why = "could not be read" if contents is None else f"holds more than the {MAX_PARTS} files a mail may have"
            problems.add(f"{attachment.filename}: Outlook's TNEF that {why}, kept as it came")
            unpacked.append(attachment)
            continue
        room -= len(contents.files)
        had_text = bool(text.strip())  # its own, before this one: Outlook's RTF says the same again
        for number, found in enumerate(contents.files, 1):
            ctype = found.content_type if len(found.content_type) <= MAX_TYPE and \
                CONTENT_TYPE.fullmatch(found.content_type) else "application/octet-stream"
            unpacked.append(Attachment(safe_filename(found.name) or _default_name(ctype, number), ctype, found.data,
                                       content_id=found.content_id[:MAX_ID],
                                       inline=found.hidden or bool(found.content_id)))
        if not had_text:
            if contents.text.strip():
                text = reply_basis = contents.text.replace("\r\n", "\n").strip("\n")
            elif contents.html.strip():
                text, reply_basis, html = _rendered(contents.html[:HTML_LIMIT], problems)
                text = text.strip("\n")
        left = [f"{contents.left} attached Outlook items or files without their bytes"] if contents.left else []
        left += ["its text, in Outlook's compressed RTF only"] if contents.rtf_only and not had_text else []
        if not (contents.files or contents.text.strip() or contents.html.strip() or contents.rtf_only or left):
            left = ["nothing this reader knows"]
        if left:
            problems.add(f"{attachment.filename}: Outlook's TNEF, of which {' and '.join(left)} are not unpacked "
                         f"here: kept as it came")
            unpacked.append(attachment)
    return unpacked, text, html, reply_basis


def _signed_entity(raw: bytes, msg: RawMessage, leaves: list[Leaf]) -> bytes | None:
    """An opaque-signed S/MIME mail (`smime`) as the mail it carries: its header without the
    fields that describe the signature part (Content-*, MIME-Version), then the signed entity.
    None for any other mail: one whose signature part cannot be opened, or a signed document
    (Italy's e-invoices, CAdES contracts: `fattura.xml.p7m`), which stay attachments. The
    signature is not checked, as it is not for a clear-signed mail."""
    if len(leaves) != 1 or leaves[0].msg is not msg or leaves[0].whole:
        return None
    leaf = leaves[0]
    given = params(first(msg, "Content-Type") or "")
    name = (given.get("name") or params(first(msg, "Content-Disposition") or "").get("filename") or "").lower()
    kind = given.get("smime-type", "").lower()
    if leaf.content_type in smime.SMIME_TYPES:
        if kind != "signed-data" and (kind or name not in ("", "smime.p7m")):
            return None
    elif leaf.content_type != "application/octet-stream" or name != "smime.p7m":
        return None  # (RFC 8551 §3.2.2: old clients send it as octet-stream, named smime.p7m)
    content = smime.signed_content(decoded(memoryview(raw)[leaf.body:leaf.end], msg))
    entity = _mime_entity(content) if content is not None else None
    if entity is None:
        return None
    start = head_start(raw)
    head = FIELD_OR_LINE.finditer(raw, start, HEADER_LINES.match(raw, start).end())
    kept = [line.group(0) for line in head if line.group(0) and not _describes_the_body(line.group(1))]
    if kept and not kept[-1].endswith(b"\n"):
        kept[-1] += b"\r\n"
    return b"".join(kept) + entity


def _mime_entity(content: bytes) -> bytes | None:
    """The signed content as a MIME entity: as it is when it starts with a header that describes
    it (a signing client writes at least its Content-Type); text without one (plain text is the
    default entity, and "Status: unlocked" is its first line, not a field) after a blank line;
    a whole mail wrapped in message/rfc822 (RFC 8551 §3.1) as its own Content-* fields and body.
    None for bytes that are no text (a binary file signed as it is)."""
    head_end = HEADER_LINES.match(content).end()
    fields = [(line.group(1).lower(), line.group(2)) for line in FIELD_OR_LINE.finditer(content, 0, head_end)
              if line.group(1)]
    if not any(_describes_the_body(name) for name, _ in fields):
        return None if b"\0" in content[:8192] else b"\r\n" + content
    ctype = next((value for name, value in fields if name == b"content-type"), b"")
    if ctype.split(b";")[0].strip().lower() != b"message/rfc822":
        return content
    inner = content[head_end:].lstrip(b"\r\n")  # the wrapped mail: its own header, then its body
    inner_end = HEADER_LINES.match(inner).end()
    described = [line.group(0) for line in FIELD_OR_LINE.finditer(inner, 0, inner_end)
                 if line.group(0) and _describes_the_body(line.group(1))]
    return b"".join(described) + inner[inner_end:]


def _describes_the_body(name: bytes | None) -> bool:
    return name is not None and (name.lower().startswith(b"content-") or name.lower() == b"mime-version")


def _declared_charsets(leaves: list[Leaf]) -> tuple[str, ...]:
    return tuple(params(first(leaf.msg, "Content-Type") or "").get("charset", "")[:40] for leaf in leaves
                 if leaf.content_type in ("text/plain", "text/html") and not leaf.whole)


def parse_degraded(raw: bytes, reason: str) -> ParsedMail:
    """A ParsedMail for a mail parse() could not read (it failed or ran out of time): From,
    To, Cc, Subject, Date and the ids read with regular expressions from the first 64 KB, a
    note as its text, the whole mail attached as original.eml, and `reason` as its problem.
    Bounded work; never raises."""
    raw = bytes(raw)
    reason = " ".join(str(reason).split())[:500]
    try:
        return _degraded(raw, reason)
    except Exception:  # the fallback's fallback: nothing read but the bytes kept
        return ParsedMail(f"<{hashlib.sha256(raw).hexdigest()}@postdesk.invalid>", True, "", "", [], [], [],
                          "", None, [], [], DEGRADED_NOTE, "", DEGRADED_NOTE,
                          [Attachment("original.eml", "message/rfc822", raw)], None, [reason])


LINE_END_PROBE = 64 * 1024
CR_RUN_LF = re.compile(rb"\r\r++\n")
BARE_CR = re.compile(rb"\r(?!\n)")
HEADER_END = re.compile(rb"\n\r?\n")


def line_ends_read(raw: bytes) -> bytes:
    """The mail with its lines ending in CRLF where they ended in a bare CR (old Mac mail, some
    gateways) or in CR CR LF (a converter that added the CR twice): read as they come, such a
    mail's header is one line, so it has no subject and no text. Only the reading changes: the
    mail is stored as it came. It is told by the header's line ends (within its first 64 KB): a
    body's bytes (a binary part, a stray CR in a text) change nothing in a mail whose header
    ends its lines right. Most mail is returned as it is, after that look."""
    head = raw[:LINE_END_PROBE]
    blank = HEADER_END.search(head)
    head = head[:blank.end()] if blank else head
    if b"\r\r\n" in head:
        return BARE_CR.sub(b"\r\n", CR_RUN_LF.sub(b"\r\n", raw))
    return BARE_CR.sub(b"\r\n", raw) if BARE_CR.search(head) else raw


def head_start(raw: bytes) -> int:
    """Where the header of a stored mail starts: after a UTF-8 BOM and an SMTP envelope."""
    start = 3 if raw.startswith(BOM) else 0
    envelope = ENVELOPE.match(raw, start)
    return envelope.end() if envelope else start


def message_id_of(raw: bytes) -> str:
    """The idempotency key without a full parse, the same as parse(raw).message_id: the id in
    the first Message-ID field, or synthetic_message_id(raw). Linear time."""
    return _message_id(line_ends_read(raw))[0]


def _message_id(raw: bytes) -> tuple[str, bool]:
    start = head_start(raw)
    head_end = HEADER_LINES.match(raw, start).end()
    if raw[start:start + 11].lower() == b"message-id:":
        at = start
    else:  # a line starting so is a field: continuation lines start with white space
        found = MESSAGE_ID_LINE.search(raw, start, head_end)
        at = found.start() + 1 if found else -1
    if at >= 0:  # the first Message-ID field only, as msg.get() reads it
        value = FIELD.match(raw, at, head_end)
        ids = MSGID_BYTES.findall(raw, value.start(2), min(value.end(2), value.start(2) + FIELD_LIMIT))
        if ids:
            found = ids[0].decode("ascii", "replace")
            if len(found) > MAX_ID:  # kept as a fixed-size key: the column (and PostgreSQL) has a limit
                return f"<{hashlib.sha256(ids[0]).hexdigest()}.long@postdesk.invalid>", False
            return found, False
    return synthetic_message_id(raw), True


def synthetic_message_id(raw: bytes) -> str:
    """Idempotency key for mail without a Message-ID, and what tells two mails under one
    Message-ID apart: a hash of the mail as its writer sent it, its body and the fields its
    program wrote (`WRITERS_FIELDS`, unfolded), line endings read as LF. So the same mail
    delivered twice, by another route, through other filters (each adding fields of its own:
    Received, X-Virus-Scanned, X-Rspamd-Queue-Id, X-MS-Exchange-*…) or with other line endings
    gets the same key."""
    start = head_start(raw)
    head_end = HEADER_LINES.match(raw, start).end()
    digest = hashlib.sha256()
    for found in HEADER_FIELD.finditer(raw[start:head_end].replace(b"\r\n", b"\n")):
        if found.group(1).lower() in WRITERS_FIELDS:
            digest.update(found.group(1).lower() + b":" + b" ".join(found.group(2).split()) + b"\n")
    digest.update(b"\n")
    body = head_end + (2 if raw.startswith(b"\r\n", head_end) else 1 if raw.startswith(b"\n", head_end) else 0)
    end = len(raw)
    while end > body:  # trailing line breaks are the transport's, not the sender's
        tail = raw[max(body, end - 4096):end]
        kept = tail.rstrip(b"\r\n")
        end -= len(tail) - len(kept)
        if kept:
            break
    carry = b""
    for position in range(body, end, HASH_CHUNK):  # chunks: no LF copy of a 25 MB mail at once
        chunk = carry + raw[position:min(position + HASH_CHUNK, end)]
        carry = b"\r" if chunk.endswith(b"\r") else b""
        digest.update(chunk[:len(chunk) - len(carry)].replace(b"\r\n", b"\n"))
    digest.update(carry)
    return f"<{digest.hexdigest()}@postdesk.invalid>"


def _guarded(problems: Problems, what: str, read, default):
    """One field's reading, degraded to `default` when the stdlib fails on what the mail holds."""
    try:
        return read()
    except Exception as exc:  # RecursionError, ValueError…: a failure of this field only
        problems.add(f"{what}: unreadable ({type(exc).__name__}), left empty")
        return default


def _subject(value: str | None, problems: Problems) -> str:
    if value is None:
        return ""
    if len(value) > SUBJECT_LIMIT:
        problems.add(f"Subject of {len(value)} characters: only the first {SUBJECT_LIMIT} read")
    subject, unknown = charsets.decode_words_reporting(value, SUBJECT_LIMIT)
    if unknown:
        problems.add(f"Subject: undecodable charset {unknown!r}, guessed")
    return one_line(subject)


def _message_ids(values: list[str]) -> list[str]:
    """The <ids> in In-Reply-To or References, raw 8-bit bytes decoded (RFC 6532 allows UTF-8)."""
    return MSGID_RE.findall(charsets.header_text(" ".join(values)[:FIELD_LIMIT]))


# A zone written as an offset from GMT/UTC ("GMT+8", "UTC+05:30", as some Chinese and webmail
# clients write it), which RFC 5322 parsers read as UTC: made "+0800".
ZONE_OFFSET = re.compile(r"\b(?:GMT|UTC|UT)\s*([+-])(\d{1,2})(?::?(\d{2}))?(?!\d)", re.I)


def read_date(value) -> datetime | None:
    """A Date field in UTC: RFC 5322 ("Mon, 23 Nov 2026 10:00:00 +0800"), with its zone written
    as "GMT+8", or ISO 8601 ("2026-11-20 10:00:00", as scripts write it); None when unreadable.
    A date without a zone is taken as UTC."""
    if not value:
        return None
    text = ZONE_OFFSET.sub(lambda m: f"{m[1]}{int(m[2]):02d}{m[3] or '00'}", str(value)[:1000])
    try:
        parsed = parsedate_to_datetime(text)
    except Exception:  # TypeError, ValueError, IndexError, OverflowError: not RFC 5322
        try:
            parsed = datetime.fromisoformat(text.strip())
        except ValueError:
            return None
    try:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _body(raw: bytes, leaves: list[Leaf], problems: Problems) -> tuple[str, str, str, list[Attachment], tuple]:
    bodies, attachments, labels = [], [], []  # bodies: (the leaf, its type, its text), in order
    view = memoryview(raw)
    for leaf in leaves:
        try:
            _take(view, leaf, bodies, attachments, problems, labels)
        except Exception as exc:  # a part we cannot read is kept as it came
            problems.add(f"part {leaf.number}: unreadable ({type(exc).__name__}), kept as raw bytes")
            attachments.append(Attachment(f"part-{leaf.number}.eml", "application/octet-stream",
                                          bytes(view[leaf.start:leaf.end])))
    html = "\n".join(text for _, ctype, text in bodies if ctype == "text/html")
    if len(html) > HTML_LIMIT:
        problems.add(f"HTML body of {len(html)} characters: only the first {HTML_LIMIT} read")
        html = html[:HTML_LIMIT]
    html_text, html_reply, safe_html = _rendered(html, problems)
    labels = tuple(dict.fromkeys(labels))
    groups = _side_by_side(bodies)
    if len(groups) > 1 and len(html) < HTML_LIMIT:
        # Parts side by side (multipart/mixed): a text and an HTML error page, an HTML body and a
        # plain disclaimer. Each says something of its own: the text is all of them, in order.
        chosen = [_chosen("\n".join(plain), "\n".join(markup), problems) for plain, markup in groups]
        text = "\n".join(text for text, _ in chosen).replace("\r\n", "\n").strip("\n")
        return text, safe_html, "\n".join(basis for _, basis in chosen), attachments, labels
    plain = "\n".join(text for _, ctype, text in bodies if ctype == "text/plain").replace("\r\n", "\n").strip("\n")
    if not plain.strip() and not html_text.strip():  # a meeting reply or invitation says it in its calendar
        plain = next((text for a in attachments if a.content_type in CALENDAR_TYPES
                      and (text := invitations.describe(a.data.decode("utf-8", "replace")))), "")
    if _stands_for_html(plain, html_text):
        # HTML-only mail: its quotes are containers (gmail_quote, blockquote type=cite), not "> ".
        return html_text.strip("\n"), safe_html, html_reply, attachments, labels
    return plain, safe_html, plain, attachments, labels


def _rendered(html: str, problems: Problems) -> tuple[str, str, str]:
    """(text, text without quotes, sanitised HTML) of an HTML body."""
    return _guarded(problems, "HTML body", lambda: htmltext.render(html), None) or (
        (_tags_removed(html),) * 2 + ("",))


def _side_by_side(bodies: list) -> list[tuple[list[str], list[str]]]:
    """The body parts grouped as alternatives: those within one multipart/alternative are one
    body said twice (plain and HTML); any other part is a body of its own. (plain texts, HTML
    texts) per group, in order."""
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for leaf, ctype, text in bodies:
        key = f"alternative {leaf.alternative}" if leaf.alternative is not None else f"part {leaf.number}"
        groups.setdefault(key, ([], []))[ctype == "text/html"].append(text)
    return list(groups.values())


def _chosen(plain: str, html: str, problems: Problems) -> tuple[str, str]:
    """(text, reply basis) of one body: its plain text, or its HTML's when the plain one is a stand-in."""
    if not html:
        return plain, plain
    html_text, html_reply, _ = _rendered(html, problems)
    if _stands_for_html(plain, html_text):
        return html_text.strip("\n"), html_reply
    return plain, plain


CALENDAR_TYPES = ("text/calendar", "application/ics")
# An image written into the HTML as a data: address (a screenshot pasted in some webmail and
# phone clients). The sanitiser allows no data: address, so without this it would vanish.
DATA_IMAGE = re.compile(r"""(\bsrc[ \t\r\n]*+=[ \t\r\n]*+)(["'])data:(image/[a-z0-9.+-]{1,40});base64,"""
                        r"""([A-Za-z0-9+/=\s]++)\2""", re.I)
MAX_DATA_IMAGES = 100


def _data_images_attached(html: str, attachments: list) -> str:
    """The HTML with each data: image made an inline attachment, shown from there (cid:)."""
    found = 0

    def attach(match: re.Match) -> str:
        nonlocal found
        if found >= MAX_DATA_IMAGES:
            return match.group(0)
        try:
            data = binascii.a2b_base64(match.group(4).encode("ascii"))
        except (binascii.Error, ValueError):
            return match.group(0)
        found += 1
        ctype = match.group(3).lower()
        content_id = f"data-image-{found}.{hashlib.sha256(data).hexdigest()[:16]}@postdesk.invalid"
        attachments.append(Attachment(f"image-{found}.{ctype.partition('/')[2].partition('+')[0] or 'img'}",
                                      ctype, data, content_id=content_id, inline=True))
        return f"{match.group(1)}{match.group(2)}cid:{content_id}{match.group(2)}"

    return DATA_IMAGE.sub(attach, html) if "data:" in html else html


# The plain part is a stand-in when the HTML says this many times more: "This message requires an
# HTML capable mail client.", an empty alternative, a disclaimer part after an HTML body.
STAND_IN_RATIO = 4


STAND_IN_CHARS = 300  # a short plain part that is not the HTML's words is a stand-in too
WORD = re.compile(r"\w{3,}")


def _stands_for_html(plain: str, html_text: str) -> bool:
    """Is the HTML the mail's text: no plain part, a blank one, one far shorter than it, or a
    short one that says something else (most of its words are not the HTML's)?"""
    if not plain.strip():
        return True
    plain_length, html_length = len(" ".join(plain.split())), len(" ".join(html_text.split()))
    if plain_length * STAND_IN_RATIO < html_length:
        return True
    if plain_length > STAND_IN_CHARS or html_length <= plain_length:
        return False
    words = set(WORD.findall(plain.casefold()))
    return len(words & set(WORD.findall(html_text.casefold()))) * 2 < len(words)


ENCRYPTED_TYPES = {"application/pkcs7-mime": "S/MIME", "application/x-pkcs7-mime": "S/MIME",
                   "application/pgp-encrypted": "PGP/MIME"}


def _encrypted(raw: bytes, leaves: list[Leaf], text: str) -> str:
    """What the mail is encrypted with (S/MIME, PGP), or "": its body says nothing readable. An
    S/MIME part says so in its smime-type, or (old clients, and signed documents that name
    none) in the structure it holds."""
    for leaf in leaves:
        kind = ENCRYPTED_TYPES.get(leaf.content_type)
        if kind == "S/MIME":
            said = params(first(leaf.msg, "Content-Type") or "").get("smime-type", "").lower()
            if said in ("enveloped-data", "authenveloped-data") or not said and smime.is_encrypted(
                    decoded(memoryview(raw)[leaf.body:leaf.end], leaf.msg)):
                return kind
        elif kind:
            return kind
    return "PGP" if "-----BEGIN PGP MESSAGE-----" in text[:200_000] else ""


def _tags_removed(markup: str) -> str:
    return " ".join(html_unescape(re.sub(r"<[^<>]*+>", " ", markup)).split())


def _take(view: memoryview, leaf: Leaf, bodies: list, attachments: list, problems: Problems, labels: list) -> None:
    """Sort one leaf into the bodies (plain or HTML) or the attachments."""
    if leaf.whole:
        attachments.append(Attachment(f"part-{leaf.number}.eml", "application/octet-stream",
                                      bytes(view[leaf.start:leaf.end])))
        return
    msg, ctype = leaf.msg, leaf.content_type
    disposition = (first(msg, "Content-Disposition") or "").split(";")[0].strip().lower()
    filename = _filename(msg, leaf.number, problems)
    is_body = disposition != "attachment" and not filename and ctype in ("text/plain", "text/html", *ENRICHED)
    if ctype == "message/rfc822":  # an attached or returned mail is one attachment, as sent
        inner = msg.get_payload()
        subject = decode_words(first(inner[0], "Subject") or "", 1000) if inner else ""
        attachments.append(Attachment(
            filename or f"{' '.join(subject.split())[:100].replace('/', '_') or 'message'}.eml", ctype,
            bytes(view[leaf.body:leaf.end])))
        return
    if ctype.startswith("message/"):  # header blocks (RFC 3464, RFC 5965): kept as sent
        data = bytes(view[leaf.body:leaf.end])
    else:
        data = decoded(view[leaf.body:leaf.end], msg)
    if is_body:
        given = params(first(msg, "Content-Type") or "")
        label = given.get("charset") or (_meta_charset(data) if ctype == "text/html" else None)
        if not charsets.is_known(label):
            problems.add(f"part {leaf.number}: undecodable charset {label[:40]!r}, guessed")
        elif label:
            labels.append(label.lower()[:40])
        text = charsets.decode(data, label)
        if ctype in ENRICHED:  # old Apple Mail and Eudora: read as the plain text it formats
            text, ctype = _enriched_text(text), "text/plain"
        if ctype == "text/plain" and flowed.is_flowed(given):
            text = flowed.unflow(text, delsp=flowed.deletes_space(given))
        elif ctype == "text/html":
            text = _data_images_attached(text, attachments)
        bodies.append((leaf, ctype, text))
        return
    content_id = charsets.header_text((first(msg, "Content-ID") or "")[:1000]).strip().strip("<>")[:255]
    attachments.append(Attachment(
        filename=filename or _default_name(ctype, len(attachments) + 1),
        content_type=ctype[:255],
        data=data,
        content_id=content_id,
        inline=disposition == "inline" or (bool(content_id) and disposition != "attachment"),
    ))




META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset[ \t]*=[ \t]*["']?([A-Za-z0-9._:+-]{1,40})""", re.I)
META_SNIFF = 4096  # bytes of an HTML body looked at for its <meta> charset (HTML says 1024; mail is laxer)


def _meta_charset(data: bytes) -> str | None:
    """The charset an HTML body names in its <meta> (its MIME part named none)."""
    found = META_CHARSET.search(data, 0, META_SNIFF)
    return found.group(1).decode("ascii") if found else None


ENRICHED = ("text/enriched", "text/richtext")
ENRICHED_TAG = re.compile(r"</?[A-Za-z0-9-]{1,60}>")


def _enriched_text(text: str) -> str:
    """The plain text of text/enriched (RFC 1896): its commands and their parameters removed,
    "<<" an "<", and its line breaks as it means them (one is a space, n are n - 1)."""
    text = ENRICHED_TAG.sub("", _without_params(text.replace("\r\n", "\n"))).replace("<<", "<")
    return re.sub(r"\n+", lambda m: " " if len(m.group()) == 1 else "\n" * (len(m.group()) - 1), text).strip()


def _without_params(text: str) -> str:
    """text/enriched without its <param>…</param> runs; an unclosed one keeps the rest. Linear:
    each is looked for once, from where the last one ended."""
    out, position, lowered = [], 0, text.lower()
    while (start := lowered.find("<param>", position)) >= 0:
        end = lowered.find("</param>", start)
        if end < 0:
            break
        out.append(text[position:start])
        position = end + len("</param>")
    out.append(text[position:])
    return "".join(out)


def _filename(msg: RawMessage, number: str, problems: Problems) -> str:
    """The part's file name: Content-Disposition filename, else Content-Type name, decoded
    (RFC 2231, RFC 2047, or raw UTF-8/GBK bytes) and made safe to show and to save."""
    for header, key in (("Content-Disposition", "filename"), ("Content-Type", "name")):
        name, unknown = charsets.decode_param(params(first(msg, header) or ""), key)
        if unknown:
            problems.add(f"part {number}: undecodable charset {unknown[:40]!r} in the file name, guessed")
        name = FOLD.sub("", name)
        safe = safe_filename(name)
        if safe != name.strip():
            problems.add(f"part {number}: file name {safe!r} cleaned (control characters, path or leading dots)")
        if safe:
            return safe
    return ""


def safe_filename(name: str) -> str:
    """A file name that shows what it is and saves where it should: no bidi controls (which turn
    "invoice\u202efdp.exe" into "invoiceexe.pdf" on screen), no other control characters, no
    path separators, no leading dots; at most 255 characters, keeping the extension."""
    name = CONTROLS.sub("", BIDI_CONTROLS.sub("", name.replace("\t", " "))).replace("/", "_").replace("\\", "_")
    name = name.strip().lstrip(".").strip()
    if len(name) > 255:
        stem, dot, extension = name.rpartition(".")
        name = stem[:254 - len(extension)] + dot + extension if dot and len(extension) <= 16 else name[:255]
    return name


def _default_name(ctype: str, index: int) -> str:
    extension = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "text/plain": "txt",
                 "application/pdf": "pdf", "text/calendar": "ics"}.get(ctype, "bin")
    return f"attachment-{index}.{extension}"


def _degraded(original: bytes, reason: str) -> ParsedMail:
    raw = line_ends_read(original)
    head = raw[head_start(raw):DEGRADED_HEAD]
    blank = re.search(rb"\n\r?\n", head)
    head = re.sub(rb"\r?\n[ \t]++", b" ", head[:blank.start()] if blank else head)  # unfolded
    msg, fields = RawMessage(), {}
    for found in DEGRADED_FIELD.finditer(head):
        name, value = found.group(1).decode("ascii"), found.group(2).decode("ascii", "surrogateescape")
        fields.setdefault(name.lower(), []).append(value)
        if not name.lower().startswith("content-"):  # the body is not read: its MIME type is moot
            msg.set_raw(name, value)
    msg.set_payload(DEGRADED_NOTE)

    def text(name: str) -> str:
        value = fields.get(name, [""])[0]
        try:
            return " ".join(decode_words(value).split())
        except Exception:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

    def mailboxes(name: str) -> list[tuple[str, str]]:
        found = DEGRADED_ADDRESS.findall(" ".join(fields.get(name, [])))
        return [("", address.lower()) for address in found
                if "@" in address and len(address) <= MAX_ADDRESS][:MAX_ADDRESSES]

    sender = fields.get("from", [""])[0]
    from_address = next((a for _, a in mailboxes("from")), "")
    from_name = one_line(text("from").partition("<")[0].strip().strip('"'))[:255] if "<" in sender else ""
    try:
        message_id, generated = _message_id(raw)
    except Exception:
        message_id, generated = f"<{hashlib.sha256(raw).hexdigest()}@postdesk.invalid>", True
    return ParsedMail(
        message_id=message_id, message_id_generated=generated,
        from_name=from_name, from_address=from_address,
        to=mailboxes("to"), cc=mailboxes("cc"), reply_to=mailboxes("reply-to"),
        subject=one_line(text("subject")), date=read_date(fields.get("date", [""])[0]),
        in_reply_to=_message_ids(fields.get("in-reply-to", [])[:1]),
        references=_message_ids(fields.get("references", [])),
        text=DEGRADED_NOTE, html="", reply_basis=DEGRADED_NOTE,
        attachments=[Attachment("original.eml", "message/rfc822", original)],
        headers=msg, problems=[reason],
    )
