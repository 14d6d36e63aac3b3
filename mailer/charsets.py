"""Decode bytes whose declared charset may be missing, misspelt, wrong or hostile, never raising."""

from __future__ import annotations

import binascii
import codecs
import contextlib
import contextvars
import re
from urllib.parse import unquote_to_bytes

from . import charset_guess

ISO2022JP = "iso2022_jp"  # decoded by _iso2022jp, which also reads NEC's row 13 (as CP50220 does)
# Labels seen in the wild mapped to the codec that decodes what such mail really contains.
# GB2312 and GBK are subsets of GB18030, and mail labelled gb2312 often holds GBK/GB18030 bytes.
ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
    "gb_2312-80": "gb18030", "euc-cn": "gb18030", "x-euc-cn": "gb18030", "csgb2312": "gb18030",
    "chinese": "gb18030", "ms936": "gb18030",
    "big5": "big5hkscs", "x-big5": "big5hkscs", "cn-big5": "big5hkscs", "big-5": "big5hkscs",
    "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949", "ksc5601": "cp949", "euc-kr": "cp949",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "utf-8",
    "ascii": "utf-8", "ansi_x3.4-1968": "utf-8", "unicode-1-1-utf-7": "utf-7", "utf8": "utf-8",
    "x-unknown": "", "unknown-8bit": "", "x-user-defined": "", "default": "", "iso": "",
    # Japanese mail is written by Windows: Shift_JIS as CP932, EUC-JP and ISO-2022-JP with NEC's
    # row 13 (①, ㈱, №…), which JIS X 0213 holds at the same places.
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "ms_kanji": "cp932",
    "csshiftjis": "cp932", "windows-31j": "cp932", "euc-jp": "euc_jis_2004", "x-euc-jp": "euc_jis_2004",
    "eucjp": "euc_jis_2004", "iso-2022-jp": ISO2022JP, "csiso2022jp": ISO2022JP, "iso2022jp": ISO2022JP,
    # Thai (Windows' default for Thai Outlook: TIS-620 with the Windows additions), and Apple's
    # labels for the East Asian charsets, which mean what Windows writes.
    "windows-874": "cp874", "x-windows-874": "cp874", "tis-620": "cp874", "iso-8859-11": "cp874",
    "x-mac-chinesesimp": "gb18030", "x-mac-chinesetrad": "big5hkscs", "x-mac-japanese": "cp932",
    "x-mac-korean": "cp949", "x-windows-949": "cp949", "x-mac-ce": "mac-latin2",
}
# Labels seen with a prefix or suffix around a charset Python knows: "x-cp1251", "x-mac-cyrillic",
# and RFC 1556's directional ISO 8859 labels ("iso-8859-8-i" for Hebrew, "iso-8859-6-e").
LABEL_FORMS = (re.compile(r"x-(.+)"), re.compile(r"(iso[-_]?8859[-_]\d+)[-_][ie]"))
# Python codecs that decode text but are no charset a mail may be written in: they raise on
# ordinary bytes (punycode, idna, undefined) or turn backslashes into other characters.
NOT_CHARSETS = {"punycode", "idna", "undefined", "unicode-escape", "raw-unicode-escape"}
LABEL = re.compile(r"[a-z0-9][a-z0-9._:+-]{0,39}")  # RFC 2978 names are at most 40 characters

# Tried when the declared charset fails or is absent, after the charsets the mail's other parts
# declare. UTF-8 first: strict enough that a clean decode is almost always right. The others are
# scored (mailer/charset_guess.py); among equals the earlier wins.
FALLBACKS = ("utf-8", "gb18030", "big5hkscs", "cp932", "euc_jis_2004", "cp949", "cp1252", "cp1250", "cp1251",
             "koi8_r", "cp1256", "cp1255", "cp1253", "cp874")
SURROGATES = re.compile("[\ud800-\udfff]")


def codec_for(label: str | None) -> str:
    """The Python codec for a charset label, or "" when the label is unknown, meaningless or not
    a text charset (base64, rot13, zlib and punycode are codecs, not charsets)."""
    if not label:
        return ""
    label = label.strip().strip('"').lower()
    if label in ALIASES:
        return ALIASES[label]
    if not LABEL.fullmatch(label):  # NUL bytes, spaces, 8-bit junk, absurd lengths
        return ""
    for form in LABEL_FORMS:
        found = form.fullmatch(label)
        if found and _codec(label) == "":
            return codec_for(found.group(1))
    return _codec(label)


