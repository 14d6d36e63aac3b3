"""Peak memory of one large mail: the SMTP edge receiving it and a worker processing it.

    python bench/memory.py [--attachment-mb 50] [--factor 5]

Sends a mail with one random attachment of the given size (base64 makes the mail about 1.37×
larger) through a real `postdesk smtp`, then processes it in a fresh `postdesk replay` process,
and prints each process's peak resident memory (VmHWM) above its idle baseline, as a multiple of
the mail's size. Exits non-zero when either multiple is over --factor (issue 7: "within a few
times its size")."""

from __future__ import annotations

import argparse
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def big_mail(size: int) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Alice <alice@client.example>"
    mail["To"] = "support@example.com"
    mail["Subject"] = "The log files you asked for"
    mail["Message-ID"] = "<big-attachment@client.example>"
    mail.set_content("Here are the logs.\n")
    mail.add_attachment(os.urandom(size), maintype="application", subtype="octet-stream",
                        filename="logs.bin")
    return mail.as_bytes().replace(b"\n", b"\r\n")  # as on the wire


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--attachment-mb", type=float, default=50)
    parser.add_argument("--factor", type=float, default=5)
    args = parser.parse_args()
    raw = big_mail(int(args.attachment_mb * 1024 * 1024))
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        port = free_port()
        config.write_text(f'[paths]\nvar = "{tmp}/var"\n[database]\nurl = "sqlite:///{tmp}/pd.db"\n'
                          f'[redis]\nurl = "redis://127.0.0.1:1/0"\n'  # no Redis: the sweeper's job
                          f'[smtp]\nport = {port}\nmax_message_bytes = {len(raw) + 1024}\n'
                          '[[mailboxes]]\naddress = "support@example.com"\n')
        env = dict(os.environ, POSTDESK_CONFIG=str(config))
        postdesk = [sys.executable, "-m", "postdesk"]
        subprocess.run(postdesk + ["migrate"], env=env, check=True, capture_output=True, cwd=ROOT)
        edge = subprocess.Popen(postdesk + ["smtp"], env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            idle = kib(edge.pid, "VmRSS")
            with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
                smtp.sendmail("alice@client.example", ["support@example.com"], raw)
            edge_peak = kib(edge.pid, "VmHWM") - idle
        finally:
            edge.terminate()
            edge.wait()
        probe = ("import resource, sys, json\n"
                 "from postdesk import config, runtime\n"
                 "from workers import processing\n"
                 "s = runtime.init(config.load())\n"
                 "from models.tables import InboundMail\n"
                 "row_id = InboundMail.select(InboundMail.id).scalar()\n"
                 "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
                 "outcome = processing.process_stored(s, row_id)\n"
                 "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
                 "print(json.dumps({'outcome': outcome, 'kib': peak - base}))\n")
        done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True,
                              text=True)
        if done.returncode:
            print(done.stderr, file=sys.stderr)
            return 2
        import json
        result = json.loads(done.stdout.strip().splitlines()[-1])
    size_mib = len(raw) / 2**20
    edge_x, worker_x = edge_peak / 1024 / size_mib, result["kib"] / 1024 / size_mib
    print(f"mail {size_mib:.1f} MiB ({args.attachment_mb:g} MiB attachment)")
    print(f"SMTP edge peak above idle: {edge_peak / 1024:.0f} MiB = {edge_x:.1f}x the mail")
    print(f"worker peak while processing: {result['kib'] / 1024:.0f} MiB = {worker_x:.1f}x "
          f"the mail (outcome {result['outcome']})")
    return 0 if max(edge_x, worker_x) <= args.factor else 1


if __name__ == "__main__":
    sys.exit(main())
