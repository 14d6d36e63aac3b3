"""Turn raw RFC 5322 bytes into a ParsedMail: decoded headers, body text, HTML and attachments.

Any bytes give a ParsedMail, in time and memory linear in their length. A part that cannot be read
is degraded (guessed, kept as raw bytes, or cut at a bound) and the reason is listed in
`ParsedMail.problems`; it never costs the rest of the mail. The MIME structure is read here, one
pass per level and without recursion: the stdlib's feedparser recurses once per nesting level
(RecursionError at ~300), checks every line against every open boundary (quadratic), and holds a
50 MB attachment as a list of lines, a string and bytes at once (~530 MB). What the stdlib still
parses (header fields, addresses, dates) gets bounded input.
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message as RawMessage
from email.utils import getaddresses, parsedate_to_datetime
from html import unescape as html_unescape

from . import charsets, htmltext
from .charsets import decode_words

log = logging.getLogger(__name__)

MSGID_RE = re.compile(r"<[^<>\s]+>")
MSGID_BYTES = re.compile(rb"<[^<>\s]+>")
BOM = b"\xef\xbb\xbf"
# A header block as the stdlib's feedparser delimits it (its headerRE): field lines, their
# continuations (whitespace-only lines included) and "From " lines, up to the first line that is
# none of these; a blank line there is the separator and belongs to neither. Possessive
# quantifiers throughout this module: a failed match is never retried from inside itself.
HEADER_LINES = re.compile(rb"(?:(?:From |[\x21-\x39\x3b-\x7e]*+:|[\t ])[^\n]*+(?:\n|\Z))*+")
FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]*+):([^\n]*+\n?(?:[\t ][^\n]*+\n?)*+)")
FIELD_OR_LINE = re.compile(FIELD.pattern + rb"|[^\n]*+\n?")  # each match a field or a line: contiguous
MESSAGE_ID_LINE = re.compile(rb"\nmessage-id:", re.I)
TRACE_FIELD = re.compile(rb"^(?:received|return-path|delivered-to|x-original-to|authentication-results|received-spf"
                         rb"|x-received|arc-[^:\s]*+|x-spam-[^:\s]*+):[^\n]*+\n?(?:[\t ][^\n]*+\n?)*+", re.I | re.M)
DELIMITER_END = re.compile(rb"(--)?[ \t]*+(?:\r\n|\n|\r|\Z)")  # after "--boundary" (RFC 2046 §5.1.1)
BLOCK = re.compile(rb"(?:[^\r\n][^\n]*+(?:\n|\Z))++")  # lines up to a blank one
# name[=value]; a name without "=" is consumed too, so no stretch of text is scanned twice.
PARAM = re.compile(r'([^\s=;"]++)\s*+(?:=\s*+(?:("(?:[^"\\]|\\.)*+"?)|([^;]*+)))?+', re.S)
QUOTED_PAIR = re.compile(r"\\(.)", re.S)
COMMENT_SPECIALS = re.compile(r'\\.|["()]', re.S)
NOT_BASE64 = bytes(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
CONTENT_TYPE = re.compile(r"[!#-'*+.0-9a-z^-~-]+/[!#-'*+.0-9a-z^-~-]+")  # RFC 2045 tokens
FOLD = re.compile(r"\r?\n(?=[ \t])")  # a folded quoted file name: the line break is no part of it

# Bounds. Each keeps a stdlib parser, or the objects kept per item, from growing faster than the
# mail; none is reached by mail a person wrote.
MAX_DEPTH = 20  # MIME nesting read; a deeper entity is one attachment of its bytes
MAX_PARTS = 1000  # entities read; the rest of a multipart is one attachment of its bytes
MAX_FIELDS = 10_000  # header fields kept in all (a field costs ~150 bytes as objects)
FIELD_LIMIT = 64 * 1024  # bytes of a field's value kept
PARAM_LIMIT = 4 * 1024  # Content-Type/-Disposition: email.message's parameter parser is quadratic
SUBJECT_LIMIT = 16 * 1024
ADDRESS_LIMIT = 64 * 1024  # characters of To/Cc/From… given to getaddresses (~0.5 s per MB)
MAX_ADDRESSES = 1000  # nobody answers a thousand people
TREE_TEXT_LIMIT = 2 * 1024 * 1024  # text bodies kept in `headers`, for the bounce detectors
HTML_LIMIT = 2 * 1024 * 1024  # characters of HTML made into text and sanitised (≤ ~3 s)
MAX_PROBLEMS = 20
HASH_CHUNK = 1024 * 1024
DEGRADED_NOTE = ("This message could not be read, so its text is not shown here. "
                 "The original is attached as original.eml.")
DEGRADED_HEAD = 64 * 1024
DEGRADED_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]++):[ \t]*+([^\r\n]*+)", re.M)
DEGRADED_ADDRESS = re.compile(r'[^\s<>()\[\]",;:@]++(?:@[^\s<>()\[\]",;:@]++)?+')


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

    def header(self, name: str) -> str:
        """A header's decoded value ("" when absent)."""
        value = _first(self.headers, name) if self.headers is not None else None
        return decode_words(value) if value is not None else ""


