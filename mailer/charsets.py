"""Decode bytes whose declared charset may be missing, misspelt or wrong, never raising."""

from __future__ import annotations

import codecs

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
}

# Tried in order when the declared charset fails or is absent. UTF-8 is strict enough that a
# successful decode is almost always right; GB18030 accepts most byte strings, so Big5 is tried
# first only when it decodes cleanly *and* GB18030 does not (see guess()).
FALLBACKS = ("utf-8", "gb18030", "big5hkscs", "cp1252")


def codec_for(label: str | None) -> str:
    """The Python codec for a charset label, or "" when the label is unknown or meaningless."""
    if not label:
        return ""
    label = label.strip().strip('"').lower()
    if label in ALIASES:
        return ALIASES[label]
    try:
        return codecs.lookup(label).name
    except LookupError:
        return ""


def decode(data: bytes, declared: str | None = None) -> str:
    """Text of `data`: the declared charset when it fits, else the best guess, else replacement."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", "replace")
    codec = codec_for(declared)
    if codec:
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
        else:
            # A UTF-8 label on Big5/GBK bytes fails above; a CJK label on UTF-8 bytes "succeeds"
            # with garbage, so prefer UTF-8 when the bytes are valid UTF-8 with non-ASCII in them.
            if codec in ("gb18030", "big5hkscs", "cp949") and _is_utf8(data):
                return data.decode("utf-8")
            return text
    return guess(data)


def guess(data: bytes) -> str:
    if _is_utf8(data):
        return data.decode("utf-8")
    clean = []
    for codec in FALLBACKS[1:]:
        try:
            clean.append((codec, data.decode(codec)))
        except UnicodeDecodeError:
            continue
    if clean:
        return max(clean, key=lambda pair: _plausibility(pair[1]))[1]
    return data.decode("utf-8", "replace")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _plausibility(text: str) -> float:
    """Share of characters that are ASCII or common CJK ideographs (Big5 read as GB18030 and
    vice versa produce rare ideographs, private-use and compatibility characters)."""
    if not text:
        return 0.0
    good = sum(1 for ch in text if ch < "\x80" or "\u4e00" <= ch <= "\u9fa5" or "\u3000" <= ch <= "\u303f"
               or "\uff00" <= ch <= "\uffef")
    return good / len(text)
