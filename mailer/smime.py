"""The content of an opaque-signed S/MIME mail (RFC 8551 §3.5.2), so that it is read like any other.

Outlook, Thunderbird and most corporate gateways can sign a mail "opaquely": the whole entity
(its headers and body) travels inside the signature, a CMS SignedData structure in DER or BER,
sent as one application/pkcs7-mime part (smime-type=signed-data, usually smime.p7m). A reader
that does not open it sees an attachment and no text. Here the signed entity is taken out of the
structure and the mail is read with it in place of the part. The signature is not checked, as
it is not for a clear-signed mail; the stored mail keeps it as it came.

Only what is needed is read, lazily: ContentInfo → [0] SignedData → encapContentInfo → [0]
eContent, whose OCTET STRING may be cut into pieces (BER's constructed form, with indefinite
lengths, as streaming signers write it). Nesting and the number of elements read are bounded,
so the cost is linear in the data's size with a small constant whatever it holds; anything that
is not that shape (encrypted data, a damaged structure) gives None.
"""

from __future__ import annotations

from collections.abc import Iterator

SIGNED_DATA = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
ENVELOPED = (bytes.fromhex("2a864886f70d010703"), bytes.fromhex("2a864886f70d0109100117"))  # (auth)EnvelopedData
DATA = bytes.fromhex("2a864886f70d010701")  # id-data: content as it is (not a receipt, not another structure)
SMIME_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")
MAX_DEPTH = 32  # BER nesting, far beyond what any signer writes
# Elements read at most: signers cut streamed content into pieces of 1 to 4 KB, so a 50 MB mail
# has about 50,000 of them; two-byte pieces would otherwise cost a step per two bytes.
MAX_ELEMENTS = 200_000
OID, CONTEXT_0, OCTETS, CONSTRUCTED = 0x06, 0xA0, 0x04, 0x20
END_OF_CONTENTS = b"\x00\x00"


class Malformed(Exception):
    """Not a BER structure we can walk."""


def signed_content(data: bytes) -> bytes | None:
    """The signed entity inside a SignedData structure, or None when the data is something else
    (enveloped, that is encrypted; detached, a certificate bundle with no content; not BER)."""
    ber = _Ber(data)
    try:
        kind, content = _content_info(ber)
        if kind != SIGNED_DATA or data[content] != CONTEXT_0:
            return None
        (signed,) = ber.children(content, count=1)
        _, _, encapsulated = ber.children(signed, count=3)
        parts = ber.children(encapsulated, count=2)
        if len(parts) < 2 or data[parts[1]] != CONTEXT_0:
            return None  # detached: the content travels beside the signature, not in it
        if ber.primitive(parts[0], OID) != DATA:
            return None  # a signed receipt (RFC 2634) or another structure: not a mail to read
        (octets,) = ber.children(parts[1], count=1)
        return ber.octets(octets)
    except (Malformed, IndexError, ValueError):
        return None


def is_encrypted(data: bytes) -> bool:
    """Is this CMS structure EnvelopedData or AuthEnvelopedData (what S/MIME encrypts with)?"""
    try:
        return _content_info(_Ber(data))[0] in ENVELOPED
    except (Malformed, IndexError, ValueError):
        return False


def _content_info(ber: _Ber) -> tuple[bytes, int]:
    """A CMS ContentInfo's content type (its OID's bytes) and where its content starts."""
    oid, content = ber.children(0, count=2)
    return ber.primitive(oid, OID), content


class _Ber:
    """Walks BER-encoded data, element by element, within the bounds above."""

    def __init__(self, data: bytes):
        self.data, self.elements = data, 0
        self.ends: dict[int, int] = {}  # each element's end, found once: the walk down asks at every level

    def header(self, at: int) -> tuple[int, int, int | None]:
        """An element's tag byte, where its contents start, and their length (None: indefinite)."""
        data = self.data
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise Malformed("too many elements")
        tag = data[at]
        at += 1
        if tag & 0x1F == 0x1F:  # a tag number past 30: more bytes, each with its high bit but the last
            for _ in range(4):
                at += 1
                if not data[at - 1] & 0x80:
                    break
            else:
                raise Malformed("tag number too long")
        first = data[at]
        at += 1
        if first < 0x80:
            return tag, at, first
        if first == 0x80:
            if not tag & CONSTRUCTED:
                raise Malformed("indefinite length on a primitive element")
            return tag, at, None
        size = first & 0x7F
        if size > 8:
            raise Malformed("length of more than 8 bytes")
        length = int.from_bytes(data[at:at + size], "big")
        if at + size + length > len(data):
            raise Malformed("element longer than the data")
        return tag, at + size, length

    def end(self, at: int, depth: int) -> int:
        """Where the element at `at` ends (after its end-of-contents octets when indefinite)."""
        if at in self.ends:
            return self.ends[at]
        _, start, length = self.header(at)
        if length is not None:
            end = start + length
        else:
            end = start
            for _, after in self.walk(start, None, depth + 1):
                end = after
            end += len(END_OF_CONTENTS)
        self.ends[at] = end
        return end

    def walk(self, start: int, end: int | None, depth: int) -> Iterator[tuple[int, int]]:
        """Where each child of a constructed element starts and ends; its contents start at
        `start` and end at `end`, or at the end-of-contents octets when `end` is None."""
        if depth > MAX_DEPTH:
            raise Malformed("nested too deep")
        data, at = self.data, start
        while (at < end) if end is not None else (data[at:at + 2] != END_OF_CONTENTS):
            if at >= len(data):
                raise Malformed("element cut short")
            after = self.end(at, depth)
            if end is not None and after > end:
                raise Malformed("child longer than its parent")
            yield at, after
            at = after

    def children(self, at: int, count: int, depth: int = 0) -> list[int]:
        """Where the first `count` children of the constructed element at `at` start (fewer when
        it has fewer)."""
        tag, start, length = self.header(at)
        if not tag & CONSTRUCTED:
            raise Malformed("primitive element where a constructed one belongs")
        found = []
        for child, _ in self.walk(start, None if length is None else start + length, depth + 1):
            found.append(child)
            if len(found) == count:
                break
        return found

    def primitive(self, at: int, tag: int) -> bytes:
        found, start, length = self.header(at)
        if found != tag or length is None:
            raise Malformed(f"expected tag {tag:#x}, found {found:#x}")
        return self.data[start:start + length]

    def octets(self, at: int, depth: int = 0) -> bytes:
        """An OCTET STRING's bytes, its pieces joined when it is constructed."""
        tag, start, length = self.header(at)
        if tag == OCTETS:
            return self.data[start:start + length]
        if tag != OCTETS | CONSTRUCTED:
            raise Malformed(f"expected an OCTET STRING, found {tag:#x}")
        return b"".join(self.octets(child, depth + 1)
                        for child, _ in self.walk(start, None if length is None else start + length, depth + 1))