class Problems(list):
    """Reasons a part was degraded: the first MAX_PROBLEMS, each one line, then a count."""

    def add(self, reason: str) -> None:
        if len(self) < MAX_PROBLEMS:
            self.append(" ".join(reason.split())[:200])
        elif len(self) == MAX_PROBLEMS:
            self.append("more problems not listed")


def parse(raw: bytes) -> ParsedMail:
    raw = raw if isinstance(raw, bytes) else bytes(raw)
    try:
        return _parse(raw)
    except Exception as exc:  # a bug of ours, not the mail's fault: logged, and still a ParsedMail
        mail = parse_degraded(raw, f"unreadable: {type(exc).__name__}: {exc}")
        log.error("%s could not be parsed", mail.message_id, exc_info=True)
        return mail


def _parse(raw: bytes) -> ParsedMail:
    problems = Problems()
    msg, leaves = _Reader(raw, problems).read(3 if raw.startswith(BOM) else 0)
    message_id, generated = _message_id(raw)
    from_name, from_address = _guarded(problems, "From", lambda: first_address(_all(msg, "From")), None) or ("", "")
    text, html, reply_basis, attachments = _body(raw, leaves, problems)
    return ParsedMail(
        message_id=message_id,
        message_id_generated=generated,
        from_name=from_name,
        from_address=from_address,
        to=_guarded(problems, "To", lambda: addresses(_all(msg, "To")), []),
        cc=_guarded(problems, "Cc", lambda: addresses(_all(msg, "Cc")), []),
        reply_to=_guarded(problems, "Reply-To", lambda: addresses(_all(msg, "Reply-To")), []),
        subject=_subject(_first(msg, "Subject"), problems),
        date=_date(_first(msg, "Date")),
        in_reply_to=_message_ids(_all(msg, "In-Reply-To")[:1]),
        references=_message_ids(_all(msg, "References")),
        text=text,
        html=html,
        reply_basis=reply_basis,
        attachments=attachments,
        headers=msg,
        problems=list(problems),
    )


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


def message_id_of(raw: bytes) -> str:
    """The idempotency key without a full parse, the same as parse(raw).message_id: the id in
    the first Message-ID field, or synthetic_message_id(raw). Linear time."""
    return _message_id(raw)[0]


def _message_id(raw: bytes) -> tuple[str, bool]:
    start = 3 if raw.startswith(BOM) else 0
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
            return ids[0].decode("ascii", "replace"), False
    return synthetic_message_id(raw), True


def synthetic_message_id(raw: bytes) -> str:
    """Idempotency key for mail without a Message-ID: a hash of the mail as its sender sent it.
    Trace fields that relays add on the way (RFC 5321 §4.4 Received and Return-Path; Delivered-To,
    X-Original-To, Authentication-Results, ARC-*, Received-SPF, X-Received, X-Spam-*) are left
    out and line endings read as LF, so the same mail delivered twice, by another route or with
    other line endings gets the same key. DKIM-Signature is the sender's and counts."""
    start = 3 if raw.startswith(BOM) else 0
    head_end = HEADER_LINES.match(raw, start).end()
    digest = hashlib.sha256()
    digest.update(TRACE_FIELD.sub(b"", raw[start:head_end]).replace(b"\r\n", b"\n"))
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


def addresses(values: list) -> list[tuple[str, str]]:
    result = []
    for name, address in split_addresses(values):
        # Keep a mailbox without a domain ("no_host", "MAILER-DAEMON"): it is what the header says;
        # the pipeline refuses it as a sender it cannot answer.
        if address and " " not in address.strip():
            result.append((" ".join(decode_words(name).split()), address.strip().lower()))
    return result


