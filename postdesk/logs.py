"""How every process logs: readable lines, or one JSON object per line (`[logging] format`)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading

from mailer import logcontext

TEXT_FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
NOISY = ("peewee", "mail.log", "urllib3")  # flufl.bounce: silenced by mailer/bounces.py, whatever this says


class MailFields(logging.Filter):
    """Gives each record the fields of the mail being handled (mailer.logcontext), unless the
    log call named them itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in logcontext.current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, process, the
    mail's message_id / ticket / inbound / outbox when the line is about one, and the traceback
    as `exception`. Non-ASCII text is kept as is (UTF-8)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage(),
                "process": record.process}
        for key in logcontext.FIELDS:
            value = getattr(record, key, None)
            if value is not None and value != "":
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _log_uncaught(kind, value, traceback) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    logging.getLogger("postdesk").critical("uncaught %s: %s", kind.__name__, value, exc_info=(kind, value, traceback))


def formatter(format_: str) -> logging.Formatter:
    return JsonFormatter() if format_ == "json" else logging.Formatter(TEXT_FORMAT)


def setup(verbose: bool = False, format_: str = "text") -> None:
    """Log to stderr in the given format. Called again (the CLI starts with text, then switches
    to the configured format once the configuration is read) it changes the format of the
    handler it installed; a handler someone else installed first (pytest's) is left alone."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "postdesk", False)]
    if not ours:
        handler = logging.StreamHandler(sys.stderr)
        handler.postdesk = True
        handler.addFilter(MailFields())
        logging.basicConfig(handlers=[handler])  # nothing happens when the root has handlers already
        ours = [h for h in root.handlers if h is handler]
    for handler in ours:
        handler.setFormatter(formatter(format_))
        root.setLevel(logging.DEBUG if verbose else logging.INFO)
        if format_ == "json":  # Python's warnings and a crash's traceback as JSON lines too
            logging.captureWarnings(True)
            sys.excepthook = _log_uncaught
            threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)
