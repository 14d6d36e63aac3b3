"""Separate the new content of a reply from quoted history and signatures.

The quote headers, separators and device signatures of each client and language are data, in
mailer/quote_headers.py; this module reads a message line by line and cuts at the first of them.
We measured the maintained libraries on 127 cases of tests/test_reply_languages.py (written with
these rules, so the comparison favours them): mail-parser-reply 1.36 got 42 right, unquotemail
1.0.11 40, quotequail 0.5.4 12, these rules 127. None knows the Chinese, Russian or Japanese
clients, nor most localised Outlook headers, so the rules live here.

Decided where a message is ambiguous (tests/test_reply_languages.py pins each):
- A line of "> " between the writer's own lines is theirs (a quoted log line); a block of them at
  the end is history, unless the line above introduces it with a colon ("The error says:").
- "From: the warehouse" is prose; header fields count as quoted history from three lines on (the
  writer's among them), or fewer under a rule line or in bold.
- An attribution without a date or an address ("Jean a écrit :") counts only with quotes below it.
- Lines of "***", "~~~", "===", "___" are the writer's, unless a quote header follows them.
- A forwarded message is history below the forwarder's words; with no words, it is the content.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from . import quote_headers

# A word of a name, not in lower case but for the particles of names ("van", "via"); or an address.
_NAME_WORD = (r"(?:(?:via|van|von|der|den|de|du|da|di|del|dos|das|la|le|bin|al)(?=[ \t])"
              r"|(?![a-zß-öø-ÿа-яёіїєґ])[^\s:]+|[^\s:@<>]+@[^\s:]+)")
_PLACEHOLDERS = {
    # A name stays on one line and starts with a word: "<address> wrote:" ends a wrapped "On … wrote:".
    "{name} ": rf"(?![<(\[]){_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,4}}[ \t]+",
    "{any}": r".{0,300}?",
    "{line}": r"[^\n]{0,200}?",
    # A device or app, and a carrier's ", an AT&T 5G smartphone" after it.
    "{device}": r"[\w.\-&'’®™+ ]{1,40}?(?:,[\w.\-&'’®™+ ]{1,30}?smartphone)?",
}


def _pattern(template: str) -> str:
    """A table entry as a regular expression: placeholders expanded, a space matches any run of
    white space, line breaks included (headers wrap)."""
    parts = re.split(r"(\{name\} |\{any\}|\{line\}|\{device\})", template)
    return "".join(_PLACEHOLDERS.get(part) or part.replace(" ", r"\s+") for part in parts)


def _alternatives(table) -> str:
    return "|".join(f"(?:{_pattern(template)})" for _, template in table)


@dataclass(frozen=True)
class Attribution:
    source: str
    pattern: re.Pattern


ATTRIBUTIONS = [Attribution(source, re.compile(rf"(?:{_pattern(template)})\s*[:：]", re.S))
                for source, template in quote_headers.ATTRIBUTIONS]
ANY_ATTRIBUTION = re.compile(rf"(?:{_alternatives(quote_headers.ATTRIBUTIONS)})\s*[:：]", re.S)
_OPENING = [entry for entry in quote_headers.ATTRIBUTIONS if not entry[1].startswith("{")]
OPENING_ATTRIBUTION = re.compile(rf"(?:{_alternatives(_OPENING)})\s*[:：]", re.S)  # "On …", "Am …", "Le …"
# A cheap test first: an attribution holds one of the table's words, or an address.
_WORDS = {word for _, template in quote_headers.ATTRIBUTIONS
          for word in re.findall(r"[^\W\d_]{2,}", re.sub(r"\{\w+\}|\\\w", " ", template))}
KEYWORD = re.compile("|".join(sorted(map(re.escape, _WORDS | {"@"}), key=len, reverse=True)))
ATTRIBUTION_LINES = 4  # a header wraps over at most this many lines …
ATTRIBUTION_CHARS = 400  # … and characters
SENTENCE_END = (".", "!", "?", "。", "！", "？")  # a header never wraps after the end of a sentence

_SPACE = r"(?:[ \t\u00a0]|&nbsp;)*"
_DASHES = r"[-_=*]{2,}+"  # possessive: a line of dashes alone fails at once
ORIGINAL = re.compile(rf"[ \t]*{_DASHES}{_SPACE}(?:{_alternatives(quote_headers.ORIGINAL_MESSAGE)}){_SPACE}"
                      rf"{_DASHES}[ \t]*", re.I)
FORWARDED = re.compile(rf"[ \t]*(?:{_DASHES}{_SPACE}(?:{_alternatives(quote_headers.FORWARDED_MESSAGE)}){_SPACE}"
                       rf"{_DASHES}|(?:{_alternatives(quote_headers.BEGIN_FORWARDED)})[ \t\u00a0]*[:：]?)[ \t]*",
                       re.I)

_FROM = sorted({name for _, names, _ in quote_headers.HEADER_FIELDS for name in names}, key=len, reverse=True)
_OTHER = sorted({name for _, _, names in quote_headers.HEADER_FIELDS for name in names}, key=len, reverse=True)
# "From: x", "*From:* x", "> Von : x", "发件人：x" (RFC 5322 field names, as clients localise them).
_FROM_NAMES, _OTHER_NAMES = "|".join(map(re.escape, _FROM)), "|".join(map(re.escape, _OTHER))
FIELD = re.compile(rf"[ \t\u00a0>]*(?P<bold>\*{{0,2}})(?:(?P<writer>{_FROM_NAMES})|(?P<other>{_OTHER_NAMES}))\*{{0,2}}"
                   r"[ \t\u00a0]*[:：]")
INLINE_FIELD = re.compile(rf"\s\*{{0,2}}(?:{_FROM_NAMES}|{_OTHER_NAMES})\*{{0,2}}[ \t\u00a0]*[:：]")
FIELD_NAME_END = 40  # a field's colon stands within the first characters of its line ("> *Odesílatel:*")
FIELD_LINES = 3  # a header block has at least this many fields, one of them the writer's
FIELD_SPAN = 24  # lines a header block may take, wrapped values and blank lines included
# A line drawn across, alone: not a quote marker by itself, but it goes with a header below it.
RULE = re.compile(r"[ \t>]*[-_=*~#+—–━·•]{2,}+[ \t]*")

# "----- Mail original -----" in a language the table lacks: goes with a quote header below it.
BANNER = re.compile(r"[ \t>]*[-_=*]{2,}+[^-_=*\n]{1,80}[-_=*]{2,}+[ \t]*")

DEVICE_SIGNATURE_CHARS = 300  # "Sent from my iPhone" and its app's link: a longer line is no device signature
DEVICE_SIGNATURE = re.compile(rf"(?:{_alternatives(quote_headers.DEVICE_SIGNATURES)})[ \t.!]*", re.I)
LINK = re.compile(r"<https?://[^>\s]*>|\(https?://[^)\s]*\)|\[https?://[^\]\s]*\]")
BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
SIGNATURE_SEPARATOR = re.compile(r"-- ?")  # RFC 3676 §4.3 ("-- "), and its trailing-space-less twin


# Quote headers are looked for in the first SCAN_LINES lines, attributions on the first
# ATTRIBUTION_CHECKS lines that may end one: nobody writes more above a quote, and it bounds what
# hostile mail costs.
SCAN_LINES = 10_000
ATTRIBUTION_CHECKS = 500  # lines that may end an attribution, tried in full (~0.2 ms each at worst)


@dataclass(frozen=True)
class QuoteStart:
    """Where quoted history starts: its first line, the line after its header, and what it is."""

    first: int
    after: int
    source: str
    forward: bool = False


def extract_reply(text: str, ours: frozenset[str] | tuple[str, ...] = ()) -> str:
    """The new content of a message. Cut at the first quote header; when nothing but quotes
    precedes it, the writer answered below or between the quotes (inline reply). A forwarded
    message is the forwarder's words above it, or, when they wrote none, the message itself.
    `ours`: our mailbox addresses; a quote header naming one, in any language (a block of
    fields, an attribution, a banner), is the header of our mail quoted."""
    lines = text.replace("\r\n", "\n").split("\n")
    start = find_quote_start(lines)
    if ours:
        start = _our_mail_quoted(lines, ours, start) or start
    if start is None:
        reply = _drop_signatures(_drop_trailing_quotes(lines))
    else:
        reply = _drop_signatures(_drop_trailing_quotes(lines[:start.first]))
        below = lines[start.after:]
        if not reply:
            reply = _drop_signatures(lines if start.forward else _inline_reply(below))
        elif not start.forward and _answered_within(below):  # "My answers are below:" then answers between quotes
            reply = [*reply, "", *_drop_signatures(_inline_reply(below))]
    return "\n".join(reply).strip("\n")


BANNER_OPEN = re.compile(r"(?:[-_=]{2,}+|>{3})")  # at the start of a stripped line …
BANNER_CLOSE = re.compile(r"(?:[-_=]{2}|>{3})$")  # … and at its end ("---- On … wrote ---", ">>> … >>>")


def _banner(line: str) -> bool:
    stripped = line.strip(" \t")
    opening = BANNER_OPEN.match(stripped)
    return opening is not None and opening.end() < len(stripped) and BANNER_CLOSE.search(stripped) is not None


def _our_mail_quoted(lines: list[str], ours, found: QuoteStart | None) -> QuoteStart | None:
    """A quote header above `found` (or anywhere without it) that names one of our addresses, in
    a language no table knows: a line of it ending in a colon ("… <support@…> napisał(a):"), a
    banner ("---- Am … schrieb Support <support@…> ---", GroupWise's ">>> … >>>"), or a block of
    fields ("Từ: Support <support@…>" among "Đã gửi: …", "Đến: …"). Not below a line that
    introduces it (the writer's own example), nor on the first line."""
    names = _naming(frozenset(a for a in ours if a))
    if names is None:
        return None
    end = min(len(lines), SCAN_LINES, found.first if found else len(lines))
    for index in range(1, end):
        line = lines[index]
        if "@" not in line or (line.startswith(">") and not line.startswith(">>>")) or not names.search(line):
            continue
        if _introduced(lines, index) or not BRACKETED_ADDRESS.search(line):
            continue  # "I wrote to support@example.com:" is a sentence, not a quote header
        if _banner(line) or (_ends_in_colon(line)
                                           and (re.search(r"\d", line) or _quotes_follow(lines, index))):
            return QuoteStart(_heading(lines, index), index + 1, "our mail quoted")
        if ANY_FIELD.match(line):
            top = index
            while top and index - top < ANY_BLOCK and ANY_FIELD.match(lines[top - 1]):
                top -= 1
            bottom = index + 1
            while bottom < len(lines) and bottom - top < ANY_BLOCK and ANY_FIELD.match(lines[bottom]):
                bottom += 1
            if bottom - top >= FIELD_LINES and not _introduced(lines, top):
                return QuoteStart(_heading(lines, top), bottom, "our mail quoted")
    return None


@functools.lru_cache(maxsize=16)
def _naming(addresses: frozenset[str]) -> re.Pattern | None:
    """Any of these addresses, or one of their +tag forms (support+3f2a…@), in a line; None
    for no address."""
    known = sorted(a for a in addresses if a)
    return re.compile("|".join(re.escape(a).replace("@", r"(?:\+[^@\s+]{0,64})?@") for a in known), re.I) \
        if known else None


def _answered_within(lines: list[str]) -> bool:
    """Does a "> " quote below a quote header have the writer's lines between its parts? Not a
    quote's line that lost its "> " when wrapped (right below a long quoted line that runs on),
    and nothing after a rule or a signature separator (a list's footer, a signature)."""
    started, previous = False, ""
    for line in lines:
        if not line.strip():
            previous = ""
            continue
        if line.startswith(">"):
            started, previous = True, line
            continue
        if not started or SIGNATURE_SEPARATOR.fullmatch(line) or RULE.fullmatch(line):
            return False  # not "> " quoted (Outlook's): no answers can be told in it; or a footer below it
        runs_on = len(previous) >= WRAP_WIDTH and not previous.rstrip().endswith(SENTENCE_ENDS)
        if not runs_on:
            return True
        previous = ""
    return False


WRAP_WIDTH = 60  # a quoted line this long that ends mid-sentence was wrapped by the quoting client
SENTENCE_ENDS = (".", "?", "!", ":", "。", "？", "！", "：")


# The quote header a mail client puts right above the mail it quotes: within these last lines.
HEADER_TAIL = 40


def written_above(lines: list[str], addresses: tuple[str, ...] = ()) -> str:
    """What someone wrote above a quoted mail whose first line is known (the notice's marker):
    their lines without the quote header their client put right above it (an attribution, a
    header block, an "Original Message" or forward separator, in a chain), and without device
    signatures and a "-- " block. Unlike `extract_reply`, nothing above that header is taken for
    history: "From: … To: … Subject: …" typed as an example stays. `addresses`: those the quoted
    mail's header names (its sender, its recipient): a block of fields naming one of them right
    above it is its header in any language, even one no table knows ("Từ: … / Đã gửi: …")."""
    end = len(lines)
    while end and not lines[end - 1].strip(" \t>"):
        end -= 1
    offset = max(0, end - HEADER_TAIL)
    headers = []
    while offset < end:
        start = find_quote_start(lines[offset:end])
        if start is None:
            break
        headers.append((offset + start.first, offset + start.after))
        offset += start.after
    cut = end
    for first, after in reversed(headers):  # from the quote up: headers with only fields between
        if any(line.strip(" \t>") and not _field(line) for line in lines[after:cut]):
            break
        cut = first
    return without_signatures(lines[:_heading(lines, _any_header_block(lines, cut, addresses))])


# A header field in any language: a short name, a colon, a value ("Từ: …", "จาก: …", "Dari: …").
ANY_FIELD = re.compile(r"[ \t>*]*+[^\s:：<>@*][^:：<>@\n]{0,30}+[:：][ \t*]*+\S")
ANY_BLOCK = 8  # lines a header block takes at most


def _any_header_block(lines: list[str], end: int, addresses: tuple[str, ...]) -> int:
    """Where the lines up to `end` end without the block of at least FIELD_LINES - 1 fields right
    above `end` that names one of `addresses` (with the rule and blank lines above it); `end`
    when there is none."""
    bottom = end
    while bottom and not lines[bottom - 1].strip(" \t>"):
        bottom -= 1
    names = _naming(frozenset(addresses))

    def names_one(block: list[str]) -> bool:
        return names is not None and any(names.search(line) for line in block)

    if bottom and lines[bottom - 1].rstrip().endswith((":", "：")) and names_one(lines[bottom - 1:bottom]):
        return bottom - 1  # an attribution line ("Pada … <support@…> menulis:")
    top = bottom
    while top and bottom - top < ANY_BLOCK and ANY_FIELD.match(lines[top - 1]):
        top -= 1
    return top if bottom - top >= FIELD_LINES - 1 and names_one(lines[top:bottom]) else end


ORIGINAL_WORDS = re.compile(rf"[ \t]*(?:{_alternatives(quote_headers.ORIGINAL_MESSAGE)})[ \t]*[:：]?[ \t]*", re.I)


def _heading(lines: list[str], end: int) -> int:
    """Where the lines up to a quote header's first line `end` end without what goes with that
    header above it: blank lines, the rule Outlook draws, an "Original message" line without
    its dashes (WeCom's "原始邮件")."""
    while end and (not lines[end - 1].strip(" \t>") or RULE.fullmatch(lines[end - 1])
                   or ORIGINAL_WORDS.fullmatch(lines[end - 1])):
        end -= 1
    return end


def without_signatures(lines: list[str]) -> str:
    """The lines without a device signature, a "-- " block and quoted lines at their end."""
    return "\n".join(_drop_signatures(_drop_trailing_quotes(lines))).strip("\n")


def is_forward(text: str) -> bool:
    """Does the text hold a forwarded mail ("---------- Forwarded message ---------", "Begin
    forwarded message:", in any known language)?"""
    start = find_quote_start(text.replace("\r\n", "\n").split("\n"))
    return start is not None and start.forward


# Subject prefixes of a forwarded mail (English, German, French, Spanish, Portuguese, Dutch, Nordic, Chinese).
FORWARD_SUBJECT = re.compile(r"^\s*(?:\[[^\]]{0,40}\]\s*)?(?:fwd?|fw|wg|tr|rv|enc|doorst|vs|vb|转发|轉寄|转寄|轉發)"
                             r"\s*[:：]\s*", re.I)


@dataclass(frozen=True)
class Forwarded:
    """A mail forwarded inline: who wrote it and what, and the forwarder's own words above it."""

    note: str
    sender_name: str
    sender: str
    subject: str
    text: str


# Quote starts that hold a whole header (a separator, a block of fields), unlike "On … wrote:".
HEADER_SOURCES = frozenset(source for source, _ in quote_headers.ORIGINAL_MESSAGE) | frozenset(
    source for source, _, _ in quote_headers.HEADER_FIELDS)
SUBJECT_FIELDS = frozenset(("Subject", "Betreff", "Objet", "Oggetto", "Asunto", "Assunto", "Onderwerp", "Ämne",
                            "Emne", "Temat", "Тема", "Předmět", "Aihe", "Tárgy", "Konu", "件名", "제목", "主旨",
                            "主题", "主　题"))
ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def forwarded(text: str, subject_says_so: bool = False) -> Forwarded | None:
    """The mail forwarded in this text ("---------- Forwarded message ---------", "Begin
    forwarded message:", "转发的邮件"… then its From, Date, Subject, To), when its sender's
    address is there; else None. `subject_says_so` (a "Fwd:" subject): an "Original Message"
    separator or a header block starts it too (Outlook and QQ Mail forward with those)."""
    lines = text.replace("\r\n", "\n").split("\n")
    start = find_quote_start(lines)
    if start is None or not (start.forward or (subject_says_so and start.source in HEADER_SOURCES)):
        return None
    sender = subject = None
    index, end = start.first, min(len(lines), start.after + FIELD_SPAN)
    while index < end:
        line = lines[index].lstrip(" \t>")
        found = _field(line)
        if found is None:
            if sender is not None and not line.strip():
                break  # the blank line after the fields
            index += 1
            continue
        value = line[found.end():].strip()
        if found["writer"] and sender is None:
            sender = value
        elif (found["other"] or "") in SUBJECT_FIELDS and subject is None:
            subject = value
        index += 1
    address = ADDRESS.search(sender or "")
    if address is None:
        return None
    name = (sender or "")[:address.start()].replace("mailto:", "").strip(" \t\"'<[(;").strip()
    body = lines[index:]
    if any(line.startswith(">") for line in body[:3]):  # forwarded as a quote ("> "): one level off
        body = [QUOTE_LEVEL.sub("", line) for line in body]
    return Forwarded(note=without_signatures(lines[:start.first]), sender_name=name[:255],
                     sender=address.group(0).lower(), subject=subject or "", text="\n".join(body).strip("\n"))


QUOTE_LEVEL = re.compile(r"^> ?")


# Closing words that say nothing by themselves ("Best regards," above a signature): a text made
# of them alone is no message. Compared without case, spaces and punctuation.
def _closing(line: str) -> str:
    """A line as closings are compared: letters and digits only, case folded."""
    return re.sub(r"[\W_]+", "", line).casefold()


SIGN_OFFS = frozenset(_closing(phrase) for phrase in """
regards|best regards|kind regards|warm regards|warmest regards|kindest regards|with regards|best wishes|best|
all the best|thanks|thank you|thank you all|many thanks|thanks again|thanks a lot|thank you very much|cheers|sincerely|
yours sincerely|sincerely yours|yours truly|yours faithfully|respectfully|br|rgds|take care|talk soon|
mit freundlichen grüßen|freundliche grüße|viele grüße|beste grüße|liebe grüße|grüße|gruß|mfg|lg|vg|danke|
cordialement|bien cordialement|bien à vous|salutations|merci|merci beaucoup|saludos|un saludo|saludos cordiales|
atentamente|gracias|muchas gracias|atenciosamente|abraços|obrigado|obrigada|cordiali saluti|saluti|distinti saluti|
grazie|met vriendelijke groet|vriendelijke groeten|groeten|bedankt|с уважением|спасибо|
谢谢|谢谢您|谢谢你|谢谢你们|谢谢大家|多谢|感谢|非常感谢|此致|敬礼|此致敬礼|祝好|顺祝商祺|顺颂商祺|祝商祺|顺颂时祺|祝工作顺利|祝您愉快|
謝謝|謝謝您|多謝|感謝|祝順利|よろしくお願いします|よろしくお願いいたします|宜しくお願いします|ありがとうございます|
감사합니다|고맙습니다
""".replace("\n", "").split("|") if phrase.strip())


def is_sign_off(text: str) -> bool:
    """Is every line of the text a closing phrase alone ("Best regards,", "谢谢！", "此致\n敬礼")?"""
    lines = [_closing(line) for line in text.split("\n") if line.strip()]
    return bool(lines) and all(line in SIGN_OFFS for line in lines)


def find_quote_start(lines: list[str]) -> QuoteStart | None:
    """The first line of quoted history: an "-----Original Message-----" or forward separator, a
    block of header fields, or an attribution line ("On … wrote:"), in any known language."""
    attributions = 0
    for index, line in enumerate(lines[:SCAN_LINES]):
        if not line.strip():
            continue
        start = _separator(line, index) or (None if _introduced(lines, index) else _header_block(lines, index))
        if start is None and attributions < ATTRIBUTION_CHECKS and _may_end_attribution(lines, index):
            attributions += 1
            start = _attribution(lines, index)
        if start is not None:
            first = start.first
            while first and (not lines[first - 1].strip() or RULE.fullmatch(lines[first - 1])
                             or BANNER.fullmatch(lines[first - 1])):
                first -= 1  # the rule line Outlook draws above its header goes with it, as any banner
            return QuoteStart(first, start.after, start.source, start.forward)
    return None


def _introduced(lines: list[str], index: int) -> bool:
    """Does the line above introduce this one ("I sent this mail yesterday:", "请报价：")? Then
    the fields below are the writer's own (typed or pasted), not a mail client's quote header,
    which stands below a blank line, a rule or a separator."""
    return index > 0 and _ends_in_colon(lines[index - 1])


def _ends_in_colon(line: str) -> bool:
    """Does the line end in a colon (Latin or full-width), bidi marks aside?"""
    return BIDI.sub("", line).rstrip().endswith((":", "："))


def _separator(line: str, index: int) -> QuoteStart | None:
    if FORWARDED.fullmatch(line):
        table = quote_headers.FORWARDED_MESSAGE + quote_headers.BEGIN_FORWARDED
        return QuoteStart(index, index + 1, _source(table, line), forward=True)
    if ORIGINAL.fullmatch(line):
        return QuoteStart(index, index + 1, _source(quote_headers.ORIGINAL_MESSAGE, line))
    return None


def _source(table, line: str) -> str:
    """The client a separator line comes from: the first table entry found in it."""
    return next(source for source, template in table if re.search(_pattern(template), line, re.I))


def _header_block(lines: list[str], index: int) -> QuoteStart | None:
    """A block of header fields from this line on: at least FIELD_LINES of them, the writer's among
    them; or fewer under a rule line or in bold. "From: the warehouse" in a sentence is no block."""
    field = _field(lines[index])
    if field is None:
        return None
    if field["writer"] and len(INLINE_FIELD.findall(lines[index], field.end())) >= FIELD_LINES - 1:
        return QuoteStart(index, index + 1, _block_source([field]))  # "From: x Sent: y To: z Subject: w"
    fields, last, strays = [field], index, 0
    for number in range(index + 1, min(len(lines), index + FIELD_SPAN)):
        line = lines[number]
        if not line.strip(" \t>"):
            continue
        following = _field(line)
        if following is None:
            strays += 1  # one line of a wrapped value ("To: a, b,\n c") between fields
            if strays > 1:
                break
            continue
        fields, last, strays = fields + [following], number, 0
    ruled = field["writer"] and RULE.fullmatch(_previous(lines, index))
    if any(f["writer"] for f in fields) and (len(fields) >= FIELD_LINES or ruled
                                              or (field["bold"] and len(fields) >= 2)):
        return QuoteStart(index, last + 1, _block_source(fields))
    return None


def _field(line: str) -> re.Match | None:
    if ":" not in line[:FIELD_NAME_END] and "：" not in line[:FIELD_NAME_END]:
        return None  # no field name can end this far in: spares the regex most lines of prose
    return FIELD.match(line)


def _block_source(fields: list[re.Match]) -> str:
    """The client and language of a header block: the table entry that names most of its fields."""
    names = {f["writer"] or f["other"] for f in fields}
    return max(quote_headers.HEADER_FIELDS, key=lambda entry: len(names & {*entry[1], *entry[2]}))[0]


def _previous(lines: list[str], index: int) -> str:
    """The nearest non-blank line above."""
    for number in range(index - 1, -1, -1):
        if lines[number].strip():
            return lines[number]
    return ""


def _may_end_attribution(lines: list[str], index: int) -> bool:
    """Does this line end in a colon, unquoted, with one of the table's words on it or above it?"""
    line = lines[index]
    if len(line) > ATTRIBUTION_CHARS or line.lstrip().startswith(">"):
        return False
    if not _ends_in_colon(line):
        return False
    return bool(KEYWORD.search("\n".join(lines[max(0, index - ATTRIBUTION_LINES + 1):index + 1])))


def _attribution(lines: list[str], index: int) -> QuoteStart | None:
    """An attribution ending on this line: the shortest run of lines that matches, or a longer one
    that opens with the header's first word ("On", "Am", "Le"), for a wrapped "On … wrote:" whose
    last line alone reads "Name <address> wrote:", or one that completes a partial match (the
    shortest lacks the date and address, or closes an address opened above). Without an address
    ("Вчера в 10:15 система пишет:") it counts only with quotes, or nothing, below it."""
    windows = list(_windows(lines, index))
    first, candidate = next(((f, c) for f, c in windows if ANY_ATTRIBUTION.fullmatch(c)), (None, ""))
    if first is None:
        return None
    for earlier, longer in windows:
        if earlier < first and (OPENING_ATTRIBUTION.fullmatch(longer)
                                or (_partial(candidate) and ANY_ATTRIBUTION.fullmatch(longer))):
            first, candidate = earlier, longer
    if "@" not in candidate and not _quotes_follow(lines, index):
        return None
    source = next(a.source for a in ATTRIBUTIONS if a.pattern.fullmatch(candidate))
    return QuoteStart(first, index + 1, source)


def _partial(candidate: str) -> bool:
    """The end of a wrapped header only: no date or address in it ("寫道："), or an address
    closed that opened on the line above ("support@example.com> 于…写道：")."""
    return not re.search(r"[\d@]", candidate) or candidate.count(">") > candidate.count("<")


def _windows(lines: list[str], index: int):
    """(first line, text) of the runs of lines ending on this one, shortest first: up to
    ATTRIBUTION_LINES lines and ATTRIBUTION_CHARS characters, none blank, quoted or ending a sentence."""
    for first in range(index, max(-1, index - ATTRIBUTION_LINES), -1):
        line = lines[first]
        if not line.strip() or line.lstrip().startswith(">") or (
                first < index and line.rstrip().endswith(SENTENCE_END)):
            return
        candidate = "\n".join(BIDI.sub("", line).strip() for line in lines[first:index + 1])
        if len(candidate) > ATTRIBUTION_CHARS:
            return
        yield first, candidate


def _quotes_follow(lines: list[str], index: int) -> bool:
    following = next((lines[n] for n in range(index + 1, len(lines)) if lines[n].strip()), None)
    return following is None or following.lstrip().startswith(">")


def _drop_trailing_quotes(lines: list[str]) -> list[str]:
    """Drop a trailing block of "> " lines, unless the writer introduced it ("The error says:").
    A line that names an address and ends in a colon above it is an attribution, in whatever
    language ("… <a@b.example> napisał(a):", "… menulis:"), wrapped over two lines or not: it
    goes with the block."""
    end = len(lines)
    while end and (lines[end - 1].startswith(">") or not lines[end - 1].strip()):
        end -= 1
    if end < len(lines) and end and lines[end - 1].rstrip().endswith((":", "：")):
        first, last = end - 1, lines[end - 1]
        if end >= 2 and lines[end - 2].count("<") > lines[end - 2].count(">"):
            first = end - 2  # wrapped inside "Name <address>"
        elif end >= 2 and lines[end - 2].rstrip().endswith(">") and len(last.strip()) <= WRAPPED_VERB \
                and "@" not in last:
            first = end - 2  # wrapped after it: "… Name <address>" / "a scris:"
        joined = re.sub(r"<\s+", "<", " ".join(lines[first:end])[-ATTRIBUTION_WIDTH:])
        if BRACKETED_ADDRESS.search(joined):
            return lines[:first]
        return lines
    return lines[:end]


ATTRIBUTION_WIDTH = 600  # characters of an attribution line searched for its address
WRAPPED_VERB = 40  # characters of the last line of an attribution wrapped after its address ("napisał(a):")
# An address as mail clients write it in an attribution or header ("Name <a@b>", "[mailto:a@b]"),
# not one in a sentence ("write to a@b:").
BRACKETED_ADDRESS = re.compile(r"(?:<|\[mailto:)[^<>\s@]+@[^<>\s@\]]+[>\]]")


def _inline_reply(lines: list[str]) -> list[str]:
    """Lines after a leading quote header. One quoted block followed by new text: the new text.
    Quotes interleaved with answers: keep both, since the answers need their questions."""
    quoted = [line.startswith(">") for line in lines]
    segments, previous = 0, None
    for line, q in zip(lines, quoted, strict=True):
        if line.strip() and q != previous:
            segments += 1
            previous = q
    if segments <= 2:  # quote then answer (or answer only)
        return [line for line, q in zip(lines, quoted, strict=True) if not q]
    return _drop_trailing_quotes(lines)


def _drop_signatures(lines: list[str]) -> list[str]:
    """Without the device signature ("Sent from my iPhone") and the "-- " block that end the text,
    nor the rule lines and blank lines at its ends."""
    lines = _drop_trailing_lines(lines)
    written = False  # any text above this line
    for index, line in enumerate(lines):
        if written and SIGNATURE_SEPARATOR.fullmatch(line):
            lines = _drop_trailing_lines(lines[:index])
            break
        written = written or bool(line.strip())
    first = next((index for index, line in enumerate(lines) if line.strip()), len(lines))
    return lines[first:]


def _drop_trailing_lines(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and (not lines[end - 1].strip() or RULE.fullmatch(lines[end - 1])
                   or (len(lines[end - 1]) <= DEVICE_SIGNATURE_CHARS
                       and DEVICE_SIGNATURE.fullmatch(LINK.sub("", lines[end - 1]).strip()))):
        end -= 1
    return lines[:end]


# A rule line some clients put above the signature (QQ Mail's "------------------", Foxmail's).
RULE_LINE = re.compile(r"^[ \t]*(?:-{2,}|_{2,}|—{2,}|={2,})[ \t]*$")
SIGNATURE_LINES = 8  # a signature block is at most this many lines; longer is the message itself


def drop_named_signature(text: str, names: tuple[str, ...]) -> str:
    """The text without the writer's signature block, for mail from someone whose name we know
    (an agent): the last few lines from a rule line right above their name, or from a line that
    starts with one of `names` and is no sentence ("Agnes Smith", "Agnes Smith | Support", "李娜 客服经理", not "Agnes
    will call you."). The sign-off above it ("Best regards,") stays."""
    lines = text.rstrip().split("\n")
    start = max(0, len(lines) - SIGNATURE_LINES)
    for index in range(start, len(lines)):
        line = lines[index].strip()
        signed = RULE_LINE.match(line) and any(_is_name_line(after.strip(), names)
                                               for after in lines[index + 1:index + 3])
        if index and (signed or _is_name_line(line, names)):
            return "\n".join(lines[:index]).rstrip()
    return text.rstrip()


def _is_name_line(line: str, names: tuple[str, ...]) -> bool:
    for name in (n.strip() for n in names if n and n.strip()):
        if not line.casefold().startswith(name.casefold()):
            continue
        rest = line[len(name):]
        if rest and rest[0].isalnum():
            continue  # "Agnesa", not Agnes; "李娜明天会打电话", a sentence that begins with 李娜
        if rest.rstrip().endswith((".", "?", "!", "。", "？", "！", ":", "：")):
            continue
        if len(re.split(r"[|,，·/–—-]", rest, maxsplit=1)[0].split()) <= 2:
            return True
    return False


def tidy(text: str) -> str:
    """Whitespace as a person sees it: no trailing spaces, at most one blank line in a row (Outlook
    turns each empty paragraph into a line holding a space between blank lines)."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    kept = [line for i, line in enumerate(lines) if line or (i and lines[i - 1])]
    return "\n".join(kept).strip("\n")


PGP_SIGNED = re.compile(r"-----BEGIN PGP SIGNED MESSAGE-----\n(?:[A-Za-z]+: [^\n]*\n)*\n")


def without_pgp_armour(text: str) -> str:
    """Inline-signed text (RFC 4880 §7) as the writer wrote it: without the armour lines and the
    signature block, its dash-escaped lines ("- --") restored."""
    if "-----BEGIN PGP SIGNED MESSAGE-----" not in text:
        return text
    text = text.replace("\r\n", "\n")
    start = PGP_SIGNED.search(text)
    if start is None:
        return text
    signed, _, rest = text[start.end():].partition("-----BEGIN PGP SIGNATURE-----")
    end = rest.find("-----END PGP SIGNATURE-----")  # str.find: linear, whatever the mail holds
    after = rest.find("\n", end) if end >= 0 else -1
    rest = rest[after:] if after >= 0 else ""
    signed = "\n".join(line[2:] if line.startswith("- ") else line for line in signed.split("\n"))
    return text[:start.start()] + signed.rstrip("\n") + rest