def split_addresses(values: list) -> list[tuple[str, str]]:
    """email.utils.getaddresses on at most ADDRESS_LIMIT characters (cut after the last whole
    address) and its first MAX_ADDRESSES results: it costs ~0.5 s per MB, and no mail is
    answered to a thousand people. Nested comments are flattened first (see _flat_comments)."""
    kept, size = [], 0
    for value in values:
        kept.append(charsets.header_text(str(value)[:ADDRESS_LIMIT]))
        size += len(kept[-1]) + 2
        if size > ADDRESS_LIMIT:
            break
    joined = ", ".join(kept)
    if len(joined) > ADDRESS_LIMIT:
        cut = joined.rfind(",", 0, ADDRESS_LIMIT)
        joined = joined[:cut if cut > 0 else ADDRESS_LIMIT]
    return getaddresses([_flat_comments(joined)])[:MAX_ADDRESSES]


def _flat_comments(value: str) -> str:
    """RFC 5322 comments nest, and email._parseaddr reads each level by recursion: 1,200 nested
    "(" raise RecursionError. Keep the outer parentheses, drop the inner ones (not their words)."""
    if value.count("(") < 2:
        return value
    out, position, depth, quoted = [], 0, 0, False
    for special in COMMENT_SPECIALS.finditer(value):
        char = special.group()
        if char == '"' and not depth:
            quoted = not quoted
        elif quoted or len(char) == 2:
            continue
        elif char == "(" or (char == ")" and depth):
            if depth > 1 or (char == "(" and depth == 1):
                out.append(value[position:special.start()])
                position = special.end()
            depth += 1 if char == "(" else -1
    out.append(value[position:])
    return "".join(out)


def first_address(values: list) -> tuple[str, str] | None:
    found = addresses(values)
    return found[0] if found else None


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
    return " ".join(subject.split())


def _message_ids(values: list[str]) -> list[str]:
    """The <ids> in In-Reply-To or References, raw 8-bit bytes decoded (RFC 6532 allows UTF-8)."""
    return MSGID_RE.findall(charsets.header_text(" ".join(values)[:FIELD_LIMIT]))


def _date(value) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(str(value)[:1000])
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except Exception:  # TypeError, ValueError, IndexError, OverflowError: not a date we can read
        return None


def _first(msg: RawMessage, name: str) -> str | None:
    """The first field `name` as stored (8-bit bytes as surrogate escapes), or None."""
    name = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == name:
            return value if isinstance(value, str) else str(value)
    return None


def _all(msg: RawMessage, name: str) -> list[str]:
    name = name.lower()
    return [value if isinstance(value, str) else str(value) for key, value in msg.raw_items()
            if key.lower() == name]


@dataclass
class _Leaf:
    msg: RawMessage
    number: str  # 1, 2.1 … as IMAP numbers parts (RFC 3501 §6.4.5)
    start: int  # the entity (headers and body) …
    body: int  # … its body …
    end: int  # … and where it ends, as offsets into the raw mail
    content_type: str
    whole: bool = False  # not read: kept as one attachment of the entity's bytes


