"""The `postdesk` command: run everything, or one part, and the operator's tools."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import logging
import signal
import sys
import threading

from . import config, runtime

log = logging.getLogger("postdesk")

EX_DATAERR, EX_TEMPFAIL, EX_CONFIG = 65, 75, 78  # sysexits.h, as MTAs read pipe exit codes


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    runtime.setup_logging(args.verbose)
    try:
        settings = config.load(args.config)
        if settings.logging.format != "text":
            runtime.setup_logging(args.verbose, settings.logging.format)
        return args.command(settings, args) or 0
    except config.ConfigError as exc:
        print(f"postdesk: configuration error: {exc}", file=sys.stderr)
        return EX_CONFIG


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="postdesk", description="Email-driven helpdesk.")
    parser.add_argument("--config", help="config file (default: $POSTDESK_CONFIG or ./config.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name, func, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(command=func)
        return p

    command("run", cmd_run, "start everything: embedded Redis (unless configured), SMTP, worker, web")
    command("smtp", cmd_smtp, "run the inbound SMTP listener")
    command("imap", cmd_imap, "fetch mail from the configured [[imap]] accounts")
    command("worker", cmd_worker, "run a background worker and the periodic clock")
    command("web", cmd_web, "serve the admin web interface")
    p = command("ingest", cmd_ingest, "store one raw message read on stdin (for MTA pipes); "
                "exit 0 once stored, 75 when it cannot be stored now, 65 when refused")
    p.add_argument("--sender", default=None, help="envelope sender (Postfix: ${sender}; its null sender, "
                   "empty with null_sender= or MAILER-DAEMON by default, is stored as <>)")
    p.add_argument("--recipient", action="append", default=[], help="envelope recipient (repeatable)")
    command("migrate", cmd_migrate, "create or upgrade the database schema")
    p = command("backup", cmd_backup, "copy the database while Postdesk runs: SQLite's online backup, checked "
                "with PRAGMA integrity_check; PostgreSQL: pg_dump (custom format)")
    p.add_argument("path", help="the backup file to write (must not exist)")
    p = command("create-agent", cmd_create_agent, "create a staff login (or reset its password)")
    p.add_argument("email")
    p.add_argument("--name", default="")
    p.add_argument("--admin", action="store_true", help="give the admin role")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--also", action="append", default=[], metavar="EMAIL",
                   help="another address the agent writes from (repeatable)")
    p = command("customers", None, "manage customers")
    customers_sub = p.add_subparsers(required=True, metavar="ACTION")
    p = customers_sub.add_parser("import", help="create or update customers from a CSV file with the columns email, "
                                 "name, organisation, tier, language (a header line first; only email is required); "
                                 "all rows or none, safe to run twice")
    p.set_defaults(command=cmd_customers_import)
    p.add_argument("file", metavar="FILE.csv")
    p = command("surveys", None, "satisfaction surveys")
    surveys_sub = p.add_subparsers(required=True, metavar="ACTION")
    p = surveys_sub.add_parser("report", help="response rate, average, distribution and CSAT (share of 4 and 5) "
                               "of the surveys sent, in all or per group")
    p.set_defaults(command=cmd_surveys_report)
    p.add_argument("--since", type=_date, help="only surveys sent since this day (YYYY-MM-DD, UTC)")
    p.add_argument("--by", choices=("agent", "tier", "mailbox"), default="", help="one line per group")
    p.add_argument("--csv", action="store_true", help="CSV instead of a table")
    p = command("reports", None, "the dashboard's figures")
    reports_sub = p.add_subparsers(required=True, metavar="ACTION")
    p = reports_sub.add_parser("rebuild", help="sum every day's figures again from the tickets (the followups "
                               "worker sums the days that change; after changing customers' tiers, run this)")
    p.set_defaults(command=cmd_reports_rebuild)
    command("check-config", cmd_check_config, "validate the configuration and print it")
    p = command("import", cmd_import, "bring past support mail in: an mbox file, a Maildir or a "
                "folder of .eml files, oldest first, through the same pipeline; safe to run twice")
    p.add_argument("path")
    p.add_argument("--no-notify", action="store_true", help="send nothing (historic mail)")
    p.add_argument("--json", action="store_true", help="print one JSON line per mail")
    p = command("inspect", cmd_inspect, "print, per file, one JSON line of what the pipeline makes "
                "of a message, storing nothing")
    p.add_argument("files", nargs="+", metavar="FILE.eml")
    p = command("replay", cmd_replay, "process stored mail again: the quarantined ones, or the given ids")
    p.add_argument("ids", nargs="*", type=int, help="InboundMail ids (default: every quarantined one)")
    p = command("outbox", None, "outgoing mail: list it, re-send what failed")
    outbox_sub = p.add_subparsers(required=True, metavar="ACTION")
    p = outbox_sub.add_parser("list", help="the newest outgoing mails: id, state, kind, recipient, attempts, "
                              "last error")
    p.set_defaults(command=cmd_outbox_list)
    p.add_argument("--state", choices=("dead", "failed", "pending", "sending", "sent"), help="only this state")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p = outbox_sub.add_parser("resend", help="send dead or failed mails again, as they were (same Message-ID); "
                              "nothing is re-sent when one of the ids is not dead or failed")
    p.set_defaults(command=cmd_outbox_resend)
    p.add_argument("ids", nargs="+", type=int, metavar="ID")
    return parser


def cmd_check_config(settings, args) -> int:
    print(f"{settings.source}: OK")
    print(f"  database  {settings.database.url}")
    print(f"  redis     {settings.redis.url or 'embedded (' + runtime.redis_url(settings) + ')'}")
    print(f"  smtp      {settings.smtp.host}:{settings.smtp.port}")
    print(f"  web       http://{settings.web.host}:{settings.web.port}")
    print(f"  outgoing  {settings.outgoing.relay_host or settings.path(settings.outgoing.folder)}")
    for mailbox in settings.mailboxes:
        print(f"  mailbox   {mailbox.address} ({mailbox.language}, queue {mailbox.queue})")
    for advice in config.advice(settings):
        print(f"  warning   {advice}")
    return 0


def cmd_migrate(settings, args) -> int:
    from models import migrations, tickets
    from models.base import db

    runtime.init(settings, check_schema=False)
    applied = migrations.migrate()
    with db.atomic():
        for mailbox in settings.mailboxes:
            tickets.sync_mailbox(mailbox)
    print(f"schema at version {migrations.current_version()}"
          + (f" (applied {', '.join(map(str, applied))})" if applied else " (nothing to do)"))
    return 0


def cmd_backup(settings, args) -> int:
    """Exit 0 once the backup is whole at PATH; 73 when PATH exists, 69 without pg_dump, else 1."""
    from pathlib import Path

    from . import backup

    try:
        print(f"backed up {backup.backup(settings, Path(args.path))}")
    except backup.BackupError as exc:
        print(f"postdesk: backup failed: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def cmd_create_agent(settings, args) -> int:
    from models import agents

    runtime.init(settings)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            print("postdesk: passwords differ", file=sys.stderr)
            return 1
    if len(password) < 8:
        print("postdesk: a password needs at least 8 characters", file=sys.stderr)
        return 1
    agent = agents.create_agent(args.email, password, name=args.name, admin=args.admin)
    try:
        for address in args.also:
            agents.add_address(agent, address)
    except ValueError as exc:
        print(f"postdesk: {exc}", file=sys.stderr)
        return 1
    print(f"agent {agent.email} ({agent.role}) can log in at http://{settings.web.host}:{settings.web.port}/login")
    return 0


def cmd_customers_import(settings, args) -> int:
    """Exit 0 when imported, 65 (EX_DATAERR) with every bad row listed when nothing was."""
    import csv

    from actions import customers
    from actions.result import Refused

    try:
        with open(args.file, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            unknown = [h for h in header if h not in customers.COLUMNS]
            if "email" not in header or unknown:
                print(f"postdesk: {args.file}: the first line must name the columns: email (required), "
                      f"{', '.join(customers.COLUMNS[1:])}" + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
                      file=sys.stderr)
                return 65
            reader.fieldnames = header
            rows = [customers.Row(line=reader.line_num, **{k: (v or "") for k, v in record.items() if k in header})
                    for record in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"postdesk: {args.file}: {exc}", file=sys.stderr)
        return 65
    runtime.init(settings)

    class Cli:
        email, name = "cli", "postdesk customers import"
    try:
        counts = customers.import_customers(rows, settings=settings, actor=Cli(), via="cli")
    except Refused:
        for error in customers.check_import(rows, settings):
            print(f"postdesk: {args.file}: {error}", file=sys.stderr)
        print("postdesk: nothing was imported", file=sys.stderr)
        return 65
    print(f"{len(rows)} rows: {counts['created']} created, {counts['updated']} updated, "
          f"{counts['unchanged']} unchanged")
    return 0


def cmd_ingest(settings, args) -> int:
    from mailer import spool

    raw = sys.stdin.buffer.read(settings.smtp.max_message_bytes + 1)
    if len(raw) > settings.smtp.max_message_bytes:
        print(f"postdesk: message larger than {settings.smtp.max_message_bytes} bytes", file=sys.stderr)
        return EX_DATAERR
    if not raw.strip():
        print("postdesk: empty message on stdin", file=sys.stderr)
        return EX_DATAERR
    try:
        runtime.init(settings)
        spool.receive(settings, raw, "pipe", _envelope_sender(args.sender), tuple(args.recipient))
    except Exception as exc:  # whatever stops storage, the MTA keeps the mail and retries
        print(f"postdesk: not stored, try again later: {exc}", file=sys.stderr)
        return EX_TEMPFAIL
    return 0


def _envelope_sender(given: str | None) -> str:
    """The envelope sender as stored: Postfix's pipe(8) writes the null sender as its null_sender
    attribute, MAILER-DAEMON unless set (often to ""); both are <>, what bounces are sent from.
    Not given at all: unknown ("")."""
    if given is None:
        return ""
    return "<>" if given.strip() in ("", "<>") or given.strip().lower() == "mailer-daemon" else given.strip()


def _progress(total: int):
    """A progress bar on a terminal; elsewhere (a script, a log) none, and tqdm not imported."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, unit="mail", file=sys.stderr)
    return _NoProgress()


