"""Which charset holds bytes that carry no label, or a label that cannot be theirs: each
candidate decoding is scored by how much of it reads as text of the language that charset is
written for, and the likeliest is taken.

A wrong decoding rarely fails: GB18030, the Korean and Japanese charsets and every single-byte
charset accept most byte strings. What gives it away is what it decodes to:
- characters of a script the charset is not written for (Shift_JIS read as GB18030 yields
  ideographs outside GB2312, KOI8-R read as Shift_JIS half-width katakana);
- in a CJK charset, characters outside its common core (GB2312 in GB18030, KS X 1001 in CP949);
- letters that are that script's but seldom the frequent ones: Korean read as GB18030 yields
  common-looking ideographs, yet hardly ever 的, 是, 我 or 您; Hebrew read as CP1251 yields
  Cyrillic letters, yet few of о, е, а, и, н;
- Japanese without kana, Korean in more ideographs than hangul, a lower-case letter followed by an
  upper-case one inside a word (KOI8-R read as CP1251), an ideograph between Latin letters, runs
  of accented Latin letters (CJK read as Latin-1).

Scoring reads a sample of bounded size (callers pass no more than SAMPLE characters) with a fixed
set of regular expressions: its cost does not grow with the mail beyond that sample.
"""

from __future__ import annotations

import codecs
import re

SAMPLE = 2048  # bytes scored per candidate (a thousand CJK characters); the choice then decodes all

COMMON = "\x00-\x7f\u00a0\u00a9\u00ab\u00ae\u00b0\u00b7\u00bb\u2010-\u2027\u2030-\u205e\u20ac\u2116\u2122"
# Latin-1's letters and symbols (£ § ± ² µ ½ × º…), Latin Extended-A, and what the Windows Latin
# charsets add (ƒ ˆ ˇ ˘ ˙ ˛ ˜ ˝).
LATIN = "\u00a0-\u017f\u0192\u02c6\u02c7\u02d8\u02d9\u02db\u02dc\u02dd"
CJK = "\u3000-\u303f\u4e00-\u9fff\uff01-\uff5e\uffe0-\uffe6"
KANA = "\u3041-\u30ff"
HANGUL = "\uac00-\ud7a3"
CYRILLIC = "\u0400-\u045f\u0490\u0491"
HOME = {  # the characters beyond ASCII each charset is written for
    "gb18030": CJK, "big5hkscs": CJK, "cp932": CJK + KANA, "euc_jis_2004": CJK + KANA,
    "cp949": CJK + HANGUL, "cp1252": LATIN, "cp1250": LATIN, "cp1254": LATIN, "cp1257": LATIN,
    "cp1251": CYRILLIC, "koi8_r": CYRILLIC, "koi8_u": CYRILLIC, "cp1253": "\u0384-\u03ce",
    "cp1255": "\u05be\u05d0-\u05f4",  # not the vowel points mail seldom carries
    "cp1256": "\u060c-\u064a\u0660-\u06d5",  # not its French letters, nor the vowel marks mail seldom has
    "cp874": "\u0e01-\u0e4e",  # not Thai digits, which mail seldom uses: Hebrew read as Thai yields them
}
FOREIGN = {codec: re.compile(f"[^{COMMON}{home}]+") for codec, home in HOME.items()}
# A CJK charset's common core: what its writers' text almost always stays within.
CORE = {"gb18030": "gb2312", "big5hkscs": "big5", "cp932": "shift_jis", "euc_jis_2004": "euc_jp", "cp949": "euc_kr"}
# The letters of each language that make up much of its text (Chinese and Korean: common
# characters and syllables; the alphabets: the most frequent letters), and the least share of
# the script's letters they hold in real text.
SIMPLIFIED = ("的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过发后"
              "作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心本前开但因只"
              "从想实请您谢问题单号收帮忙已吗呢件邮箱服务客户订购买支付款退货钱元联系电话间今明")
TRADITIONAL = ("的一是不了在人有我他這個們中來上大為和國地到以說時要就出會可也你對生能而子那得於著下自之年過發後"
               "作裡用道行所然家種事成方多經麼去法學如都同現當沒動面起看定天分還進好小部其些主樣理心本前開但因只"
               "從想實請您謝問題單號收幫忙已嗎呢件郵箱服務客戶訂購買支付款退貨錢元聯繫電話間今明")
