"""Build outgoing messages from the email templates, with the headers clients thread on."""

from __future__ import annotations

import uuid
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, localtime
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LOOP_HEADER = "X-Postdesk-Loop"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=jinja2.select_autoescape(["html"]),
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


def render(name: str, language: str, **context) -> tuple[str, str]:
    """Render email/<name>.<language>.txt; the template sets `subject`. Returns (subject, body)."""
    template = _env.get_or_select_template([f"email/{name}.{language}.txt", f"email/{name}.en.txt"])
    module = template.make_module(context)
    return " ".join(str(module.subject).split()), str(module)


def new_message_id(domain: str) -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def build(*, sender_name: str, sender: str, to: str, subject: str, text: str, message_id: str,
          in_reply_to: str = "", references: tuple[str, ...] = (), automatic: bool = False,
          reply_to: str = "") -> bytes:
    """One text/plain UTF-8 message as bytes, ready for the outbox."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(sender_name, addr_spec=sender)
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(localtime())
    msg["Message-ID"] = message_id
    if reply_to:
        msg["Reply-To"] = Address(sender_name, addr_spec=reply_to)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    refs = [r for r in references if r] + ([in_reply_to] if in_reply_to not in references else [])
    if refs and any(refs):
        msg["References"] = " ".join(r for r in refs if r)
    if automatic:
        # RFC 3834: mark automatic answers so other robots do not answer them back, and ask
        # Exchange/Outlook not to send its own auto-replies to them.
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = sender
    msg.set_content(text, charset="utf-8")
    return msg.as_bytes()
