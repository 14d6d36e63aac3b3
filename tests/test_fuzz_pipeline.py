"""Fuzzing the whole pipeline (seeded, bounded): whatever a mutated mail looks like, processing
ends in a defined outcome, never an unhandled error, and each mail's CPU time stays bounded."""

import random
import time

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from mailer import pipeline, spool
from models.tables import InboundMail
from tests.conftest import DATA

SEEDS = sorted(p.name for p in DATA.glob("*.eml"))
# What a mail may end as. "failed" and "quarantined" mean the pipeline broke on it.
DEFINED = {"new_ticket", "added", "duplicate", "auto_reply", "auto_reply_unthreaded", "bounce", "complaint", "report",
           "loop", "rejected"}
CPU_SECONDS_PER_MAIL = 5  # generous: a noisy 2-core machine; the real cost is milliseconds


def mutate(raw: bytes, rng: random.Random) -> bytes:
    """One of the ways real mail goes wrong, applied a few times."""
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(7)
        at = rng.randrange(len(data) + 1)
        if kind == 0 and data:  # flipped bytes (a bad relay, a broken client)
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1:  # truncated mid-part
            del data[at:]
        elif kind == 2:  # a charset label that lies or is not a charset at all
            label = rng.choice([b"punycode", b"utf-7", b"idna", b"rot13", b"base64", b"gb2312",
                                b"big5", b"utf\x008", b"x-unknown", b"zlib"])
            data = bytearray(bytes(data).replace(b"charset=", b"charset=" + label + b";x=", 1))
        elif kind == 3:  # headers repeated
            head = bytes(data[: max(0, bytes(data).find(b"\n\n"))])
            data[0:0] = head[: rng.randint(0, len(head))] + b"\n"
        elif kind == 4:  # raw 8-bit bytes in a header
            data[0:0] = b"Subject: \xb1\xa8\xbc\xdb\xb5\xa5 \xe6\x8a\xa5\xe4\xbb\xb7\n"
        elif kind == 5:  # deep nesting
            depth = rng.randint(10, 300)
            data += b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i)
                             for i in range(depth))
        else:  # random bytes spliced in
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
    return bytes(data)


@hypothesis_settings(derandomize=True, max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), salt=st.integers(0, 2**32 - 1))
def test_mutated_mail_always_ends_in_a_defined_outcome(settings, seed, salt):
    raw = mutate((DATA / seed).read_bytes(), random.Random(salt))
    inbound_id = spool.store(raw, "smtp", "sender@client.example", ("support@example.com",))
    started = time.process_time()
    ctx = pipeline.process(settings, inbound_id)
    spent = time.process_time() - started
    row = InboundMail.get_by_id(inbound_id)
    assert ctx.outcome in DEFINED, (seed, salt, row.error)
    assert row.state in ("processed", "rejected")
    assert spent < CPU_SECONDS_PER_MAIL, (seed, salt, spent)


@pytest.mark.parametrize("seed", ["new_question.eml", "chinese_gbk_question.eml"])
def test_the_fuzzer_changes_the_mail(seed):
    raw = (DATA / seed).read_bytes()
    assert {mutate(raw, random.Random(n)) for n in range(20)} - {raw}