class _NoProgress:
    def write(self, text: str, file) -> None:
        print(text, file=file)

    def update(self, count: int) -> None:
        pass

    def close(self) -> None:
        pass


def cmd_import(settings, args) -> int:
    from pathlib import Path

    from mailer import importer, pipeline

    runtime.init(settings)
    if not args.verbose:  # a line per mail would cost a tenth of the import; --json gives each outcome
        logging.getLogger(pipeline.__name__).setLevel(logging.WARNING)
    raws = importer.read_messages(Path(args.path))
    outcomes: dict[str, int] = {}
    bar = _progress(len(raws))
    for start in range(0, len(raws), importer.BATCH):
        results = importer.import_many(settings, raws[start:start + importer.BATCH], notify=not args.no_notify)
        queued = [i for result in results for i in result.pop("outbox", [])]
        if queued:  # imported here only then: --no-notify never talks to Redis
            from workers import outgoing

            outgoing.enqueue_deliveries(settings, queued)
        for result in results:
            result.pop("inbound", None)
            outcomes[result["outcome"]] = outcomes.get(result["outcome"], 0) + 1
            if args.json:
                bar.write(json.dumps(result, ensure_ascii=False), file=sys.stdout)
        bar.update(len(results))
    bar.close()
    summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    print(f"imported {len(raws)} mails from {args.path}: {summary or 'nothing'}", file=sys.stderr)
    return 1 if outcomes.get("failed") else 0


