"""Benchmark: `postdesk import --no-notify` of bench/mailgen.py's corpus, the whole command in one process.

The corpus is what a first installation received: the three rounds of bench/pipeline.py, each
reply written to the acknowledgement that installation really sent (built here in-process, not
timed). Every mail is written as one .eml into a folder; then `postdesk import --no-notify
FOLDER` runs as a subprocess on a fresh database, start-up included, and this prints mails/s
(wall clock), its CPU time per mail and the threading check. Exits 1 under 600 mails/s on the
standard corpus, or when a mail is lost, doubled or on the wrong ticket.

On import, a reply that carried only the first installation's reply-token address has nothing
left that names its ticket (the token is that database's), so it is expected to open a ticket
of its own; every other rule (In-Reply-To or References naming a mail in the folder, a trusted
tag) must still find the thread's ticket.

    .venv/bin/python bench/import_speed.py [--threads 700] [--corpus standard harder]
"""

from __future__ import annotations

import argparse
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mailgen import Generator  # noqa: E402
from pipeline import CORPORA, acks_by_thread, check_threading, compile_bytecode, customers_csv, print_threading  # noqa: E402

from mailer import importer  # noqa: E402
from models.tables import Message, Ticket  # noqa: E402
from postdesk import config, runtime  # noqa: E402

TARGET = 600  # mails/s, issue 13


def write_config(folder: Path) -> Path:
    path = folder / "config.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{folder}/postdesk.db"\n'
                    f'[paths]\nvar = "{folder}/var"\n'
                    f'[outgoing]\nauto_reply_limit_per_hour = 1000\n'
                    f'[[mailboxes]]\naddress = "support@example.com"\n')
    return path


def postdesk(config_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "postdesk", "--config", str(config_path), *args],
                          capture_output=True, text=True, check=True)


def build_corpus(threads: int, harder: bool, csv: Path | None) -> list:
    """The three rounds, replies written to the acknowledgements a first installation sent."""
    folder = Path(tempfile.mkdtemp(prefix="postdesk-bench-first-"))
    config_path = write_config(folder)
    postdesk(config_path, "migrate")
    if csv is not None:
        postdesk(config_path, "customers", "import", str(csv))
    settings = runtime.init(config.load(config_path, environ={}))
    generator = Generator(harder=harder)
    mails, all_mails = generator.first_round(threads), []
    for number in range(3):
        raws = sorted((m.raw for m in mails), key=importer._date_of)
        for start in range(0, len(raws), importer.BATCH):
            importer.import_many(settings, raws[start:start + importer.BATCH], notify=True)
        all_mails += mails
        if number < 2:
            tickets_by_mid = {m.message_id: m.ticket for m in Message.select()}
            mails = generator.reply_round(acks_by_thread(all_mails, tickets_by_mid))
    runtime.close()
    for mail in all_mails:
        if mail.expect == "token":  # that installation's token: nothing here knows it
            mail.expect = "new"
    return all_mails


def run(threads: int, corpus: str) -> tuple[float, bool]:
    harder = corpus == "harder"
    folder = Path(tempfile.mkdtemp(prefix="postdesk-bench-import-"))
    csv = customers_csv(folder / "customers.csv", threads) if harder else None
    all_mails = build_corpus(threads, harder, csv)
    emls = folder / "mail"
    emls.mkdir()
    for index, mail in enumerate(all_mails):
        (emls / f"{index:05d}.eml").write_bytes(mail.raw)
    config_path = write_config(folder)
    postdesk(config_path, "migrate")
    if csv is not None:
        postdesk(config_path, "customers", "import", str(csv))

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "postdesk", "--config", str(config_path), "import",
                             "--no-notify", str(emls)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"postdesk import exited {result.returncode}")

    runtime.init(config.load(config_path, environ={}))
    checked = check_threading(all_mails)
    speed = len(all_mails) / seconds
    print(f"[{corpus}] postdesk import --no-notify, whole command, one process: {speed:.0f} mails/s "
          f"({len(all_mails)} mails in {seconds:.2f} s wall, {cpu:.2f} s CPU = {1000 * cpu / len(all_mails):.2f} ms "
          f"per mail, start-up included); {result.stderr.strip().splitlines()[-1]}")
    print_threading(corpus, checked, Ticket.select().count())
    runtime.close()
    return speed, checked["ok"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=700, help="client threads to generate")
    parser.add_argument("--corpus", nargs="+", choices=CORPORA, default=list(CORPORA))
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    compile_bytecode()
    status = 0
    for corpus in args.corpus:
        speed, ok = run(args.threads, corpus)
        if not ok or (corpus == "standard" and speed < TARGET):
            status = 1
    if "standard" in args.corpus:
        print(f"target: {TARGET} mails/s on the standard corpus")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