# Japanese is written with kana between its ideographs; Korean mostly in hangul.
KANA_RE, IDEOGRAPH_RE, HANGUL_RE = re.compile(f"[{KANA}]+"), re.compile("[\u4e00-\u9fff]+"), re.compile(f"[{HANGUL}]+")
FREQUENT = {
    "gb18030": (re.compile(f"[{SIMPLIFIED}]+"), IDEOGRAPH_RE, 0.12),
    "big5hkscs": (re.compile(f"[{TRADITIONAL}]+"), IDEOGRAPH_RE, 0.12),
    "cp949": (re.compile("[이다는하에을가의고지기서사리요니습로한도어시게를수인대있해나자아으일보내정주거라부안전"
                         "면상그것들우제없만적말여같까세되무신번드원결확청구받못탁감합니님께드립]+"),
              HANGUL_RE, 0.25),
    "cp1251": (re.compile("[оеаинтсрвлкмдпуіОЕАИНТСРВЛКМДПУІ]+"), re.compile(f"[{CYRILLIC}]+"), 0.6),
    "cp1253": (re.compile("[αοιετσνηρπκμλςάέίόΑΟΙΕΤΣΝΗΡΠΚΜΛ]+"), re.compile("[\u0386-\u03ce]+"), 0.6),
    "cp1255": (re.compile("[יוהלארתבמשנםכע]+"), re.compile("[\u05d0-\u05ea]+"), 0.55),
    "cp1256": (re.compile("[اليمونرتبعهةدسكفأ]+"), re.compile("[\u0621-\u064a]+"), 0.55),
    "cp874": (re.compile("[านรอกเงมยลวดทสตคใไปห่้ีิัุะ]+"), re.compile("[\u0e01-\u0e4e]+"), 0.4),
}
FREQUENT["koi8_r"] = FREQUENT["koi8_u"] = FREQUENT["cp1251"]
ENOUGH_LETTERS = 6  # fewer tell nothing by their kinds
SOME_LETTERS = 4  # fewer tell nothing by their frequency
CONVINCING = 0.98  # the least plausibility of a reading that replaces its label's
# A lower-case letter followed by an upper-case one in a word: Cyrillic read in the other
# Cyrillic charset swaps the cases ("ъДТБЧУФЧХКФЕ"), Greek read as Cyrillic mixes them.
CASE_SWAP = re.compile("[а-яёіїєґα-ωάέήίόύώ][А-ЯЁІЇЄҐΑ-ΩΆΈΉΊΌΎΏ]|[А-ЯЁІЇЄҐΑ-ΩΆΈΉΊΌΎΏ]{2}[а-яёіїєґα-ωάέήίόύώ]")
# Greek: a final sigma inside a word, a medial one at its end, and words without their accent
# (every Greek word of two syllables or more carries one): Hebrew or Arabic read as Greek.
GREEK_MISPLACED = re.compile("ς(?=[α-ωά-ώ])|σ(?![α-ωά-ώΑ-Ω])")
GREEK_ACCENTED = re.compile("[άέήίόύώΆΈΉΊΌΎΏΐΰ]+")
SANDWICHED = re.compile("(?<=[A-Za-z])[\u4e00-\u9fff\uac00-\ud7af](?=[A-Za-z])")  # "K鰊nen"
# A letter of another alphabet against a Latin letter: Spanish read as CP1251, "todavнa". (An
# ideograph may follow a Latin word, "用Outlook发送", so for CJK this counts only in a text of
# a few ideographs, such as Latin-1 text read as Big5.)
TOUCHING = re.compile("(?<=[A-Za-z])[\u0370-\u06ff\u0e00-\u0e7f]|[\u0370-\u06ff\u0e00-\u0e7f](?=[A-Za-z])")
TOUCHING_CJK = re.compile(f"(?<=[A-Za-z])[{KANA}{HANGUL}\u4e00-\u9fff]|[{KANA}{HANGUL}\u4e00-\u9fff](?=[A-Za-z])")
EAST_ASIAN = re.compile(f"[{KANA}{HANGUL}\u4e00-\u9fff]+")
UPPER = re.compile("[А-ЯЁІЇЄҐΑ-ΩΆΈΉΊΌΎΏ]+")
# Latin-1 letters and symbols three or more in a row (GBK "你好" read as CP1252: "ÄãºÃ"), or a
# whole word of accented letters (Russian or Hebrew read as CP1250: "âĺđíóňü", "úĺăä"; Polish
# "Zażółć" has some ASCII).
ACCENT_RUN = re.compile("[\u00a1-\u00ff]{3,}|(?<![A-Za-z\u00c0-\u017f])[\u00c0-\u017f]{3,}(?![A-Za-z\u00c0-\u017f])")
# UTF-8 read as Latin-1: the lead byte's letter, then its continuation byte's symbol ("Ã©", "Â£";
# Ð and Ñ for Cyrillic, Î and Ï for Greek), the leads of what Latin-1 readers meet most.
UTF8_READ_AS_LATIN = re.compile("[\u00c2\u00c3\u00c5\u00ce\u00cf\u00d0\u00d1]"
                                "[\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
                                "\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a"
                                "\u20ac\u2122]")
