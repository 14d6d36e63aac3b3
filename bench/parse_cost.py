"""CPU time of parsing.parse on hostile mail, by size: the cost per KB must stay flat (linear).

    .venv/bin/python bench/parse_cost.py [--sizes 24,60,300,1024]

Poison HTML (unclosed "<a " tags, "x<y" text, deep <div> nesting: quadratic in the stdlib's
html.parser and in HTML5 tree builders), 2 MB address and RFC 2047 headers, and multipart
nesting. Exits non-zero when 1 MB of poison HTML takes more than 2 s of CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailer import parsing  # noqa: E402

HEAD = b"From: a@client.example\r\nTo: support@example.com\r\nMessage-ID: <cost@client.example>\r\n"
CEILING_SECONDS = 2.0  # for 1 MB of poison HTML


def html_mail(unit: bytes, size: int) -> bytes:
    return HEAD + b"Subject: poison\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + unit * (size // len(unit))


def header_mail(name: bytes, size: int) -> bytes:
    if name == b"Subject":
        value = b" ".join(b"=?utf-8?B?5L2g5aW9?=" for _ in range(size // 21))
    else:
        value = b", ".join(b"User %d <u%d@client.example>" % (i, i) for i in range(size // 30))[:size]
    return HEAD.replace(b"To: support@example.com\r\n", b"") + name + b": " + value + b"\r\n\r\nhi\r\n"


def nested_mail(depth: int) -> bytes:
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(depth))
    return HEAD + opening + b"Content-Type: text/plain\r\n\r\ndeep\r\n" + b"\r\n" * 200_000


def cost(raw: bytes) -> float | str:
    started = time.process_time()
    try:
        parsing.parse(raw)
    except Exception as exc:  # what the code before issue 8 did with some of these
        return f"failed: {type(exc).__name__}"
    return time.process_time() - started


def row(label: str, raw: bytes, seconds) -> None:
    kb = len(raw) / 1024
    if isinstance(seconds, str):
        print(f"{label:<36} {kb:>6.0f} {seconds}")
    else:
        print(f"{label:<36} {kb:>6.0f} {seconds:>7.3f} {1000 * seconds / kb:>7.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="24,60,300,1024", help="poison HTML sizes in KB")
    args = parser.parse_args()
    sizes = [int(kb) for kb in args.sizes.split(",")]
    print(f"{'mail':<36} {'KB':>6} {'CPU s':>7} {'ms/KB':>7}")
    worst = 0.0
    cases = [("HTML, unclosed '<a ' lines", b"<a \n"), ("HTML, 'x<y' repeated", b"x<y "),
             ("HTML, <div> nested", b"<div>x"), ("HTML, <p> with U+00A0 and &", "<p>a\xa0b&c".encode()),
             ("HTML, <select> of <option>s", b"<select><option>x")]
    for name, unit in cases:
        for kb in sizes:
            raw = html_mail(unit, kb * 1024)
            seconds = cost(raw)
            if kb == 1024 and "<a" in name:
                worst = seconds if isinstance(seconds, float) else float("inf")
            row(name, raw, seconds)
    for name in (b"To", b"Cc", b"From", b"Subject"):
        raw = header_mail(name, 2 * 1024 * 1024)
        row(f"2 MB {name.decode()} header" + (" (encoded words)" if name == b"Subject" else ""), raw, cost(raw))
    for depth in (10, 1000):
        raw = nested_mail(depth)
        row(f"multipart nested {depth} deep", raw, cost(raw))
    if worst > CEILING_SECONDS:
        print(f"FAIL: 1 MB of poison HTML took {worst:.2f} s (ceiling {CEILING_SECONDS} s)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