def cmd_inspect(settings, args) -> int:
    from mailer.inspect import describe

    status = 0
    for name in args.files:
        try:
            with open(name, "rb") as handle:
                line = {"file": name, **describe(handle.read(), settings.mailbox_addresses)}
        except Exception as exc:  # one unreadable file must not hide the others
            line, status = {"file": name, "error": f"{type(exc).__name__}: {exc}"}, 1
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return status


def cmd_replay(settings, args) -> int:
    from models import inbound
    from workers import processing

    runtime.init(settings)
    ids = args.ids or inbound.quarantined_ids()
    inbound.release_for_replay(ids)
    failures = 0
    for inbound_id in ids:
        outcome = processing.process_stored(settings, inbound_id)
        failures += outcome in ("failed", "quarantined")
        print(json.dumps({"inbound": inbound_id, "outcome": outcome}))
    return 1 if failures else 0


def cmd_outbox_list(settings, args) -> int:
    from models import outbox

    runtime.init(settings)
    print(f"{'id':>7}  {'state':<7}  {'kind':<16}  {'recipient':<32}  {'tries':>5}  last error")
    for row in outbox.listed(args.state or "", args.limit):
        error = " ".join(row.last_error.split())
        print(f"{row.id:>7}  {row.state:<7}  {row.kind:<16}  {row.rcpt_to:<32}  {row.attempts:>5}  {error}")
    return 0