NON_ASCII = re.compile("[^\x00-\x7f]+")
C1_CONTROLS = re.compile("[\x80-\x9f]+")  # no text's: a Latin charset's reading of another's bytes
# A Latin-1 symbol inside a word: Polish read as Latin-1, "otrzyma³em" (ł), "prosz¹" (ą).
SYMBOL_IN_WORD = re.compile("[A-Za-z\u00c0-\u017f][\u00a1-\u00bf\u00d7\u00f7](?=[A-Za-z\u00c0-\u017f])")
# A Cyrillic word of two letters or more without a vowel: Hebrew read as CP1251, "тгййп".
VOWELLESS = re.compile("(?<![а-яёіїєґА-ЯЁІЇЄҐ])[б-джзй-нп-тф-щъьБ-ДЖЗЙ-НП-ТФ-ЩЪЬґҐ]{2,}(?![а-яёіїєґА-ЯЁІЇЄҐ])")
SPACED_IDEOGRAPHS = re.compile("(?<=[\u4e00-\u9fff]) (?=[\u4e00-\u9fff])")  # Korean words read as Chinese


# The text beyond ASCII, with a character of context on each side (runs one space apart kept
# together): all the checks below look at, so ASCII text costs one pass.
BEYOND_ASCII = re.compile(r".?[^\x00-\x7f]+(?: [^\x00-\x7f]+)*.?", re.S)


def plausibility(text: str, codec: str, core: bool = True, labelled: bool = False) -> float:
    """1 less the share of the text's characters a wrong decoding into `codec` would yield.
    `core`: count the characters outside the charset's common core (not when the bytes came
    labelled GB2312 or Big5: a name in a rarer character, 朱镕基, must keep its label).
    `labelled`: the mail names this charset, so a few letters of its alphabet are not doubted
    for being few."""
    if not text:
        return 0.0
    length, text = len(text), "\n".join(BEYOND_ASCII.findall(text))
    unlikely = _count(FOREIGN[codec], text) if codec in FOREIGN else _count(C1_CONTROLS, text)
    for check in (_mojibake, _frequency, _kinds):
        if unlikely > length / 2:
            break  # lost already: the rest need not be read
        unlikely += check(text, codec, core, labelled)
    return 1 - unlikely / length


def _mojibake(text: str, codec: str, core: bool, labelled: bool) -> float:
    """Characters outside the core, and what a decoding in the wrong alphabet yields."""
    unlikely = sum(len(run) for run in ACCENT_RUN.findall(text)) + 2 * len(CASE_SWAP.findall(text))
    if HOME.get(codec) == LATIN:
        unlikely += 2 * len(UTF8_READ_AS_LATIN.findall(text)) + 2 * len(SYMBOL_IN_WORD.findall(text))
    if codec in ("cp1251", "koi8_r", "koi8_u"):
        unlikely += _count(VOWELLESS, text)
    core_charset = CORE.get(codec) if core else None
    if core_charset and not text.isascii():  # each character outside the core becomes a "?" of its own
        unlikely += text.encode(core_charset, "replace").decode(core_charset).count("?") - text.count("?")
    return unlikely


