"""Address lists (From, To, Cc…) read as RFC 5322 wants them and as clients write them: bounded
work on any value, display names decoded, and the habits that hide an address from the stdlib's
getaddresses (a name holding a comma or an "@" unquoted, the whole address in an encoded word)
undone first."""

from __future__ import annotations

import re
from email.utils import getaddresses

from . import charsets
from .charsets import ENCODED_WORD, decode_words

MAX_ADDRESS = 254  # RFC 5321's limit, and the column's
ADDRESS_LIMIT = 64 * 1024  # characters of To/Cc/From… given to getaddresses (~0.5 s per MB)
MAX_ADDRESSES = 1000  # nobody answers a thousand people
# One address: a local part and a dotted domain, nothing a mail would never carry (spaces, commas,
# semicolons, angle brackets, a second @). Any script is fine (李雷@例子.中国).
ADDRESS = re.compile(r"[^\s@,;<>()\[\]\\\"]{1,64}@[^\s@,;<>()\[\]\\\".]{1,63}(?:\.[^\s@,;<>()\[\]\\\".]{1,63})+")
COMMENT_SPECIALS = re.compile(r'\\.|["()]', re.S)
# RFC 5322 §2.2.3 unfolding: a line break before white space is no part of the value (a folded
# file name; a CR inside a comment ends getaddresses' comment reading and loses the address).
FOLD = re.compile(r"\r?\n(?=[ \t])")
# Address-list tokens: quoted strings, comments, angle addresses, commas, and the rest.
ADDRESS_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*+"?|\((?:[^()\\]|\\.)*+\)?|<[^<>]*+>?|,|[^",<(]++|[<(]')
BARE_WORDS = re.compile(r'[^"<>@:;()\\]*+')
# The plain address most fields hold: `name@domain`, or a display name (words of atext, or one
# quoted string without escapes) and `<name@domain>`.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
PLAIN_ADDRESS = re.compile(rf'[ \t]*(?:(?:(?P<name>{_ATOM}(?: {_ATOM})*)|"(?P<quoted>[^"\\\r\n]*)")[ \t]*'
                           rf'<(?P<angle>{_ADDR_SPEC})>|(?P<bare>{_ADDR_SPEC}))[ \t]*')


# Characters that change how a line reads without being seen (bidi overrides: a subject ending
# "\u202efdp.exe" shows as "exe.pdf"), and controls no line holds (NUL, ESC, BEL…).
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """A subject or a name as it is kept, shown and sent back: one line, single spaces, without
    bidi controls and control characters."""
    return " ".join(CONTROLS.sub(" ", BIDI_CONTROLS.sub("", text)).split())


def without_tag(address: str) -> str:
    """The address without its +tag: agnes+helpdesk@example.com is agnes@example.com's."""
    local, at, domain = address.rpartition("@")
    return f"{local.partition('+')[0]}{at}{domain}"


def addresses(values: list) -> list[tuple[str, str]]:
    result = []
    for name, address in split_addresses(values):
        # Keep a mailbox without a domain ("no_host", "MAILER-DAEMON"): it is what the header says;
        # the pipeline refuses it as a sender it cannot answer.
        address = kept_address(address)
        if address and len(address) <= MAX_ADDRESS:
            result.append((one_line(decode_words(name))[:255], address))
    return result


def kept_address(address: str) -> str:
    """An address as it is kept and compared, in lower case; "" when it is no address: one holding
    white space, a control or an invisible format character. No real mailbox holds those, and
    they are how a sender hides: a bidi override shows `billing\u202emoc.elpmaxe@x` as an address
    of ours on every page, and a zero-width space makes a look-alike domain pass for a client's
    (it must not be taken for theirs by dropping the character)."""
    address = address.strip()
    return address.lower() if address.isprintable() and " " not in address else ""


def is_plain_address(address: str) -> bool:
    """One address as a person types it (an agent, a collaborator, a customer file's row), white
    space around it aside."""
    address = address.strip()
    return ADDRESS.fullmatch(address) is not None and kept_address(address) == address.lower()


def split_addresses(values: list) -> list[tuple[str, str]]:
    """email.utils.getaddresses on at most ADDRESS_LIMIT characters (cut after the last whole
    address) and its first MAX_ADDRESSES results: it costs ~0.5 s per MB, and no mail is
    answered to a thousand people. Nested comments are flattened first (see _flat_comments)."""
    kept, size = [], 0
    for value in values:
        kept.append(_address_words(charsets.header_text(FOLD.sub("", str(value)[:ADDRESS_LIMIT]))))
        size += len(kept[-1]) + 2
        if size > ADDRESS_LIMIT:
            break
    joined = ", ".join(kept)
    if len(joined) > ADDRESS_LIMIT:
        cut = joined.rfind(",", 0, ADDRESS_LIMIT)
        joined = joined[:cut if cut > 0 else ADDRESS_LIMIT]
    plain = _plain(joined)
    if plain is not None:
        return plain[:MAX_ADDRESSES]
    return getaddresses([_quoted_names(_flat_comments(joined))])[:MAX_ADDRESSES]


def _plain(value: str) -> list[tuple[str, str]] | None:
    """What getaddresses returns for a list of plain addresses (PLAIN_ADDRESS: most mail's From,
    To and Cc), read by one regex at a fraction of its cost; None for anything else."""
    found = []
    for piece in value.split(","):
        match = PLAIN_ADDRESS.fullmatch(piece)
        if match is None:
            return None
        name, quoted, angle, bare = match.group("name", "quoted", "angle", "bare")
        found.append((name or quoted or "", angle or bare))
    return found


def _address_words(value: str) -> str:
    """A field whose only address is inside an encoded word (`=?utf-8?b?…?=` holding `"Name"
    <a@b>`, which RFC 2047 §5 forbids and some clients write): those words decoded, so the
    address can be read. Words elsewhere stay for the display name's decoding."""
    if "=?" not in value or "@" in ENCODED_WORD.sub("", value):
        return value
    return ENCODED_WORD.sub(lambda word: _decoded_if_address(word.group()), value)


def _decoded_if_address(word: str) -> str:
    text = decode_words(word)
    return text if "@" in text else word


def _quoted_names(value: str) -> str:
    """Display names quoted where RFC 5322 wants them and clients do not: one holding a comma
    (`Test TEST, test<test@test.com>`, `Smith, John <j@x.example>`: words without an address
    before a name-addr start its name) or an "@" (`boss@x.example <mallory@y.example>` is
    mallory's mail, which getaddresses would read as two addresses, boss's first)."""
    if "<" not in value:
        return value
    segments, current = [], []
    for token in ADDRESS_TOKEN.finditer(value):
        if token.group() == ",":
            segments.append(current)
            current = []
        else:
            current.append(token.group())
    segments.append(current)
    out, pending = [], []
    for tokens in segments:
        segment = "".join(tokens)
        if segment.strip() and BARE_WORDS.fullmatch(segment):
            pending.append(segment)
            continue
        angle = next((i for i, t in enumerate(tokens) if t.startswith("<") and "@" in t), None)
        phrase = "".join(tokens[:angle]) if angle is not None else ""
        if angle is not None and (pending or ("@" in phrase and not phrase.lstrip().startswith(('"', "(")))):
            name = ",".join(pending + [phrase]).replace('"', "").replace("\\", "").strip()
            segment = f'"{name}" ' + "".join(tokens[angle:])
        else:
            out += pending
        out.append(segment)
        pending = []
    return ",".join(out + pending)


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