def _codec(label: str) -> str:
    try:
        info = codecs.lookup(label)
    except LookupError:
        return ""
    if not info._is_text_encoding or info.name in NOT_CHARSETS:
        return ""
    return info.name


def is_known(label: str | None) -> bool:
    """Is this label absent, a known alias, or a real charset? (False: it will be guessed.)"""
    return not label or label.strip().strip('"').lower() in ALIASES or bool(codec_for(label))


def decode(data: bytes, declared: str | None = None) -> str:
    """Text of `data`: in the declared charset when it reads the bytes well, else in the likeliest
    charset (a few undecodable bytes replaced); never a lone surrogate, never an exception."""
    return SURROGATES.sub("\ufffd", _decode(data, declared))  # UTF-7 may decode to lone surrogates


def _decode(data: bytes, declared: str | None) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", "replace")
    codec = codec_for(declared)
    if codec in ("utf-8", "cp1252") and data.isascii() and (ESCAPED_JAPANESE.search(data) or ESCAPED_KOREAN in data):
        codec = ""  # labelled US-ASCII or Latin-1, written in ISO-2022-JP or -KR: guessed
    if not codec:
        return guess(data)
    try:
        text = _iso2022jp(data) if codec == ISO2022JP else data.decode(codec)
    except (UnicodeError, LookupError, ValueError, TypeError):
        return _damaged(data, codec)
    if codec not in ("utf-8", "utf-7", ISO2022JP) and not data.isascii():
        # A UTF-8 label on Big5/GBK bytes fails above; any other label on UTF-8 bytes "succeeds"
        # with garbage ("reÃ§ue", "Canâ€™t"). Bytes that are valid UTF-8 are taken for it when
        # they say so clearly (a sequence of three bytes or more, or several of two: two GBK
        # characters can be valid UTF-8, 谢谢 is "лл"), or when the label reads them badly.
        as_utf8 = _utf8(data)
        if as_utf8 is not None and (max(as_utf8) >= "\u0800" or len(data) - len(as_utf8) >= UTF8_EVIDENCE
                                    or charset_guess.plausibility(text[:charset_guess.SAMPLE], codec,
                                                                  labelled=True) < 1):
            return as_utf8
    if codec in SWAPPED:  # Big5 labelled GB2312 and the like: the other reads far better
        return _likelier(data, text, codec, SWAPPED[codec])
    if codec == "cp1252" and charset_guess.reads_as_other_bytes(text):
        # Latin-1 is what a program writes when it does not know: GBK, Shift_JIS or CP1251 bytes
        # under it decode without error into "ÄúºÃ£¬ÎÒ". Only a text whose accents and symbols
        # mostly come in such runs is read again (a "£", an "Ñ" or "äöüß" is Latin-1's own), and
        # only a whole reading with no sign of being wrong replaces it.
        found = _likeliest(data)
        if found and "\ufffd" not in found[1] and charset_guess.is_convincing(found[1], found[0]):
            return found[1]
    return text


UTF8_EVIDENCE = 4  # bytes of UTF-8 sequences beyond one a character (each sequence is 2 to 4 bytes)
DAMAGE = 200  # at most one character in this many undecodable, for a reading to be taken


