"""Structured logs: with `[logging] format = "json"` every line a process writes is one JSON object,
and the lines about a mail name its Message-ID and, once it has one, its ticket."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from mailer import logcontext
from models import migrations
from postdesk import logs, runtime
from tests.conftest import DATA, make_settings


def postdesk(settings, *args, stdin: bytes = b"") -> tuple[int, list[dict]]:
    """Run the real command; its exit code and its stderr, each line parsed as JSON (a line that
    is not JSON fails the test)."""
    done = subprocess.run([sys.executable, "-m", "postdesk", "--config", settings.source, *args], input=stdin,
                          capture_output=True, timeout=120)
    lines = [json.loads(line) for line in done.stderr.decode("utf-8").splitlines() if line.strip()]
    return done.returncode, lines


def test_a_mail_through_the_pipeline_logs_json_lines_naming_its_message_id_and_ticket(tmp_path, redis_server):
    settings = make_settings(tmp_path, redis_server, logging={"format": "json"})
    runtime.init(settings, check_schema=False)
    migrations.migrate()
    runtime.close()
    code, stored = postdesk(settings, "ingest", "--sender", "alice@client.example", "--recipient",
                            "support@example.com", stdin=(DATA / "new_question.eml").read_bytes())
    assert code == 0
    line = next(line for line in stored if "stored as inbound" in line["message"])
    message_id = line["message_id"]
    assert message_id.startswith("<") and line["inbound"] == 1
    assert line["level"] == "INFO" and line["logger"] == "mailer.spool" and line["time"].endswith("Z")

    code, processed = postdesk(settings, "-v", "replay", "1")  # process it here, as a worker would
    assert code == 0
    about_it = [line for line in processed if line.get("inbound") == 1]
    assert about_it and all(line["message_id"] == message_id for line in about_it)
    done = next(line for line in about_it if "new_ticket" in line["message"])
    assert done["ticket"] == 1 and done["logger"] == "mailer.pipeline"
    steps = [line for line in about_it if "step=" in line["message"]]  # debug lines, one per step
    assert "ticket" not in steps[0] and steps[-1]["ticket"] == 1  # named from the step that found it


def test_a_json_line_keeps_the_traceback_and_fields_the_call_names_itself(capsys):
    record = logging.LogRecord("mailer.pipeline", logging.ERROR, __file__, 1, "failed at %s", ("apply",), None)
    try:
        raise RuntimeError("database is locked")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    with logcontext.about(message_id="<a@b>", ticket=7):
        logs.MailFields().filter(record)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "failed at apply" and line["message_id"] == "<a@b>" and line["ticket"] == 7
    assert "RuntimeError: database is locked" in line["exception"] and "\n" not in json.dumps(line).strip("\n")
    named = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    named.message_id = "<own@id>"
    with logcontext.about(message_id="<a@b>"):
        logs.MailFields().filter(named)
    assert json.loads(logs.JsonFormatter().format(named))["message_id"] == "<own@id>"
    assert logcontext.current() == {}


def test_a_crash_and_a_warning_are_json_lines_too():
    code = ("import warnings; from postdesk import logs; logs.setup(False, 'json'); "
            "warnings.warn('old API'); raise RuntimeError('boom')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert done.returncode == 1 and [line["level"] for line in lines] == ["WARNING", "CRITICAL"]
    assert "old API" in lines[0]["message"] and "RuntimeError: boom" in lines[1]["exception"]
