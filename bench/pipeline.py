"""Benchmark (a) processing throughput, stored mail → committed ticket, and (c) threading accuracy.

Generates a seeded corpus (bench/mailgen.py) of realistic threads in three rounds, stores each
round as InboundMail rows, then times the pipeline over them in this one process (SQLite in WAL
mode in a fresh temporary folder). Prints mails/s, SQL statements and CPU time per mail, and the
threading check against ground truth, for the standard corpus and the harder one (whose customers
are first imported with their organisation, as an operator's `postdesk customers import` would).

    .venv/bin/python bench/pipeline.py [--threads 700] [--workers 2] [--corpus standard harder]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mailgen import Generator, organisations  # noqa: E402

from mailer import notify, pipeline, spool  # noqa: E402
from models import migrations  # noqa: E402
from models.tables import InboundMail, Message, Outbox, Ticket  # noqa: E402
from postdesk import config, runtime  # noqa: E402
from workers import handover  # noqa: E402


def acks_by_thread(mails, tickets_by_mid) -> dict:
    """What each client received: the acknowledgement of the ticket its question opened."""
    result = {}
    for mail in mails:
        if mail.kind.startswith("question"):
            ticket = tickets_by_mid.get(mail.message_id)
            ack = Outbox.get_or_none((Outbox.ticket == ticket) & (Outbox.kind == "acknowledgement"))
            if ticket is not None and ack is not None:
                result[mail.thread] = (ack.message_id, str(ticket.number), notify.reply_address(ticket))
    return result


PACKAGES = ("actions", "mailer", "models", "postdesk", "servicelevels", "web", "workers")


def compile_bytecode() -> None:
    """Compile Postdesk's modules as `pip install` does, so a process started here loads them as
    an installed service would. Where PYTHONDONTWRITEBYTECODE is set (this sandbox sets it), no
    module is ever cached and every process start compiles some sixty from source: 0.2–0.3 s of
    CPU per start, which the import figure (a whole command) would otherwise count."""
    import compileall

    for package in PACKAGES:
        compileall.compile_dir(ROOT / package, quiet=1)


COST = {"statements": 0, "cpu": 0.0}  # summed over the worker processes, for the per-mail figures


def process_all(settings, ids, mails, workers: int) -> float:
    """Process the stored rows with `workers` processes, in batches as the workers' jobs take them
    (`pipeline.process_many`: one transaction per batch); returns the wall-clock seconds. Mails
    of one thread go to the same process, in order, as they would arrive over time. Each process
    counts its SQL statements and CPU time into COST."""
    runtime.close()
    report = Path(tempfile.mkdtemp(prefix="postdesk-bench-cost-"))
    shares = [[] for _ in range(workers)]
    for inbound_id, mail in zip(ids, mails, strict=True):
        shares[mail.thread % workers].append(inbound_id)
    started = time.perf_counter()
    children = []
    for share in shares:
        pid = os.fork()
        if pid == 0:  # child: its own connection, its share, then leave without cleanup
            status = 0
            try:
                runtime.init(settings)
                statements = count_statements()
                cpu = time.process_time()
                for start in range(0, len(share), handover.BATCH_SIZE):  # as a worker's batch job does
                    for ctx in pipeline.process_many(settings, share[start:start + handover.BATCH_SIZE],
                                                     allow_defer=True):
                        if ctx.outcome == "deferred":  # it answers mail the batch could not see: alone now
                            pipeline.process(settings, ctx.row.id)
                (report / str(os.getpid())).write_text(f"{statements[0]} {time.process_time() - cpu}")
            except BaseException:
                status = 1
            os._exit(status)
        children.append(pid)
    failed = sum(os.waitpid(pid, 0)[1] != 0 for pid in children)
    elapsed = time.perf_counter() - started
    for path in report.iterdir():
        statements, cpu = path.read_text().split()
        COST["statements"] += int(statements)
        COST["cpu"] += float(cpu)
    runtime.init(settings)
    if failed:
        raise SystemExit(f"{failed} worker process(es) failed")
    return elapsed


def count_statements() -> list[int]:
    """Count every SQL statement this process sends from now on (a one-item list, kept current)."""
    from models.base import db

    counter = [0]
    database = db.obj
    send = database.execute_sql

    def counting(*args, **kwargs):
        counter[0] += 1
        return send(*args, **kwargs)
    database.execute_sql = counting
    return counter


def check_threading(all_mails) -> dict:
    """Ground truth: every mail that carries a token, a known header or a valid tag lands on its
    thread's ticket; nothing is lost or doubled; a mail that must open a ticket of its own (a
    stranger using the tag) is not on the thread's. An automatic reply that answers nothing opens
    no ticket by design: it counts as kept when its stored row was processed as such, and as
    wrong when it opened one. Also: how many of all the clients' replies (evidence or not) are
    on their thread's ticket, the figure a reader of the ticket sees."""
    tickets_by_mid = {m.message_id: m.ticket_id for m in Message.select(Message.message_id, Message.ticket)}
    kept_alone = {m for (m,) in InboundMail.select(InboundMail.message_id)
                  .where(InboundMail.outcome == "auto_reply_unthreaded").tuples()}
    thread_ticket, right, wrong, lost = {}, 0, [], []
    for mail in all_mails:
        if mail.kind.startswith("question"):
            thread_ticket[mail.thread] = tickets_by_mid.get(mail.message_id)
    must = [m for m in all_mails if m.expect in ("header", "subject_tag", "token")]
    for mail in all_mails:
        if mail.message_id not in tickets_by_mid and not (mail.kind == "auto_reply" and mail.message_id in kept_alone):
            lost.append(mail.message_id)
        elif mail.kind == "auto_reply" and mail.message_id in tickets_by_mid:
            wrong.append((mail.kind, mail.message_id))  # answers nothing we know, yet opened a ticket
        elif mail.expect == "new" and mail.thread >= 0 and not mail.kind.startswith("question") \
                and tickets_by_mid.get(mail.message_id) == thread_ticket.get(mail.thread):
            wrong.append((mail.kind, mail.message_id))  # nothing it carries may put it there
    for mail in must:
        if tickets_by_mid.get(mail.message_id) == thread_ticket.get(mail.thread):
            right += 1
        else:
            wrong.append((mail.kind, mail.message_id))
    replies = [m for m in all_mails if m.thread >= 0 and not m.kind.startswith("question")
               and m.kind != "stranger_tag"]
    on_ticket = sum(tickets_by_mid.get(m.message_id) == thread_ticket.get(m.thread) for m in replies)
    doubled = Message.select().count() - len({m.message_id for m in all_mails if m.message_id in tickets_by_mid})
    return {"must_thread": len(must), "right": right, "wrong": wrong, "lost": lost, "doubled": doubled,
            "replies": len(replies), "replies_on_ticket": on_ticket,
            "ok": not wrong and not lost and not doubled}