class _Reader:
    """The MIME structure of a mail as compat32 Messages (for the bounce detectors and `header`),
    and its leaves in order. Iterative, at most MAX_DEPTH levels and MAX_PARTS entities deep."""

    def __init__(self, raw: bytes, problems: Problems):
        self.raw, self.problems = raw, problems
        self.parts = self.fields = self.tree_text = 0

    def read(self, start: int) -> tuple[RawMessage, list[_Leaf]]:
        leaves: list[_Leaf] = []
        root = None
        # (start, end, depth, number, parent, inside an attached message, default content type)
        work = [(start, len(self.raw), 0, "", None, False, "text/plain")]
        while work:
            start, end, depth, number, parent, enclosed, default = work.pop()
            msg, body = self._entity(start, end, number)
            msg.set_default_type(default)
            if parent is None:
                root = msg
            else:
                parent.attach(msg)
            ctype = _content_type(msg)
            maintype = ctype.partition("/")[0]
            if maintype in ("multipart", "message") and ctype != "message/delivery-status" and depth >= MAX_DEPTH:
                self.problems.add(f"part {number or 1}: nested deeper than {MAX_DEPTH} levels, kept as one attachment")
                msg.set_payload("")
                if not enclosed:
                    leaves.append(_Leaf(msg, number or "1", start, body, end, ctype, whole=True))
                continue
            if maintype == "multipart":
                children = self._split(msg, body, end, number)
                if children is None:  # no usable boundary: RFC 2046 §5.1.2 says read it as text
                    self._set_text(msg, body, end, ctype)
                    if not enclosed:
                        leaves.append(_Leaf(msg, number or "1", start, body, end, "text/plain"))
                    continue
                msg.set_payload([])
                child_default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
                for index, (child_start, child_end, whole) in reversed(list(enumerate(children, 1))):
                    child_number = f"{number}.{index}" if number else str(index)
                    if whole and not enclosed:
                        leaves.append(_Leaf(RawMessage(), child_number, child_start, child_start, child_end,
                                            "application/octet-stream", whole=True))
                    elif not whole:
                        work.append((child_start, child_end, depth + 1, child_number, msg, enclosed, child_default))
                continue
            if ctype == "message/delivery-status":  # RFC 3464: blocks of header fields
                msg.set_payload([self._entity(s, e, number)[0] for s, e in self._blocks(body, end)])
            elif maintype == "message":
                msg.set_payload([])
                work.append((body, end, depth + 1, number or "1", msg, True, "text/plain"))
            else:
                self._set_text(msg, body, end, ctype)
            if not enclosed:
                leaves.append(_Leaf(msg, number or "1", start, body, end, ctype))
        return root, _ordered(leaves)

    def _entity(self, start: int, end: int, number: str) -> tuple[RawMessage, int]:
        """The header fields of the entity at `start` as a Message, and where its body starts."""
        self.parts += 1
        msg = RawMessage()
        head_end = HEADER_LINES.match(self.raw, start, end).end()
        where = f"part {number}: " if number else ""
        for found in FIELD_OR_LINE.finditer(self.raw, start, head_end):
            self.fields += 1
            if self.fields > MAX_FIELDS:
                if self.fields == MAX_FIELDS + 1:
                    self.problems.add(f"{where}more than {MAX_FIELDS} header lines, the rest ignored")
                break
            if not found.group(1):
                continue  # a "From " line, ":value", a continuation of nothing: the feedparser skips them
            name = found.group(1).decode("ascii")
            value_start, value_end = found.span(2)
            limit = PARAM_LIMIT if name.lower() in ("content-type", "content-disposition") else FIELD_LIMIT
            if value_end - value_start > limit:
                self.problems.add(f"{where}{name} field of {value_end - value_start} bytes: first {limit} read")
                value_end = value_start + limit
            value = self.raw[value_start:value_end].decode("ascii", "surrogateescape")
            msg.set_raw(name, value.lstrip(" \t").rstrip("\r\n"))  # as compat32 stores it
        if self.raw.startswith(b"\r\n", head_end, end):
            return msg, head_end + 2
        if self.raw.startswith(b"\n", head_end, end):
            return msg, head_end + 1
        return msg, head_end  # no blank line: the first line that is no field starts the body

    def _split(self, msg: RawMessage, body: int, end: int, number: str) -> list[tuple[int, int, bool]] | None:
        """(start, end, kept whole) of each part between the boundary lines (RFC 2046 §5.1.1);
        None without a boundary or a first boundary line."""
        boundary = _params(_first(msg, "Content-Type") or "").get("boundary")
        if not boundary:
            self.problems.add(f"part {number or 1}: multipart without a boundary, read as text")
            return None
        marker = b"--" + boundary.encode("utf-8", "surrogateescape")
        parts, part_start, position = [], None, body
        while True:  # bytes.find, not a regular expression: a 50 MB part is passed over in ~10 ms
            line_start = self.raw.find(marker, position, end)
            if line_start < 0:
                break
            position = line_start + len(marker)
            line = DELIMITER_END.match(self.raw, position, end)
            if line is None or (line_start > body and self.raw[line_start - 1] != 10):  # 10: "\n"
                continue
            if part_start is not None:
                parts.append((part_start, _before_line_end(self.raw, part_start, line_start), False))
            if line.group(1):  # the close delimiter: what follows is the epilogue
                part_start = None
                break
            part_start = position = line.end()
            if self.parts + len(parts) >= MAX_PARTS:
                self.problems.add(f"part {number or 1}: more than {MAX_PARTS} parts, the rest kept as one attachment")
                parts.append((part_start, end, True))
                return parts
        if part_start is not None:  # no close delimiter: the last part runs to the end
            parts.append((part_start, end, False))
        if not parts:
            self.problems.add(f"part {number or 1}: multipart without its boundary line, read as text")
            return None
        return parts

    def _blocks(self, body: int, end: int):
        """Spans of the blank-line separated header blocks of a delivery-status body."""
        for block in BLOCK.finditer(self.raw, body, min(end, body + FIELD_LIMIT)):
            if self.parts >= MAX_PARTS:
                return
            yield block.span()

    def _set_text(self, msg: RawMessage, body: int, end: int, ctype: str) -> None:
        """Text-like bodies stay in the tree, as compat32 keeps them, for the bounce detectors."""
        if ctype.startswith(("text/", "message/", "multipart/")) and self.tree_text + end - body <= TREE_TEXT_LIMIT:
            self.tree_text += end - body
            msg.set_payload(self.raw[body:end].decode("ascii", "surrogateescape"))
        else:
            msg.set_payload("")


