"""What Outlook's winmail.dat holds (TNEF, [MS-OXTNEF]): the files and the text, so they are read.

Outlook and Exchange, set to "Rich Text" for a recipient, send a mail's attachments and often its
text inside one application/ms-tnef part named winmail.dat, which no other mail program opens:
the client's files never reach the agent. The format is a signature, then attributes (level,
id, length, data, checksum); the attachments are runs of attributes, each begun by
attAttachRendData, with their bytes in attAttachData and their long name among the MAPI
properties of attAttachment. The text is attBody, or PidTagBody / PidTagBodyHtml among the
message's MAPI properties; a text kept only as compressed RTF is not read here.

Everything is read by offsets into the data (no copies of what remains), each length checked
against it, and the number of properties bounded by the bytes they need: the cost is linear in
the part's size whatever it holds, and anything that does not read as TNEF gives None.
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass, field

SIGNATURE = 0x223E9F78
TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
LEVEL_ATTACHMENT = 0x02
# Attribute ids (the low 16 bits of AttributeID; the high ones give its type).
ATT_BODY, ATT_OEM_CODEPAGE, ATT_MSG_PROPS = 0x800C, 0x9007, 0x9003
ATT_ATTACH_REND_DATA, ATT_ATTACH_TITLE, ATT_ATTACH_DATA, ATT_ATTACHMENT = 0x9002, 0x8010, 0x800F, 0x9005
# MAPI property ids and types.
PR_BODY, PR_BODY_HTML, PR_INTERNET_CPID = 0x1000, 0x1013, 0x3FDE
PR_ATTACH_DATA, PR_ATTACH_FILENAME, PR_ATTACH_LONG_FILENAME, PR_ATTACH_MIME_TAG = 0x3701, 0x3704, 0x3707, 0x370E
PR_ATTACH_CONTENT_ID, PR_ATTACHMENT_HIDDEN = 0x3712, 0x7FFE
PT_STRING8, PT_UNICODE, PT_BINARY, PT_OBJECT, PT_UNSPECIFIED, MULTIPLE = 0x001E, 0x001F, 0x0102, 0x000D, 0x0000, 0x1000
# Bytes of one value of each fixed type in the stream; 2-byte values are padded to 4 after the last.
FIXED_SIZES = {0x0002: 2, 0x000B: 2, 0x0003: 4, 0x0004: 4, 0x000A: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8,
               0x0014: 8, 0x0040: 8, 0x0048: 16}
VARIABLE = (PT_STRING8, PT_UNICODE, PT_BINARY, PT_OBJECT, PT_UNSPECIFIED)
MAX_ATTACHMENTS = 1000
# Windows code pages TNEF names (attOemCodepage, PR_INTERNET_CPID) that Python does not know as
# "cp<number>"; any other is looked up as that (cp1251, cp950, cp874…), else read as cp1252.
CODEPAGES = {936: "gbk", 54936: "gb18030", 20936: "gb2312", 65001: "utf-8", 65000: "utf-7", 1200: "utf-16-le",
             20127: "ascii", 20866: "koi8-r", 21866: "koi8-u", 50220: "iso2022-jp", 50221: "iso2022-jp",
             50222: "iso2022-jp", 51932: "euc-jp", 51949: "euc-kr", 52936: "hz", 10000: "mac-roman",
             **{28590 + n: f"iso8859-{n}" for n in range(1, 16)}}


class Malformed(Exception):
    """Not TNEF we can read."""


@dataclass
class File:
    name: str
    content_type: str
    data: bytes
    content_id: str = ""
    hidden: bool = False  # Outlook's own (a signature's logo): shown in the text, not as a file
    embedded: bool = False  # an Outlook item attached (a mail, a contact), not read here


@dataclass
class Contents:
    files: list[File] = field(default_factory=list)
    text: str = ""
    html: str = ""
    rtf_only: bool = False  # the text is there, but only as compressed RTF
    left: int = 0  # attachments it names that are not among the files: Outlook items, or no bytes


def read(data: bytes) -> Contents | None:
    """The files and text a winmail.dat holds; None when the data is not TNEF we can read."""
    try:
        return _Reader(memoryview(data)).contents()
    except (Malformed, struct.error, IndexError, ValueError, LookupError):
        return None


class _Reader:
    def __init__(self, data: memoryview):
        self.data = data
        self.codec = "cp1252"  # until attOemCodepage says otherwise

    def contents(self) -> Contents:
        data = self.data
        if len(data) < 6 or struct.unpack_from("<I", data, 0)[0] != SIGNATURE:
            raise Malformed("no TNEF signature")
        found, attachment, at, rtf = Contents(), None, 6, False
        while at + 9 <= len(data):
            level, ident, length = struct.unpack_from("<BII", data, at)
            start = at + 9
            if start + length + 2 > len(data):
                raise Malformed("attribute longer than the data")
            value, name = data[start:start + length], ident & 0xFFFF
            at = start + length + 2  # the checksum is not checked: a wrong one changes nothing we read
            if name == ATT_ATTACH_REND_DATA:
                if len(found.files) >= MAX_ATTACHMENTS:
                    raise Malformed("too many attachments")
                attachment = File("", "application/octet-stream", b"")
                found.files.append(attachment)
            elif level == LEVEL_ATTACHMENT and attachment is not None:
                self._attachment_attribute(attachment, name, value)
            elif name == ATT_OEM_CODEPAGE and length >= 4:
                self.codec = codec_of(struct.unpack_from("<I", value, 0)[0]) or "cp1252"
            elif name == ATT_BODY:
                found.text = self._string8(value)
            elif name == ATT_MSG_PROPS:
                props = self._properties(value)
                codec = codec_of(props.get(PR_INTERNET_CPID)) or self.codec
                body, html = props.get(PR_BODY), props.get(PR_BODY_HTML)
                found.text = self._text(body, codec) or found.text
                found.html = self._text(html, codec)
                rtf = 0x1009 in props
        kept = [f for f in found.files if f.data and not f.embedded]
        found.left, found.files = len(found.files) - len(kept), kept
        found.rtf_only = rtf and not (found.text.strip() or found.html.strip())
        return found

    def _attachment_attribute(self, attachment: File, name: int, value: memoryview) -> None:
        if name == ATT_ATTACH_TITLE and not attachment.name:
            attachment.name = self._string8(value)
        elif name == ATT_ATTACH_DATA:
            attachment.data = bytes(value)
        elif name == ATT_ATTACHMENT:
            props = self._properties(value)
            long_name = props.get(PR_ATTACH_LONG_FILENAME) or props.get(PR_ATTACH_FILENAME)
            if long_name is not None:
                attachment.name = self._text(long_name, self.codec) or attachment.name
            if isinstance(props.get(PR_ATTACH_MIME_TAG), tuple):
                attachment.content_type = self._text(props[PR_ATTACH_MIME_TAG], "ascii").strip().lower() \
                    or attachment.content_type
            if isinstance(props.get(PR_ATTACH_CONTENT_ID), tuple):
                attachment.content_id = self._text(props[PR_ATTACH_CONTENT_ID], "ascii").strip("<> ")
            attachment.hidden = bool(props.get(PR_ATTACHMENT_HIDDEN))
            data = props.get(PR_ATTACH_DATA)
            if isinstance(data, tuple) and data[0] == PT_OBJECT:
                attachment.embedded = True
            elif not attachment.data and isinstance(data, tuple) and data[0] == PT_BINARY:
                attachment.data = bytes(data[1])

    def _properties(self, data: memoryview) -> dict[int, object]:
        """A MAPI property stream: {id: (type, value bytes)} for strings and binaries (the first
        value of a multiple one), {id: int} for the 32-bit numbers, nothing for the rest."""
        count = struct.unpack_from("<I", data, 0)[0]
        if count > len(data) // 4:
            raise Malformed("more properties than the bytes can hold")
        props: dict[int, object] = {}
        at = 4
        for _ in range(count):
            kind, ident = struct.unpack_from("<HH", data, at)
            at += 4
            if ident >= 0x8000:  # a named property: its GUID, then a number or a name
                at += 16
                named_by = struct.unpack_from("<I", data, at)[0]
                at += 4
                if named_by == 0:
                    at += 4
                else:
                    size = struct.unpack_from("<I", data, at)[0]
                    at += 4 + _padded(size)
            base, multiple = kind & ~MULTIPLE, bool(kind & MULTIPLE)
            if base not in VARIABLE and base not in FIXED_SIZES:
                break  # a type we cannot size: what follows cannot be found, what came before stands
            values = 1
            if multiple or base in VARIABLE:  # a count before the values
                values = struct.unpack_from("<I", data, at)[0]
                at += 4
                if values > len(data) // 4:
                    raise Malformed("more values than the bytes can hold")
            if base in VARIABLE:
                for n in range(values):
                    size = struct.unpack_from("<I", data, at)[0]
                    at += 4
                    if at + size > len(data):
                        raise Malformed("value longer than the data")
                    if n == 0:
                        props[ident] = (base, data[at:at + size])
                    at += _padded(size)
            else:
                if base in (0x0003, 0x000B) and not multiple:  # a 32-bit number, a boolean
                    props[ident] = struct.unpack_from("<I" if base == 0x0003 else "<H", data, at)[0]
                at += _padded(values * FIXED_SIZES[base])
            if at > len(data):
                raise Malformed("properties longer than the data")
        return props

    def _text(self, value, codec: str) -> str:
        if not isinstance(value, tuple):
            return ""
        kind, data = value
        if kind == PT_UNICODE:
            return bytes(data).decode("utf-16-le", "replace").rstrip("\x00")
        return bytes(data).decode(codec, "replace").rstrip("\x00")

    def _string8(self, value: memoryview) -> str:
        return bytes(value).decode(self.codec, "replace").rstrip("\x00")


def _padded(size: int) -> int:
    return size + (-size % 4)


def codec_of(codepage) -> str | None:
    """The Python codec of a Windows code page number, or None when there is none."""
    if not isinstance(codepage, int):
        return None
    name = CODEPAGES.get(codepage, f"cp{codepage}")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None
