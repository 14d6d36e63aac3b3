"""`postdesk ingest`, the pipe an MTA runs: exit 0 once stored, 75 to retry, 65 to bounce."""

import subprocess
import sys

from models.tables import InboundMail, Ticket
from tests.conftest import load_eml, make_settings, run_worker


def pipe_in(settings, raw: bytes, *args):
    return subprocess.run([sys.executable, "-m", "postdesk", "--config", settings.source, "ingest", *args],
                          input=raw, capture_output=True)


def test_piped_mail_is_stored_and_processed(settings):
    result = pipe_in(settings, load_eml("new_question.eml"), "--sender", "alice@client.example",
                    "--recipient", "support@example.com")
    assert result.returncode == 0, result.stderr
    row = InboundMail.get()
    assert (row.source, row.mail_from, row.rcpt_to) == ("pipe", "alice@client.example", "support@example.com")
    run_worker(settings)
    assert Ticket.get().subject == "Cannot log in to my account"


def test_postfixs_null_sender_is_stored_as_the_null_sender(settings):
    """pipe(8) writes the null sender (a bounce's) as MAILER-DAEMON, or as its null_sender=
    attribute; both are <>, which no automatic mail answers."""
    for given in ("MAILER-DAEMON", ""):
        raw = load_eml("new_question.eml").replace(b"<new-question-1@", f"<null-{given or 'empty'}@".encode())
        assert pipe_in(settings, raw, f"--sender={given}", "--recipient", "support@example.com").returncode == 0
    assert [row.mail_from for row in InboundMail.select().order_by(InboundMail.id)] == ["<>", "<>"]


def test_oversize_mail_is_refused_permanently(settings):
    result = pipe_in(settings, b"Subject: big\n\n" + b"x" * settings.smtp.max_message_bytes)
    assert result.returncode == 65 and b"larger than" in result.stderr
    assert InboundMail.select().count() == 0


def test_unwritable_database_asks_the_mta_to_retry(tmp_path, redis_server):
    settings = make_settings(tmp_path, redis_server, database={"url": "sqlite:////dev/null/postdesk.db"})
    result = pipe_in(settings, load_eml("new_question.eml"))
    assert result.returncode == 75 and b"try again later" in result.stderr


def test_storing_a_piped_mail_leaves_the_pipeline_to_the_worker(settings):
    """Postfix starts `postdesk ingest` for every mail: it stores and enqueues the job by name,
    without importing the pipeline and the actions (a third of its start-up); the worker does."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "postdesk", "--config", settings.source,
                             "ingest"], input=load_eml("new_question.eml"), capture_output=True)
    assert result.returncode == 0, result.stderr
    imported = {line.rpartition("|")[2].strip() for line in result.stderr.decode().splitlines()
                if line.startswith("import time:")}
    assert {"mailer.spool", "workers.handover"} <= imported
    assert not imported & {"mailer.pipeline", "workers.processing", "actions", "jinja2"}
    run_worker(settings)
    assert Ticket.get().subject == "Cannot log in to my account"