def _frequency(text: str, codec: str, core: bool, labelled: bool) -> float:
    """The script's letters, when too few of them are its frequent ones."""
    if codec not in FREQUENT:
        return 0
    frequent, letters, least = FREQUENT[codec]
    found = _count(letters, text)
    if codec in CORE and found < 2 * ENOUGH_LETTERS:
        return 0  # a subject, a name, an address: a few ideographs need hold no common one
    if found < SOME_LETTERS:
        # A few letters of an alphabet, which nothing confirms: unless the mail names the charset,
        # as likely another charset's bytes.
        return 0 if labelled else found / 2
    if _count(frequent, text) < least * found:
        return found
    if found >= 2 * ENOUGH_LETTERS and _count(UPPER, text) > 0.6 * found:
        return found // 2  # running text in capitals: Hebrew read as KOI8-R, "ЫЛЕМ, РЦИИО"
    return 0


def _kinds(text: str, codec: str, core: bool, labelled: bool) -> float:
    """Letters against Latin ones, and each script's own signs of a wrong reading."""
    unlikely = 2 * len(SANDWICHED.findall(text)) + 2 * len(TOUCHING.findall(text))
    if codec in CORE:
        east_asian = _count(EAST_ASIAN, text)
        if east_asian < ENOUGH_LETTERS:
            unlikely += 2 * len(TOUCHING_CJK.findall(text))
    if codec == "cp1253":
        unlikely += 2 * len(GREEK_MISPLACED.findall(text))
        letters = _count(FREQUENT[codec][1], text)
        if letters >= 2 * ENOUGH_LETTERS and _count(GREEK_ACCENTED, text) < 0.05 * letters:
            unlikely += letters // 2
    elif codec in ("gb18030", "big5hkscs"):
        unlikely += 2 * len(SPACED_IDEOGRAPHS.findall(text))
    elif codec in ("cp932", "euc_jis_2004"):
        ideographs = _count(IDEOGRAPH_RE, text)
        if ideographs >= SOME_LETTERS and _count(KANA_RE, text) < 0.2 * ideographs:
            unlikely += ideographs
    elif codec == "cp949":
        ideographs = _count(IDEOGRAPH_RE, text)
        if ideographs >= ENOUGH_LETTERS and _count(HANGUL_RE, text) < ideographs:
            unlikely += ideographs
    return unlikely


def reads_as_other_bytes(text: str) -> bool:
    """Does this Latin-1 reading look like another charset's bytes: eight characters or more
    beyond ASCII, most of them in runs of three (ÄúºÃ£¬) or in UTF-8's pairs (Ã©)? A Latin-1
    text's accents and symbols mostly stand alone ("£49.99", "Muñoz", "2º izq."), and a short
    run may be a list of them ("äöüß")."""
    sample = text[:SAMPLE]
    beyond = _count(NON_ASCII, sample)
    if beyond < 2 * SOME_LETTERS:
        return False
    odd = sum(len(run) for run in ACCENT_RUN.findall(sample)) + 2 * len(UTF8_READ_AS_LATIN.findall(sample))
    return odd * 2 >= beyond


def all_at_home(text: str, codec: str) -> bool:
    """Is every character of the text's sample ASCII or of the charset's own script?"""
    return not FOREIGN[codec].search(text, 0, SAMPLE)


def is_convincing(text: str, codec: str) -> bool:
    """A reading good enough to replace a label's: no sign of being wrong, and enough characters
    beyond ASCII to tell."""
    sample = text[:SAMPLE]
    return _count(NON_ASCII, sample) >= SOME_LETTERS and plausibility(sample, codec) >= CONVINCING


def _count(pattern: re.Pattern, text: str) -> int:
    """Characters in the runs `pattern` matches (a list of runs, not one of characters)."""
    return sum(map(len, pattern.findall(text)))


def scored(data: bytes, candidates: tuple[str, ...]) -> list[tuple[float, str]]:
    """(plausibility, codec) of each candidate, likeliest first; among equals, the earlier
    candidate first. A byte the candidate cannot decode counts against it twice, so a few
    damaged ones (a mail cut mid-character) do not rule out the charset of all the others."""
    sample = data[:SAMPLE]
    found = []
    for codec in dict.fromkeys(candidates):
        try:  # incremental: a character cut at the end of the sample is no decoding error
            text = codecs.getincrementaldecoder(codec)("replace").decode(sample, final=len(sample) == len(data))
        except (UnicodeError, LookupError, ValueError, TypeError):  # UTF-16 without its BOM, say
            continue
        found.append((plausibility(text, codec) - 2 * text.count("\ufffd") / max(len(text), 1), codec))
    return sorted(found, key=lambda pair: pair[0], reverse=True)