def print_threading(corpus: str, result: dict, tickets: int) -> None:
    print(f"[{corpus}] (c) threading: {result['right']}/{result['must_thread']} mails that carry a token, a known "
          f"header or a valid tag are on their thread's ticket; {result['replies_on_ticket']}/{result['replies']} "
          f"of all replies (with evidence or none); wrong {len(result['wrong'])}, lost {len(result['lost'])}, "
          f"doubled {result['doubled']}; tickets {tickets}")
    for kind, message_id in result["wrong"][:10]:
        print(f"    wrong: {kind} {message_id}")


CORPORA = ("standard", "harder")


def customers_csv(path: Path, threads: int) -> Path:
    """The harder corpus's customer list, as `postdesk customers import` reads it: each thread's
    customer with their organisation, so their colleagues' tags are trusted."""
    lines = ["email,name,organisation"] + [",".join(row) for row in organisations(threads)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def import_customers(settings, path: Path) -> None:
    """What `postdesk customers import FILE` does, in this process."""
    from postdesk import cli

    cli.cmd_customers_import(settings, argparse.Namespace(file=str(path)))


def run(corpus: str, threads: int, workers: int) -> bool:
    """One corpus on a fresh database: its figures printed; True when threading was right."""
    folder = Path(tempfile.mkdtemp(prefix="postdesk-bench-"))
    settings = config.from_dict({"database": {"url": f"sqlite:///{folder}/bench.db"},
                                 "paths": {"var": str(folder)},
                                 "outgoing": {"auto_reply_limit_per_hour": 1000}},
                                source="bench", base_dir=str(folder))
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    if corpus == "harder":
        import_customers(settings, customers_csv(folder / "customers.csv", threads))
    COST.update(statements=0, cpu=0.0)

    generator = Generator(harder=corpus == "harder")
    rounds = [generator.first_round(threads)]
    processed, seconds, all_mails = 0, 0.0, []
    for number in range(3):
        mails = rounds[-1]
        ids = [spool.store(m.raw, "bench", "", ("support@example.com",)) for m in mails]
        seconds += process_all(settings, ids, mails, workers)
        processed += len(ids)
        all_mails += mails
        if number < 2:
            tickets_by_mid = {m.message_id: m.ticket for m in Message.select()}
            rounds.append(generator.reply_round(acks_by_thread(all_mails, tickets_by_mid)))

    result = check_threading(all_mails)
    kinds = {}
    for mail in all_mails:
        kinds[mail.kind] = kinds.get(mail.kind, 0) + 1
    print(f"[{corpus}] corpus: {processed} mails in {threads} threads, 3 rounds (seed fixed): "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print(f"[{corpus}] (a) processing throughput, stored mail → committed ticket: {processed / seconds:.0f} mails/s "
          f"({processed} mails in {seconds:.2f} s, {workers} worker process(es), SQLite WAL); "
          f"{COST['statements'] / processed:.1f} SQL statements and {1000 * COST['cpu'] / processed:.2f} ms "
          f"of CPU per mail")
    print_threading(corpus, result, Ticket.select().count())
    runtime.close()
    return result["ok"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=700, help="client threads to generate")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes (a deployment runs one per core; this machine has 2)")
    parser.add_argument("--corpus", nargs="+", choices=CORPORA, default=list(CORPORA),
                        help="which corpora (default both; the harder one is described in bench/mailgen.py)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    compile_bytecode()
    results = [run(corpus, args.threads, args.workers) for corpus in args.corpus]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
