"""Fuzzing the parser (seeded, bounded): real mail from tests/data, damaged the ways mail is damaged
in the wild or by an attacker, always parses, quickly, with the same key the SMTP edge computes."""

import logging
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer import bounces, mime, parsing
from tests.conftest import DATA

SEEDS = sorted(p.name for p in DATA.glob("*.eml"))
CPU_SECONDS = 2  # per example, generous for a noisy 2-core machine; the real cost is milliseconds
LABELS = [b"punycode", b"utf-7", b"idna", b"rot13", b"base64", b"zlib", b"hex", b"utf\x008", b"x" * 300,
          b"\xff\xfe", b"gb2312", b"big5", b"utf-8", b""]


def nest(data: bytes, depth: int, kind: int) -> bytes:
    if kind:
        return b"Content-Type: message/rfc822\n\n" * depth + data
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=n%d\n\n--n%d\n" % (i, i) for i in range(depth))
    return opening + data + b"".join(b"\n--n%d--\n" % i for i in reversed(range(depth // 2)))


def apply(raw: bytes, kind: int, at: float, size: int, noise: bytes) -> bytes:
    """One damage: `at` (0..1) picks the place, `size` the extent, `noise` random bytes."""
    cut = int(at * len(raw))
    head_end = max(raw.find(b"\n\n"), 0)
    if kind == 0:  # flipped bytes
        data = bytearray(raw)
        for offset, byte in enumerate(noise[:size]):
            if data:
                data[(cut + offset * 7919) % len(data)] = byte
        return bytes(data)
    if kind == 1:  # truncated mid-part
        return raw[:cut]
    if kind == 2:  # header fields repeated
        return raw[:head_end] * (1 + size % 5) + raw[head_end:]
    if kind == 3:  # a charset label that lies or is not a charset
        return raw.replace(b"charset=", b"charset=" + LABELS[size % len(LABELS)] + b";x=")
    if kind == 4:  # nesting, multipart or message/rfc822
        return nest(raw, size * 3, size % 2)
    if kind == 5:  # random bytes in the header
        at_header = int(at * head_end)
        return raw[:at_header] + noise + raw[at_header:]
    if kind == 6:  # random bytes anywhere
        return raw[:cut] + noise + raw[cut:]
    if kind == 7:  # line endings changed, a BOM in front
        return b"\xef\xbb\xbf" + (raw.replace(b"\r\n", b"\n") if size % 2 else raw.replace(b"\n", b"\r\n"))
    # a boundary damaged: shortened, doubled, or a line made of it
    return raw.replace(b"boundary=", b"boundary=" + noise[:size % 4], 1) + b"\n--" + noise[:8] + b"--\n"


damages = st.lists(st.tuples(st.integers(0, 8), st.floats(0, 1), st.integers(0, 200),
                             st.binary(min_size=0, max_size=300)), min_size=1, max_size=4)


def storable(mail: parsing.ParsedMail) -> bool:
    """Every text of the ParsedMail encodes as UTF-8 (no lone surrogates): the database takes it."""
    texts = [mail.message_id, mail.from_name, mail.from_address, mail.subject, mail.text, mail.html,
             mail.reply_basis, *mail.in_reply_to, *mail.references, *mail.problems,
             *(part for pair in mail.to + mail.cc + mail.reply_to for part in pair),
             *(text for a in mail.attachments for text in (a.filename, a.content_type, a.content_id))]
    try:
        "".join(texts).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Complaints(logging.Handler):
    """Warnings, errors and tracebacks logged by our code or flufl.bounce during one example."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        if record.levelno >= logging.WARNING or record.exc_info:
            self.records.append(record)


@settings(derandomize=True, max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), damage=damages)
def test_damaged_mail_always_parses_quickly(seed, damage):
    raw = (DATA / seed).read_bytes()
    for kind, at, size, noise in damage:
        raw = apply(raw, kind, at, size, noise)
    complaints = Complaints()
    root = logging.getLogger()
    root.addHandler(complaints)
    try:
        started = time.process_time()
        mail = parsing.parse(raw)
        bounces.detect(mail)
        spent = time.process_time() - started
    finally:
        root.removeHandler(complaints)
    assert isinstance(mail, parsing.ParsedMail) and isinstance(mail.message_id, str)
    assert mail.message_id == parsing.message_id_of(raw)
    assert storable(mail)
    assert all(isinstance(problem, str) for problem in mail.problems)
    assert len(mail.problems) <= mime.MAX_PROBLEMS + 1
    assert not [p for p in mail.problems if p.startswith("unreadable:")]  # our bug, caught by parse
    assert not complaints.records, [r.getMessage() for r in complaints.records]
    assert spent < CPU_SECONDS, (seed, spent)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(raw=st.binary(max_size=3000))
def test_any_bytes_parse_and_degrade(raw):
    assert storable(parsing.parse(raw))
    degraded = parsing.parse_degraded(raw, "unreadable")
    assert storable(degraded) and degraded.attachments[0].data == raw and degraded.problems == ["unreadable"]