def _ordered(leaves: list[_Leaf]) -> list[_Leaf]:
    """Leaves in the order they stand in the mail (parts kept whole are found out of order)."""
    return sorted(leaves, key=lambda leaf: leaf.start)


def _before_line_end(raw: bytes, start: int, line_start: int) -> int:
    """Where a part ends: the line break before a boundary line belongs to the boundary."""
    if line_start - 2 >= start and raw[line_start - 2:line_start] == b"\r\n":
        return line_start - 2
    if line_start - 1 >= start and raw[line_start - 1] in b"\r\n":
        return line_start - 1
    return line_start


def _body(raw: bytes, leaves: list[_Leaf], problems: Problems) -> tuple[str, str, str, list[Attachment]]:
    text_parts, html_parts, attachments = [], [], []
    view = memoryview(raw)
    for leaf in leaves:
        try:
            _take(view, leaf, text_parts, html_parts, attachments, problems)
        except Exception as exc:  # a part we cannot read is kept as it came
            problems.add(f"part {leaf.number}: unreadable ({type(exc).__name__}), kept as raw bytes")
            attachments.append(Attachment(f"part-{leaf.number}.eml", "application/octet-stream",
                                          bytes(view[leaf.start:leaf.end])))
    html = "\n".join(html_parts)
    if len(html) > HTML_LIMIT:
        problems.add(f"HTML body of {len(html)} characters: only the first {HTML_LIMIT} read")
        html = html[:HTML_LIMIT]
    html_text, html_reply, safe_html = _guarded(problems, "HTML body", lambda: htmltext.render(html), None) or (
        (_tags_removed(html),) * 2 + ("",))
    text = "\n".join(text_parts) if text_parts else html_text
    text = text.replace("\r\n", "\n").strip("\n")
    # HTML-only mail: its quotes are containers (gmail_quote, blockquote type=cite), not "> ".
    reply_basis = text if text_parts else html_reply
    return text, safe_html, reply_basis, attachments


def _tags_removed(markup: str) -> str:
    return " ".join(html_unescape(re.sub(r"<[^<>]*+>", " ", markup)).split())


def _take(view: memoryview, leaf: _Leaf, text_parts: list, html_parts: list, attachments: list,
          problems: Problems) -> None:
    """Sort one leaf into body text, HTML body or attachment."""
    if leaf.whole:
        attachments.append(Attachment(f"part-{leaf.number}.eml", "application/octet-stream",
                                      bytes(view[leaf.start:leaf.end])))
        return
    msg, ctype = leaf.msg, leaf.content_type
    disposition = (_first(msg, "Content-Disposition") or "").split(";")[0].strip().lower()
    filename = _filename(msg, leaf.number, problems)
    is_body = disposition != "attachment" and not filename and ctype in ("text/plain", "text/html")
    if ctype == "message/rfc822":  # an attached or returned mail is one attachment, as sent
        inner = msg.get_payload()
        subject = decode_words(_first(inner[0], "Subject") or "", 1000) if inner else ""
        attachments.append(Attachment(
            filename or f"{' '.join(subject.split())[:100].replace('/', '_') or 'message'}.eml", ctype,
            bytes(view[leaf.body:leaf.end])))
        return
    if ctype.startswith("message/"):  # header blocks (RFC 3464, RFC 5965): kept as sent
        data = bytes(view[leaf.body:leaf.end])
    else:
        data = _decoded(view[leaf.body:leaf.end], msg)
    if is_body:
        label = _params(_first(msg, "Content-Type") or "").get("charset")
        if not charsets.is_known(label):
            problems.add(f"part {leaf.number}: undecodable charset {label[:40]!r}, guessed")
        (text_parts if ctype == "text/plain" else html_parts).append(charsets.decode(data, label))
        return
    content_id = charsets.header_text((_first(msg, "Content-ID") or "")[:1000]).strip().strip("<>")
    attachments.append(Attachment(
        filename=filename or _default_name(ctype, len(attachments) + 1),
        content_type=ctype,
        data=data,
        content_id=content_id,
        inline=disposition == "inline" or (bool(content_id) and disposition != "attachment"),
    ))


