"""Separate the new content of a reply from quoted history and device signatures.

We evaluated mail-parser-reply (the maintained multi-language library): on the shared corpus it
matched fewer Discourse cases than these rules, and it knows none of the QQ/Foxmail/NetEase
formats, so the rules live here, one line per client, each with the client it comes from.
"""

from __future__ import annotations

import re

_ON_WROTE = r"[^\n]{0,300}(?:\n[^\n]{0,300})?"  # Gmail wraps a long "On … wrote:" over two lines

# A line that starts quoted history: everything from it on is the earlier conversation.
QUOTE_HEADERS = [re.compile(p, re.M) for p in (
    rf"^On\b{_ON_WROTE}\bwrote:[ \t]*$",                                  # Gmail, Apple Mail, Thunderbird, Yahoo
    rf"^Am\b{_ON_WROTE}\bschrieb{_ON_WROTE}:[ \t]*$",                     # German clients
    rf"^Le\b{_ON_WROTE}\ba écrit\s*:[ \t]*$",                             # French clients
    r"^[ \t]*-{2,}[ \t]*(?:Original Message|Forwarded message|Reply message)[ \t]*-{2,}[ \t]*$",  # Outlook, Gmail
    # QQ, Foxmail, Exmail
    r"^[ \t]*-{3,}(?:[ \t]|&nbsp;)*(?:原始邮件|Original|转发邮件|回复的原邮件)(?:[ \t]|&nbsp;)*-{3,}[ \t]*$",
    r"^在\s?[^\n]{0,300}写道[：:][ \t]*$",                                  # NetEase 163/126, Apple Mail zh
    r"^[^\n]{0,200}于\s?\d{4}年\d{1,2}月\d{1,2}日[^\n]{0,120}写道[：:][ \t]*$",  # Gmail zh
    r"^\d{4}年\d{1,2}月\d{1,2}日[^\n]{0,200}写道[：:][ \t]*$",               # Apple Mail zh
    # Outlook desktop/web, Alibaba Mail, Foxmail: a block of From/Sent/To/Subject header lines.
    r"^[ \t>]*\*?(?:From|发件人|寄件者)\*?\s*[:：][^\n]*\n(?:[ \t>]*\*?(?:Sent|Date|To|Cc|Subject|发送时间|"
    r"日期|时间|收件人|抄送|主题|寄件日期|收件者|主旨)\*?\s*[:：][^\n]*\n?){2,}",
    r"^_{20,}[ \t]*\n+[ \t]*\*?(?:From|发件人)",                             # Outlook web separator
    r"^-{20,}[ \t]*\n+[ \t]*(?:From|发件人)",                                # Alibaba Mail separator
)]
# Device and app signatures, removed only when they end the message.
DEVICE_SIGNATURE = re.compile(
    r"^(?:Sent from (?:my )?[\w .\-]{1,40}|Get Outlook for \w+|Sent with \w[\w ]{0,30}|"
    r"发自我的\s?[\w ]{1,20}|来自\s?[\w ]{1,20}邮箱大师|发自\s?[\w ]{1,20}邮箱大师|从我的\s?[\w ]{1,20}发送|"
    r"发自\s?[\w ]{0,10}(?:手机|客户端)[\w ]{0,10})[ \t]*$",
    re.I)
SIGNATURE_SEPARATOR = re.compile(r"^-- ?$", re.M)  # RFC 3676 §4.3 ("-- "), and its trailing-space-less twin


def extract_reply(text: str) -> str:
    """The new content of a message. Cut at the first quote header; when nothing but quotes
    precedes it, the writer answered below or between the quotes (inline reply)."""
    text = text.replace("\r\n", "\n")
    start = _first_quote_header(text)
    if start is None:
        reply = _drop_trailing_quotes(text)
    elif text[:start.start()].strip():
        reply = text[:start.start()]
    else:
        reply = _inline_reply(text[start.end():])
    return _drop_signatures(reply).strip("\n")


def _first_quote_header(text: str):
    found = [m for m in (p.search(text) for p in QUOTE_HEADERS) if m]
    return min(found, key=lambda m: m.start()) if found else None


def _drop_trailing_quotes(text: str) -> str:
    """Drop a trailing block of "> " lines, unless the writer introduced it ("The error says:")."""
    lines = text.rstrip().split("\n")
    end = len(lines)
    while end and (lines[end - 1].startswith(">") or not lines[end - 1].strip()):
        end -= 1
    if end < len(lines) and end and lines[end - 1].rstrip().endswith((":", "：")):
        return "\n".join(lines)
    return "\n".join(lines[:end])


def _inline_reply(rest: str) -> str:
    """Text after a leading quote header. One quoted block followed by new text: the new text.
    Quotes interleaved with answers: keep both, since the answers need their questions."""
    lines = rest.strip("\n").split("\n")
    quoted = [line.startswith(">") for line in lines]
    blank = [not line.strip() for line in lines]
    segments = 0
    previous = None
    for q, b in zip(quoted, blank, strict=True):
        if b:
            continue
        if q != previous:
            segments += 1
            previous = q
    if segments <= 2:  # quote then answer (or answer only)
        kept = [line for line, q in zip(lines, quoted, strict=True) if not q]
        return "\n".join(kept)
    return _drop_trailing_quotes("\n".join(lines))


def _drop_signatures(text: str) -> str:
    lines = text.rstrip().split("\n")
    while lines and (DEVICE_SIGNATURE.match(lines[-1].strip()) or not lines[-1].strip()):
        lines.pop()
    text = "\n".join(lines)
    separators = list(SIGNATURE_SEPARATOR.finditer(text))
    if separators and text[:separators[-1].start()].strip():
        text = text[:separators[-1].start()]
    return text.rstrip()


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
        if rest and rest[0].isalnum() and name.isascii():
            continue  # "Agnesa", not Agnes
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
