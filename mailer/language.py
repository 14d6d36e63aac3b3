"""The language a client writes in, for the mail we send them: Chinese by its script (Han
characters, and no Japanese kana or Korean hangul beside them), or, when the text cannot tell
(a short English line from a Chinese mail program), by a Chinese charset; else unknown."""

from __future__ import annotations

SAMPLE = 4000  # characters looked at: enough to tell, bounded whatever the mail's size
CHINESE_CHARSETS = frozenset({"gb2312", "gbk", "gb18030", "hz-gb-2312", "big5", "big5-hkscs", "cp936", "cp950",
                              "euc-cn", "x-gbk", "x-euc-tw"})


def detect(text: str, charsets: tuple[str, ...] = ()) -> str:
    """"zh" when the text is written in Chinese, or carries no script of its own and came in a
    Chinese charset; "" when it cannot tell (the caller's default)."""
    han = kana = hangul = letters = 0
    for char in text[:SAMPLE]:
        code = ord(char)
        if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF:
            han += 1
        elif 0x3040 <= code <= 0x30FF:
            kana += 1
        elif 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF:
            hangul += 1
        elif char.isalpha():
            letters += 1
    if han >= 2 and not kana and not hangul and han * 4 >= letters:
        return "zh"
    if not han and not kana and not hangul and CHINESE_CHARSETS.intersection(charsets):
        return "zh"
    return ""