def _decoded(body: memoryview, msg: RawMessage) -> bytes:
    """The body without its Content-Transfer-Encoding, read from the raw bytes without copies of
    the encoded form (binascii skips line breaks and other non-alphabet bytes itself)."""
    encoding = (_first(msg, "Content-Transfer-Encoding") or "").strip().lower()
    if encoding == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:  # bad padding, a cut-off mail: keep what decodes
            data = bytes(body).translate(None, NOT_BASE64)
            data = data[:len(data) - 1] if len(data) % 4 == 1 else data
            return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    if encoding == "quoted-printable":
        return binascii.a2b_qp(body)
    if encoding in ("x-uuencode", "uuencode", "uue", "x-uue"):
        encoded = RawMessage()
        encoded["Content-Transfer-Encoding"] = encoding
        encoded.set_payload(bytes(body).decode("ascii", "surrogateescape"))
        return encoded.get_payload(decode=True)
    return bytes(body)


def _filename(msg: RawMessage, number: str, problems: Problems) -> str:
    """The part's file name: Content-Disposition filename, else Content-Type name, decoded
    (RFC 2231, RFC 2047, or raw UTF-8/GBK bytes) and made safe to show and to save."""
    for header, key in (("Content-Disposition", "filename"), ("Content-Type", "name")):
        name, unknown = charsets.decode_param(_params(_first(msg, header) or ""), key)
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


def _params(value: str) -> dict[str, str]:
    """The parameters after the first ";" of a Content-Type or Content-Disposition value (RFC
    2045 §5.1), names in lower case, the first of each name; quoted values unquoted."""
    params: dict[str, str] = {}
    rest = value[:PARAM_LIMIT].partition(";")[2]
    for found in PARAM.finditer(rest):
        key, quoted, plain = found.group(1).lower(), found.group(2), found.group(3)
        if quoted is not None:
            params.setdefault(key, QUOTED_PAIR.sub(r"\1", quoted[1:-1] if quoted.endswith('"') and len(quoted) > 1
                                                  else quoted[1:]))
        elif plain is not None:
            params.setdefault(key, plain.strip())
    return params


def _content_type(msg: RawMessage) -> str:
    """As compat32's get_content_type, from the raw field (no Header objects for 8-bit bytes)."""
    value = _first(msg, "Content-Type")
    if value is None:
        return msg.get_default_type()
    ctype = value.partition(";")[0].strip().lower()
    if ctype.count("/") != 1:
        return "text/plain"
    return ctype if CONTENT_TYPE.fullmatch(ctype) else "application/octet-stream"


def _default_name(ctype: str, index: int) -> str:
    extension = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "text/plain": "txt",
                 "application/pdf": "pdf", "text/calendar": "ics"}.get(ctype, "bin")
    return f"attachment-{index}.{extension}"


def _degraded(raw: bytes, reason: str) -> ParsedMail:
    head = raw[3:DEGRADED_HEAD] if raw.startswith(BOM) else raw[:DEGRADED_HEAD]
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
        return [("", address.lower()) for address in found if "@" in address][:MAX_ADDRESSES]

    sender = fields.get("from", [""])[0]
    from_address = next((a for _, a in mailboxes("from")), "")
    from_name = text("from").partition("<")[0].strip().strip('"').strip() if "<" in sender else ""
    try:
        message_id, generated = _message_id(raw)
    except Exception:
        message_id, generated = f"<{hashlib.sha256(raw).hexdigest()}@postdesk.invalid>", True
    return ParsedMail(
        message_id=message_id, message_id_generated=generated,
        from_name=from_name, from_address=from_address,
        to=mailboxes("to"), cc=mailboxes("cc"), reply_to=mailboxes("reply-to"),
        subject=text("subject"), date=_date(fields.get("date", [""])[0]),
        in_reply_to=_message_ids(fields.get("in-reply-to", [])[:1]),
        references=_message_ids(fields.get("references", [])),
        text=DEGRADED_NOTE, html="", reply_basis=DEGRADED_NOTE,
        attachments=[Attachment("original.eml", "message/rfc822", raw)],
        headers=msg, problems=[reason],
    )