def _tolerable(text: str) -> bool:
    """A reading with few characters it could not decode: two, or one in DAMAGE. (Which reading
    is likeliest, its damage counted against it, charset_guess.scored decides.)"""
    return text.count("\ufffd") <= max(2, len(text) // DAMAGE)


def _damaged(data: bytes, codec: str) -> str:
    """Bytes their label cannot decode: UTF-8 if they are, else the likeliest reading, the
    label's own first among equals, with the few bytes it cannot read replaced (a mail cut
    mid-character, a stray byte: the rest of a GBK mail is still GBK). A Latin-1 label that
    fails (on bytes no Latin-1 text has) is no label at all."""
    as_utf8 = None if codec == "utf-8" else _utf8(data)  # (a UTF-8 label failed already)
    if as_utf8 is not None:
        return as_utf8
    if codec == "utf-8":  # UTF-8 but for a stray byte: many sequences read, a few bytes not
        text = data.decode("utf-8", "replace")
        damaged = text.count("\ufffd")
        if _tolerable(text) and len(data) - len(text) >= 4 * damaged:
            return text
    labelled = () if codec == "cp1252" else (codec, SWAPPED[codec]) if codec in SWAPPED else (codec,)
    found = _likeliest(data, labelled)
    return found[1] if found else data.decode("utf-8", "replace")


# A Chinese label on the other Chinese charset's bytes decodes without error into rare
# ideographs and private-use characters: the other is tried, and taken when clearly likelier.
SWAPPED = {"gb18030": "big5hkscs", "big5hkscs": "gb18030"}


def _likeliest(data: bytes, first: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """(codec, text) of the likeliest of `first`, the charsets the mail's other parts declare
    (`hinted`) and FALLBACKS whose reading is tolerable (`_tolerable`), or None. A byte a
    charset cannot decode counts against it (charset_guess.scored)."""
    for _, codec in charset_guess.scored(data, first + _hint.get() + FALLBACKS[1:]):
        try:
            text = _iso2022jp(data) if codec == ISO2022JP else data.decode(codec, "replace")
        except (UnicodeError, LookupError, ValueError, TypeError):
            continue
        if _tolerable(text):
            return codec, text
    return None


def _likelier(data: bytes, text: str, codec: str, other: str) -> str:
    """The text, or the other Chinese charset's reading when clearly likelier (a rare character
    is no sign between them: names hold some, 朱镕基)."""
    if charset_guess.all_at_home(text, codec):
        return text  # ideographs and punctuation only, as almost every mail in its own charset: kept
    try:
        alternative = data.decode(other)
    except UnicodeDecodeError:
        return text
    declared = charset_guess.plausibility(text[:charset_guess.SAMPLE], codec, core=False, labelled=True)
    instead = charset_guess.plausibility(alternative[:charset_guess.SAMPLE], other, core=False, labelled=True)
    return alternative if 1 - instead < (1 - declared) / 2 else text


def _iso2022jp(data: bytes) -> str:
    """ISO-2022-JP as Windows writes it (CP50220: NEC's row 13 under ESC $ B), read by turning
    its JIS X 0208 runs into EUC-JP bytes for the JIS X 0213 codec, which holds row 13."""
    try:
        return data.decode("iso2022_jp")
    except UnicodeDecodeError:
        pass
    out, double, kana = bytearray(), False, False
    index = 0
    while index < len(data):
        if data.startswith((b"\x1b$B", b"\x1b$@"), index):
            double, kana, index = True, False, index + 3
        elif data.startswith((b"\x1b(B", b"\x1b(J"), index):
            double, kana, index = False, False, index + 3
        elif data.startswith(b"\x1b(I", index):
            double, kana, index = False, True, index + 3
        elif double and 0x21 <= data[index] <= 0x7e and index + 1 < len(data):
            out += bytes((data[index] | 0x80, data[index + 1] | 0x80))
            index += 2
        else:
            out += bytes((0x8e, data[index] | 0x80)) if kana and 0x21 <= data[index] <= 0x5f else data[index:index + 1]
            index += 1
    return bytes(out).decode("euc_jis_2004")


def guess(data: bytes) -> str:
    """The bytes in the likeliest charset: ISO-2022 when its escapes say so, UTF-8 when they
    are, else the best scored of the charsets the mail's other parts declare and FALLBACKS."""
    if ESCAPED_JAPANESE.search(data):  # 7-bit, so it "is" UTF-8: told by its escapes
        with contextlib.suppress(UnicodeDecodeError):
            return _iso2022jp(data)
    if ESCAPED_KOREAN in data:
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode("iso2022_kr")
    text = _utf8(data)
    if text is not None:
        return text
    found = _likeliest(data)
    return found[1] if found else data.decode("utf-8", "replace")


# ISO-2022-JP's and ISO-2022-KR's escapes into their double-byte sets: Japanese and Korean mail
# sent without a charset label is mostly these, in bytes that are all ASCII.
ESCAPED_JAPANESE = re.compile(rb"\x1b\$[@B]")
ESCAPED_KOREAN = b"\x1b$)C"


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# RFC 2047 encoded word. "?" never occurs inside one (Q encodes it as =3F), so each attempt
# stops at the next "?": linear, unlike email.header.decode_header (10 s on 2 MB of words).
ENCODED_WORD = re.compile(r"=\?([^?\s]*+)\?([bBqQ])\?([^?]*+)\?=")
HEADER_TEXT_LIMIT = 64 * 1024  # characters of a header value decoded; no real field is longer
MAX_SEGMENTS = 100  # RFC 2231 continuations of one parameter


def decode_words(value, limit: int = HEADER_TEXT_LIMIT) -> str:
    """Decode RFC 2047 encoded words (and raw 8-bit header bytes) into text."""
    return decode_words_reporting(value, limit)[0]


def decode_words_reporting(value, limit: int = HEADER_TEXT_LIMIT) -> tuple[str, str]:
    """(text of the first `limit` characters of a header value, a charset label of its encoded
    words that is no charset and was guessed, or ""). Words next to each other in one charset
    are decoded together: clients split a character's bytes across two words."""
    if value is None:
        return "", ""
    value = header_text(str(value)[:limit])
    if "=?" not in value:
        return value, ""
    out: list[str] = []
    unknown = ""
    pending, pending_charset = bytearray(), None  # bytes of adjacent words in one charset
    position, after_word = 0, False
    for word in ENCODED_WORD.finditer(value):
        gap = value[position:word.start()]
        position = word.end()
        charset = word.group(1).partition("*")[0].lower()  # RFC 2231 §5: charset*language
        data = _word_bytes(word.group(2), word.group(3))
        if data is not None and charset == pending_charset and not gap.strip():
            pending += data
            continue
        if pending_charset is not None:
            out.append(decode(bytes(pending), pending_charset))
            unknown = unknown or ("" if is_known(pending_charset) else pending_charset)
        if gap.strip() or not (after_word and data is not None):
            out.append(gap)  # whitespace between two encoded words is no text (RFC 2047 §6.2)
        if data is None:  # not decodable: keep the word as written
            out.append(word.group(0))
            pending, pending_charset, after_word = bytearray(), None, False
        else:
            pending, pending_charset, after_word = bytearray(data), charset, True
    if pending_charset is not None:
        out.append(decode(bytes(pending), pending_charset))
        unknown = unknown or ("" if is_known(pending_charset) else pending_charset)
    out.append(value[position:])
    return "".join(out), unknown


def _word_bytes(encoding: str, text: str) -> bytes | None:
    try:
        encoded = text.encode("ascii")  # an encoded word is ASCII; with 8-bit bytes it is none
        if encoding in "bB":
            return binascii.a2b_base64(encoded + b"=" * (-len(encoded) % 4))
        return binascii.a2b_qp(encoded, header=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None


def header_text(value: str) -> str:
    """A header value as compat32 stores it (raw 8-bit bytes as surrogate escapes) as text: UTF-8
    when it is, else the charset the mail's body declares (`hinted`) when it reads the bytes,
    else the best guess."""
    if not SURROGATES.search(value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    text = _utf8(data)
    if text is not None:
        return text
    for codec in _hint.get():
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return guess(data)


_hint: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("charset_hint", default=())


@contextlib.contextmanager
def hinted(labels: tuple[str, ...]):
    """Raw 8-bit header bytes read in the block are tried in these charsets (the body's labels:
    a mail program writes its header and body in one) before any guess, and every guess in the
    block (an unlabelled part, a label that does not fit) tries them first. Only charsets that
    need no byte-order mark: a UTF-16 part says nothing of its sibling's bytes."""
    codecs_ = tuple(dict.fromkeys(c for c in map(codec_for, labels)
                                  if c and c not in ("utf-8", ISO2022JP) and not c.startswith(("utf-16", "utf-32"))))
    token = _hint.set(codecs_)
    try:
        yield
    finally:
        _hint.reset(token)


def decode_param(params: dict[str, str], key: str) -> tuple[str, str]:
    """(value of the MIME parameter `key`, a charset label that is no charset, or ""): RFC 2231
    (key*, or continuations key*0*, key*1 …) decoded by its charset, else the value as written:
    RFC 2047 encoded words, or raw UTF-8/GBK bytes as Chinese clients send file names."""
    if key + "*" in params:
        segments = [(params[key + "*"], True)]
    elif key + "*0*" in params or key + "*0" in params:
        segments = []
        for index in range(MAX_SEGMENTS):
            if f"{key}*{index}*" in params:
                segments.append((params[f"{key}*{index}*"], True))
            elif f"{key}*{index}" in params:
                segments.append((params[f"{key}*{index}"], False))
            else:
                break
    elif key in params:
        return decode_words_reporting(params[key])
    else:
        return "", ""
    charset = ""
    first, extended = segments[0]
    if extended and first.count("'") >= 2:
        charset, _, rest = first.split("'", 2)  # charset'language'%XX…
        segments[0] = (rest, True)
    data = b"".join(unquote_to_bytes(value.encode("utf-8", "surrogateescape")) if extended
                    else value.encode("utf-8", "surrogateescape") for value, extended in segments)
    return decode(data, charset or None), "" if is_known(charset) else charset
