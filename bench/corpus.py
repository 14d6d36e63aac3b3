"""Evaluate the mail pipeline against the real-world corpus in ../shared/corpus/.

Prints, per source and expected field, how many cases match. `--show FIELD` lists the mismatches
of one field. Skips cleanly (exit 0) when the corpus folder is absent.

    .venv/bin/python bench/corpus.py [--corpus PATH] [--show FIELD]
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailer import htmltext  # noqa: E402
from mailer.inspect import describe  # noqa: E402

DEFAULT = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def markdown_plain(text: str) -> str:
    """Discourse's expectations are Markdown: drop emphasis markers, normalise whitespace."""
    text = re.sub(r"(\*\*|__|\*|_)", "", text or "")
    return " ".join(text.split())


def eol(text):
    return (text or "").replace("\r\n", "\n").strip()


def dsn_class(bounce: dict, status) -> set[str]:
    """Recipients in the class a DSN status implies: 5xx permanent, 4xx temporary, none: either."""
    if status and status.startswith("5"):
        return {a.lower() for a in bounce["permanent"]}
    if status and status.startswith("4"):
        return {a.lower() for a in bounce["temporary"]}
    return {a.lower() for a in bounce["permanent"] + bounce["temporary"]}


def attachment_found(want: dict, got: list[dict]) -> bool:
    """php-imap names a nameless part by a hash of its own (8 hex digits): not portable, so such
    an expectation is compared by content type alone."""
    nameless = re.fullmatch(r"[0-9a-f]{8}", want["filename"])
    return any(a["content_type"] == want["content_type"] and (nameless or a["filename"] == want["filename"])
               for a in got)


def check(field: str, want, got: dict):
    """Returns (matched, what we produced) for one expectation, or None when not comparable."""
    bounce = got["bounce"]
    failed = {a.lower() for a in bounce["permanent"] + bounce["temporary"]}
    sender = got["from"] or {}
    checks = {
        "is_bounce": lambda: (bounce["is_bounce"] == want, bounce["is_bounce"]),
        "bounced_addresses": lambda: ({a.lower() for a in want} <= failed and bool(failed), sorted(failed)),
        "dsn": lambda: (all(d["recipient"].lower() in dsn_class(bounce, d.get("status")) for d in want), bounce),
        "bounce_kind": lambda: (bool(bounce["permanent"] if want == "hard" else bounce["temporary"]), bounce),
        "is_auto_generated": lambda: ((got["auto_reply"] or bounce["is_bounce"]) == want, got["auto_reply"]),
        "subject": lambda: (got["subject"] == want, got["subject"]),
        "date_utc": lambda: ((got["date"] or "").replace("T", " ").rstrip("Z") == want, got["date"]),
        "body_text": lambda: (eol(got["text"]) == eol(want), got["text"]),
        "has_html": lambda: ((got["html"] is not None) == want, got["html"] is not None),
        "body_html": lambda: (htmltext.to_text(got["html"] or "") == htmltext.to_text(want), got["html"]),
        "from_address": lambda: (sender.get("address") == (want or "").lower(), sender.get("address")),
        "to_address": lambda: (want.lower() in [t["address"] for t in got["to"]], got["to"]),
        "from_display_name": lambda: (sender.get("name", "") == want, sender.get("name")),
        "from_full": lambda: (f"{sender.get('name')} <{sender.get('address')}>".lower() == want.lower(), sender),
        "message_id": lambda: ((got["message_id"] or "").strip("<>") == want, got["message_id"]),
        "in_reply_to": lambda: ((got["in_reply_to"] or "").strip("<>") == want, got["in_reply_to"]),
        "attachment_count": lambda: (len(got["attachments"]) == want, len(got["attachments"])),
        "attachments": lambda: (all(attachment_found(a, got["attachments"]) for a in want), got["attachments"]),
        "reply_text_markdown": lambda: (markdown_plain(got["reply_text"]) == markdown_plain(want), got["reply_text"]),
        "no_sender": lambda: ("@" not in (got["from"] or {}).get("address", "")) == want and (True, got["from"])
                             or (False, got["from"]),
        "empty_body": lambda: ((not got["reply_text"].strip()) == want, got["reply_text"]),
        "auto_submitted_header": lambda: (got["auto_reply"] or bounce["is_bounce"], got["auto_reply"]),
        "x_failed_recipients_header": lambda: (want.lower() in failed, sorted(failed)),
    }
    return checks[field]() if field in checks else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT)
    parser.add_argument("--show", metavar="FIELD", help="print the mismatches of this field")
    args = parser.parse_args()
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)  # it logs each detector it runs
    if not args.corpus.is_dir():
        print(f"corpus folder {args.corpus} is absent; nothing to evaluate")
        return 0
    tally = collections.defaultdict(lambda: [0, 0])
    unmatched = []
    for expected_file in sorted(args.corpus.glob("*/*.expected.json")):
        expected = json.loads(expected_file.read_text())
        got = describe((expected_file.parent / expected["input"]).read_bytes())
        for field, want in expected.items():
            result = check(field, want, got)
            if result is None:
                continue
            ok, produced = result
            key = (expected["source"], field)
            tally[key][0] += int(bool(ok))
            tally[key][1] += 1
            if not ok and field == args.show:
                unmatched.append((expected_file.name, want, produced))
    total_ok = total = 0
    print(f"{'source':<10} {'field':<28} matched")
    for (source, field), (ok, n) in sorted(tally.items()):
        print(f"{source:<10} {field:<28} {ok:>3}/{n:<3}{'' if ok == n else '  <-'}")
        total_ok, total = total_ok + ok, total + n
    print(f"{'all':<10} {'':<28} {total_ok:>3}/{total}")
    for name, want, produced in unmatched:
        print(f"\n--- {name}\nwant: {want!r}\ngot:  {produced!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
