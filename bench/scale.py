"""Scale-out figures (issue 14): sustained ingest (SMTP to committed ticket) and delivery with 1, 2
and 4 workers, on PostgreSQL and SQLite side by side in one run; and each process's memory as the
mail count grows (it must not grow with it).

For each database and worker count, a fresh installation: a real Redis, one `postdesk smtp`, N
`postdesk worker` processes, outgoing mail written to a folder (a delivery: the acknowledgement
written). --mails new questions, each from its own client, go in over --connections SMTP
connections. Ingest: mails per second from the first sent to the last processed; delivery:
acknowledgements per second from the first sent to the last written. PostgreSQL is a private
server (Debian's package, as the tests start it) with fsync on and synchronous_commit off: a power
cut may lose the last commits, as SQLite's WAL with synchronous=normal may.

--memory N: one installation per database with 2 workers takes N mails in ten rounds, and each
process's resident memory is printed after each; exits 1 when a process grew by more than a
quarter (and 30 MB) from the second round to the last.

    .venv/bin/python bench/scale.py [--mails 3000] [--workers 1 2 4] [--databases postgresql sqlite]
    .venv/bin/python bench/scale.py --memory 100000 [--databases postgresql]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from smtp_end_to_end import cpu_seconds, free_port, send_all, wait_listening  # noqa: E402

from models.tables import InboundMail  # noqa: E402
from postdesk import config, embedded_redis, runtime  # noqa: E402
from tests.conftest import to_toml  # noqa: E402
from tests.postgres import Cluster  # noqa: E402

GROWTH = 1.25  # --memory: at most this much more resident memory at the end than after the second round
GROWTH_FLOOR_MB = 30


@dataclass
class Mail:
    raw: bytes


def questions(start: int, count: int) -> list[Mail]:
    return [Mail((f"From: Client {n} <client{n}@scale.example>\r\nTo: support@example.com\r\n"
                  f"Subject: Question {n}\r\nMessage-ID: <scale-{n}@scale.example>\r\n"
                  f"Content-Type: text/plain; charset=utf-8\r\n\r\nHello, question {n}: my invoice is wrong.\r\n")
                 .encode()) for n in range(start, start + count)]


class Installation:
    """Redis, one SMTP edge and `workers` workers on a fresh database of the given kind."""

    def __init__(self, kind: str, workers: int, cluster: Cluster | None):
        self.folder = Path(tempfile.mkdtemp(prefix=f"postdesk-bench-scale-{kind}-{workers}-"))
        self.smtp_port, redis_port = free_port(), free_port()
        if kind == "postgresql":
            name = f"scale_{workers}_{int(time.time() * 1000) % 10**9}"
            cluster.execute(f"CREATE DATABASE {name}")
            url = cluster.url(name)
        else:
            url = f"sqlite:///{self.folder / 'postdesk.db'}"
        path = self.folder / "config.toml"
        path.write_text(to_toml({
            "database": {"url": url}, "redis": {"url": f"redis://127.0.0.1:{redis_port}/0"},
            "paths": {"var": str(self.folder / "var")}, "smtp": {"port": self.smtp_port},
            "outgoing": {"folder": str(self.folder / "sent"), "auto_reply_limit_per_hour": 1000},
            "mailboxes": [{"address": "support@example.com", "name": "Support"}]}))
        self.settings = config.load(path, environ={})
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("POSTDESK_")},
                    "POSTDESK_CONFIG": str(path)}
        self.redis = embedded_redis.start(self.folder / "redis", port=redis_port)
        subprocess.run([sys.executable, "-m", "postdesk", "migrate"], env=self.env, check=True, capture_output=True)
        self.parts = ["smtp"] + ["worker"] * workers
        self.processes = [subprocess.Popen([sys.executable, "-m", "postdesk", part], env=self.env,
                                           stdout=open(self.folder / f"{part}-{i}.log", "wb"),
                                           stderr=subprocess.STDOUT)
                          for i, part in enumerate(self.parts)]
        runtime.init(self.settings)
        wait_listening(self.smtp_port)
        time.sleep(1)  # the workers up too

    def take(self, mails: list[Mail], connections: int, expected: int) -> tuple[float, float]:
        """Send the mails; seconds until all `expected` are processed, and until as many
        acknowledgements are written."""
        started = time.perf_counter()
        send_all(self.smtp_port, mails, connections)
        processed = delivered = None
        deadline = started + 1800
        while (processed is None or delivered is None) and time.perf_counter() < deadline:
            if processed is None and not InboundMail.select().where(InboundMail.state == "received").exists() \
                    and InboundMail.select().count() >= expected:
                processed = time.perf_counter() - started
            sent = self.settings.path(self.settings.outgoing.folder)
            if delivered is None and sent.exists() and sum(1 for _ in sent.iterdir()) >= expected:
                delivered = time.perf_counter() - started
            time.sleep(0.05)
        if processed is None or delivered is None:
            raise SystemExit(f"{self.folder}: not all of {expected} mails processed and acknowledged in time")
        return processed, delivered

    def memory_mb(self) -> list[float]:
        """Resident memory of each process (MB), in the order of self.parts."""
        def rss(pid: int) -> float:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
            return 0.0
        return [rss(p.pid) for p in self.processes]

    def close(self) -> None:
        runtime.close()
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=60)
        embedded_redis.stop(self.redis)


def throughput(args, cluster) -> None:
    print(f"{args.mails} new questions over {args.connections} SMTP connections, one smtp process; "
          "mails per second from the first sent to the last processed (ingest) and acknowledged (delivery)")
    print(f"{'database':<11} {'workers':>7} {'ingest/s':>9} {'delivery/s':>10} {'CPU ms/mail':>11} {'RSS MB':>24}")
    for workers in args.workers:
        for kind in args.databases:
            installation = Installation(kind, workers, cluster)
            try:
                before = [cpu_seconds(p.pid) for p in installation.processes]
                processed, delivered = installation.take(questions(0, args.mails), args.connections, args.mails)
                cpu = sum(cpu_seconds(p.pid) - b for p, b in zip(installation.processes, before, strict=True))
                memory = " ".join(f"{m:.0f}" for m in installation.memory_mb())
                print(f"{kind:<11} {workers:>7} {args.mails / processed:>9.0f} {args.mails / delivered:>10.0f} "
                      f"{1000 * cpu / args.mails:>11.2f} {memory:>24}", flush=True)
            finally:
                installation.close()


def memory(args, cluster) -> int:
    status = 0
    rounds = 10
    per_round = max(1, args.memory // rounds)
    for kind in args.databases:
        installation = Installation(kind, 2, cluster)
        try:
            print(f"[{kind}] resident memory (MB) of smtp, worker, worker after each {per_round} mails:")
            seen = []
            for number in range(rounds):
                installation.take(questions(number * per_round, per_round), args.connections,
                                  (number + 1) * per_round)
                seen.append(installation.memory_mb())
                print(f"  {(number + 1) * per_round:>7} mails: " + " ".join(f"{m:6.0f}" for m in seen[-1]),
                      flush=True)
            for part, early, late in zip(installation.parts, seen[1], seen[-1], strict=True):
                if late > early * GROWTH and late - early > GROWTH_FLOOR_MB:
                    print(f"  {part}: grew from {early:.0f} to {late:.0f} MB", flush=True)
                    status = 1
        finally:
            installation.close()
    print("memory: " + ("a process grew with the mail count" if status else "no process grew with the mail count"))
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=3000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--databases", nargs="+", choices=("postgresql", "sqlite"), default=["postgresql", "sqlite"])
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--memory", type=int, default=0, metavar="N", help="the memory run over N mails instead")
    args = parser.parse_args()
    cluster = None
    if "postgresql" in args.databases:
        cluster = Cluster(free_port(), durable=True)
        cluster.start()
    try:
        if args.memory:
            return memory(args, cluster)
        throughput(args, cluster)
        return 0
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    raise SystemExit(main())
