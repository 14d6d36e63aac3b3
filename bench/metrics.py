"""Time of one `/metrics` scrape at a million tickets (issue 14: "cheap at a million tickets").

Seeds a fresh SQLite database (migrated) by bulk insert: --tickets tickets (8% new, 12% open, the
rest waiting or done; a tenth of the working ones past their SLA due time), twice as many stored
mails (all processed but for a few received, rejected and quarantined, the last hour's hundred
with their outcomes), twice as many outgoing mails (sent but for some pending, failed and dead),
one SLA mark per ticket. The mails' raw bytes are short: no figure reads them (see the query
plans printed). Starts a real Redis, then scrapes through the app's test client: the first
scrape (which counts the SLA marks once) and --repeat more, median and 95th percentile in ms.

    .venv/bin/python bench/metrics.py [--tickets 1000000] [--repeat 30] [--keep]

Measured (2 cores shared with other work, SQLite): seeding 6 minutes; the first scrape 578 ms,
then median 36 ms, p95 65 ms. Of that the database's part is about 20 ms: failed attempts 5.8 ms
(the 1,400 failed and dead rows), backlog by state 4.8 ms (20,000 rejected and quarantined
entries of the state index), most overdue delivery 4.2 ms, breached tickets 3.0 ms (20,000
entries of the (status, sla_due) index), the new SLA marks 1.4 ms, the last hour's outcomes
0.8 ms, the rest under 0.5 ms; counting all million SLA marks (once per web process) 600 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import migrations  # noqa: E402
from models.base import db  # noqa: E402
from postdesk import config, embedded_redis, runtime  # noqa: E402

CHUNK = 20_000


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def chunks(rows, size=CHUNK):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def insert(table: str, columns: tuple[str, ...], rows) -> None:
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    for batch in chunks(rows):
        with db.atomic():
            db.cursor().executemany(sql, batch)


def seed(tickets: int, now: dt.datetime, rnd: random.Random) -> None:
    mailbox = db.execute_sql("SELECT id FROM mailbox LIMIT 1").fetchone()[0]
    insert("customer", ("email", "name", "organisation", "tier", "language", "bounce_state", "bounce_detail",
                        "created_at"),
           ((f"c{n}@client{n % 977}.example", "", "", "standard", "en", "", "", stamp(now)) for n in range(10_000)))
    year = 365 * 86_400

    def ticket(n):
        status = rnd.choices(("new", "open", "pending", "resolved", "closed"), (8, 12, 5, 25, 50))[0]
        created = now - dt.timedelta(seconds=rnd.uniform(0, year))
        working = status in ("new", "open")
        due = now + dt.timedelta(hours=rnd.uniform(-10, 90)) if working else None
        return (n + 1, mailbox, rnd.randint(1, 10_000), f"Subject {n}", status, "normal", "", f"tok{n}",
                "breached" if due and due < now else "", 0, "default", "{}", stamp(due) if due else None,
                stamp(created), stamp(created))
    insert("ticket", ("number", "mailbox_id", "customer_id", "subject", "status", "priority", "category",
                      "reply_token", "sla_state", "escalation_level", "sla_policy", "sla_clocks", "sla_due",
                      "created_at", "updated_at"), (ticket(n) for n in range(tickets)))
    raw = b"From: c@client.example\r\nSubject: x\r\n\r\n" + b"text " * 40

    def mail(n, total):
        if n >= total - 100:  # the last hour
            state, outcome = rnd.choice((("processed", "new_ticket"), ("processed", "added"),
                                         ("processed", "bounce"), ("received", "")))
            at = now - dt.timedelta(seconds=rnd.uniform(0, 3600))
        else:
            state, outcome = rnd.choices((("processed", "added"), ("rejected", "rejected"),
                                          ("quarantined", "quarantined")), (99_000, 900, 100))[0]
            at = now - dt.timedelta(seconds=year * (1 - n / total))
        return (raw, "", len(raw), "smtp", "", "support@example.com", f"<m{n}@x>", state, outcome, "", 1,
                stamp(at))
    mails = 2 * tickets
    insert("inbound_mail", ("raw", "trace", "size", "source", "mail_from", "rcpt_to", "message_id", "state",
                            "outcome", "error", "attempts", "received_at"), (mail(n, mails) for n in range(mails)))

    def out(n):
        state = rnd.choices(("sent", "pending", "failed", "dead"), (99_900, 30, 40, 30))[0]
        at = now - dt.timedelta(seconds=rnd.uniform(0, year)) if state == "sent" else now
        return (rnd.randint(1, tickets), f"<o{n}@example.com>", "acknowledgement", "support@example.com",
                f"c{n % 10_000}@client.example", raw, state, 1 if state == "sent" else 3, stamp(at), "", stamp(at))
    insert("outbox", ("ticket_id", "message_id", "kind", "mail_from", "rcpt_to", "raw", "state", "attempts",
                      "next_attempt_at", "last_error", "created_at"), (out(n) for n in range(2 * tickets)))
    insert("sla_mark", ("ticket_id", "clock", "run", "mark", "at"),
           ((n + 1, "first_response", "r", rnd.choice(("warning", "breach-0", "breach-1")),
             stamp(now - dt.timedelta(days=1))) for n in range(tickets)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the seeded database (it is deleted otherwise)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="postdesk-bench-metrics-"))
    redis = embedded_redis.start(folder / "redis", unixsocket=folder / "redis.sock")
    try:
        settings = config.from_dict({"database": {"url": f"sqlite:///{folder / 'postdesk.db'}"},
                                     "redis": {"url": f"unix://{folder / 'redis.sock'}"},
                                     "paths": {"var": str(folder / "var")},
                                     "mailboxes": [{"address": "support@example.com"}]}, base_dir=str(folder))
        runtime.init(settings, check_schema=False)
        migrations.migrate()
        from models import tickets
        tickets.sync_mailbox(settings.mailboxes[0])
        started = time.perf_counter()
        seed(args.tickets, dt.datetime.now(dt.UTC).replace(tzinfo=None), random.Random(14))
        print(f"seeded {args.tickets:,} tickets, {2 * args.tickets:,} stored and {2 * args.tickets:,} outgoing "
              f"mails, {args.tickets:,} SLA marks in {time.perf_counter() - started:.0f} s ({folder})")
        runtime.close()
        import web
        client = web.create_app(settings).test_client()
        timings = []
        for _ in range(args.repeat + 1):
            started = time.perf_counter()
            response = client.get("/metrics")
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.status_code
        print(f"first scrape {timings[0]:.1f} ms (counts the SLA marks once); then median "
              f"{statistics.median(timings[1:]):.1f} ms, p95 {sorted(timings[1:])[int(0.95 * args.repeat) - 1]:.1f} ms")
        for line in response.get_data(as_text=True).splitlines():
            if line.startswith(("postdesk_inbound_mails{", "postdesk_sla_marks_total", "postdesk_outbox_mails",
                                "postdesk_sla_breached", "postdesk_metrics_scrape")):
                print("  " + line)
    finally:
        embedded_redis.stop(redis)
        if not args.keep:
            shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
