"""The MIME structure of a mail, read from its raw bytes in one pass per level, without recursion.

The stdlib's feedparser recurses once per nesting level (RecursionError at ~300), checks every
line against every open boundary (quadratic), and holds a 50 MB attachment as a list of lines, a
string and bytes at once (~530 MB). This reader finds boundaries with bytes.find, keeps offsets
into the raw mail, and stops at fixed depth and part counts; a part beyond them is one attachment
of its bytes. Header fields are kept as compat32 Messages for the bounce detectors and
`ParsedMail.header`, each field cut at a bound.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from email.message import Message as RawMessage

BOM = b"\xef\xbb\xbf"
DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")

# A header block as the stdlib's feedparser delimits it (its headerRE): field lines, their
# continuations (whitespace-only lines included) and "From " lines, up to the first line that is
# none of these; a blank line there is the separator and belongs to neither. Possessive
# quantifiers throughout this module: a failed match is never retried from inside itself.
HEADER_LINES = re.compile(rb"(?:(?:From |[\x21-\x39\x3b-\x7e]*+:|[\t ])[^\n]*+(?:\n|\Z))*+")

FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]*+):([^\n]*+\n?(?:[\t ][^\n]*+\n?)*+)")

FIELD_OR_LINE = re.compile(FIELD.pattern + rb"|[^\n]*+\n?")  # each match a field or a line: contiguous

DELIMITER_END = re.compile(rb"(--)?[ \t]*+(?:\r\n|\n|\r|\Z)")  # after "--boundary" (RFC 2046 §5.1.1)

BLOCK = re.compile(rb"(?:[^\r\n][^\n]*+(?:\n|\Z))++")  # lines up to a blank one

# name[=value]; a name without "=" is consumed too, so no stretch of text is scanned twice.
PARAM = re.compile(r'([^\s=;"]++)\s*+(?:=\s*+(?:("(?:[^"\\]|\\.)*+"?)|([^;]*+)))?+', re.S)

QUOTED_PAIR = re.compile(r"\\(.)", re.S)

NOT_BASE64 = bytes(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))

CONTENT_TYPE = re.compile(r"[!#-'*+.0-9a-z^-~-]+/[!#-'*+.0-9a-z^-~-]+")  # RFC 2045 tokens

# Bounds. Each keeps a stdlib parser, or the objects kept per item, from growing faster than the
# mail; none is reached by mail a person wrote.
MAX_DEPTH = 20  # MIME nesting read; a deeper entity is one attachment of its bytes

MAX_PARTS = 1000  # entities read; the rest of a multipart is one attachment of its bytes

MAX_FIELDS = 10_000  # header fields kept in all (a field costs ~150 bytes as objects)

FIELD_LIMIT = 64 * 1024  # bytes of a field's value kept

PARAM_LIMIT = 4 * 1024  # Content-Type/-Disposition: email.message's parameter parser is quadratic

# Text bodies kept in `headers`, for the bounce detectors: a report's own parts come first and are
# short; flufl.bounce's detectors cost up to ~9 ms per KB of header-like lines, so more would be
# seconds of a worker's budget spent on the original message a report quotes.
TREE_TEXT_LIMIT = 512 * 1024

MAX_PROBLEMS = 20

class Problems(list):
    """Reasons a part was degraded: the first MAX_PROBLEMS, each one line, then a count."""

    def add(self, reason: str) -> None:
        if len(self) < MAX_PROBLEMS:
            self.append(" ".join(reason.split())[:200])
        elif len(self) == MAX_PROBLEMS:
            self.append("more problems not listed")

def first(msg: RawMessage, name: str) -> str | None:
    """The first field `name` as stored (8-bit bytes as surrogate escapes), or None."""
    name = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == name:
            return value if isinstance(value, str) else str(value)
    return None

def all_values(msg: RawMessage, name: str) -> list[str]:
    name = name.lower()
    return [value if isinstance(value, str) else str(value) for key, value in msg.raw_items()
            if key.lower() == name]

@dataclass
class Leaf:
    msg: RawMessage
    number: str  # 1, 2.1 … as IMAP numbers parts (RFC 3501 §6.4.5)
    start: int  # the entity (headers and body) …
    body: int  # … its body …
    end: int  # … and where it ends, as offsets into the raw mail
    content_type: str
    whole: bool = False  # not read: kept as one attachment of the entity's bytes
    alternative: str | None = None  # the multipart/alternative it is within (its number, "" the mail), if any

class Reader:
    """The MIME structure of a mail as compat32 Messages (for the bounce detectors and `header`),
    and its leaves in order. Iterative, at most MAX_DEPTH levels and MAX_PARTS entities deep."""

    def __init__(self, raw: bytes, problems: Problems):
        self.raw, self.problems = raw, problems
        self.parts = self.fields = self.tree_text = 0

    def read(self, start: int) -> tuple[RawMessage, list[Leaf]]:
        leaves: list[Leaf] = []
        root = None
        # (start, end, depth, number, parent, inside an attached message, default content type,
        # the multipart/alternative it is within)
        work = [(start, len(self.raw), 0, "", None, False, "text/plain", None)]
        while work:
            start, end, depth, number, parent, enclosed, default, alternative = work.pop()
            msg, body = self._entity(start, end, number)
            msg.set_default_type(default)
            if parent is None:
                root = msg
            else:
                parent.attach(msg)
            ctype = content_type(msg)
            maintype = ctype.partition("/")[0]
            if maintype in ("multipart", "message") and ctype not in DSN_TYPES and depth >= MAX_DEPTH:
                self.problems.add(f"part {number or 1}: nested deeper than {MAX_DEPTH} levels, kept as one attachment")
                msg.set_payload("")
                if not enclosed:
                    leaves.append(Leaf(msg, number or "1", start, body, end, ctype, whole=True))
                continue
            if maintype == "multipart":
                children = self._split(msg, body, end, number)
                if children is None:  # no usable boundary: RFC 2046 §5.1.2 says read it as text
                    self._set_text(msg, body, end, ctype)
                    if not enclosed:
                        leaves.append(Leaf(msg, number or "1", start, body, end, "text/plain", alternative=alternative))
                    continue
                msg.set_payload([])
                child_default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
                within = number if ctype == "multipart/alternative" else alternative
                for index, (child_start, child_end, whole) in reversed(list(enumerate(children, 1))):
                    child_number = f"{number}.{index}" if number else str(index)
                    if whole and not enclosed:
                        leaves.append(Leaf(RawMessage(), child_number, child_start, child_start, child_end,
                                            "application/octet-stream", whole=True))
                    elif not whole:
                        work.append((child_start, child_end, depth + 1, child_number, msg, enclosed, child_default,
                                     within))
                continue
            if ctype in DSN_TYPES:  # RFC 3464 (RFC 6533's global form: UTF-8): blocks of header fields
                msg.set_payload([self._entity(s, e, number)[0] for s, e in self._blocks(body, end)])
            elif maintype == "message":
                msg.set_payload([])
                work.append((body, end, depth + 1, number or "1", msg, True, "text/plain", None))
            else:
                self._set_text(msg, body, end, ctype)
            if not enclosed:
                leaves.append(Leaf(msg, number or "1", start, body, end, ctype, alternative=alternative))
        return root, ordered(leaves)

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
        boundary = params(first(msg, "Content-Type") or "").get("boundary")
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

def ordered(leaves: list[Leaf]) -> list[Leaf]:
    """Leaves in the order they stand in the mail (parts kept whole are found out of order)."""
    return sorted(leaves, key=lambda leaf: leaf.start)

def _before_line_end(raw: bytes, start: int, line_start: int) -> int:
    """Where a part ends: the line break before a boundary line belongs to the boundary."""
    if line_start - 2 >= start and raw[line_start - 2:line_start] == b"\r\n":
        return line_start - 2
    if line_start - 1 >= start and raw[line_start - 1] in b"\r\n":
        return line_start - 1
    return line_start

def decoded(body: memoryview, msg: RawMessage) -> bytes:
    """The body without its Content-Transfer-Encoding, read from the raw bytes without copies of
    the encoded form (binascii skips line breaks and other non-alphabet bytes itself)."""
    encoding = (first(msg, "Content-Transfer-Encoding") or "").strip().lower()
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

def params(value: str) -> dict[str, str]:
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

def content_type(msg: RawMessage) -> str:
    """As compat32's get_content_type, from the raw field (no Header objects for 8-bit bytes)."""
    value = first(msg, "Content-Type")
    if value is None:
        return msg.get_default_type()
    ctype = value.partition(";")[0].strip().lower()
    if ctype.count("/") != 1:
        return "text/plain"
    return ctype if CONTENT_TYPE.fullmatch(ctype) else "application/octet-stream"