def cmd_outbox_resend(settings, args) -> int:
    """Exit 1, re-sending nothing, when an id is unknown or its mail is not dead or failed."""
    from models import outbox
    from workers import outgoing

    runtime.init(settings)
    problems = outbox.check_resend(args.ids)
    for problem in problems:
        print(f"postdesk: {problem}; nothing re-sent", file=sys.stderr)
    if problems:
        return 1
    resent = [i for i in dict.fromkeys(args.ids) if outbox.resend(i)]
    outgoing.enqueue_deliveries(settings, resent)
    print(f"{len(resent)} mail(s) queued to be sent again: {' '.join(map(str, resent))}")
    for outbox_id in dict.fromkeys(i for i in args.ids if i not in resent):
        print(f"postdesk: outbox {outbox_id}: taken by a worker meanwhile; not re-sent", file=sys.stderr)
    return 1 if len(resent) < len(set(args.ids)) else 0


def _date(text: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-12-01") from None


def cmd_surveys_report(settings, args) -> int:
    from actions import surveys

    runtime.init(settings)
    sys.stdout.write(surveys.report_text(surveys.report(args.since, args.by), as_csv=args.csv))
    return 0


def cmd_reports_rebuild(settings, args) -> int:
    from models import reports

    runtime.init(settings)
    print(f"{reports.rebuild()} days summed")
    return 0


def cmd_smtp(settings, args) -> int:
    from mailer.smtp_edge import make_controller
    from workers.handover import Batcher

    runtime.init(settings)
    batcher = Batcher(settings)
    controller = make_controller(settings, batcher=batcher)
    controller.start()
    log.info("SMTP listening on %s:%d", settings.smtp.host, settings.smtp.port)
    wait_for_signal()
    controller.stop()
    batcher.close()  # hand over what was stored last
    return 0


def cmd_imap(settings, args) -> int:
    from mailer.imap_edge import Poller

    runtime.init(settings)
    if not settings.imap:
        log.error("no [[imap]] accounts configured in %s", settings.source)
        return 1
    stop = threading.Event()
    threads = [threading.Thread(target=Poller(settings, account, stop).run, name=f"imap-{account.name}")
               for account in settings.imap]
    for thread in threads:
        thread.start()
    log.info("IMAP polling %s", ", ".join(f"{a.name} ({a.host})" for a in settings.imap))
    wait_for_signal()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    return 0


def cmd_worker(settings, args) -> int:
    from workers import runner

    runtime.init(settings)
    return runner.run(settings, verbose=args.verbose)


def cmd_web(settings, args) -> int:
    from .webserver import WebServer

    runtime.init(settings)
    runtime.close()  # each gunicorn worker opens its own connection after forking
    log.info("admin web on http://%s:%d", settings.web.host, settings.web.port)
    WebServer(settings, verbose=args.verbose).run()
    return 0


def cmd_run(settings, args) -> int:
    from .supervisor import Supervisor

    cmd_migrate(settings, args)
    config.secret_key(settings)
    return Supervisor(settings, verbose=args.verbose).run()


def wait_for_signal() -> None:
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
