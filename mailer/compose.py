"""Build outgoing messages from the email templates, with the headers clients thread on."""

from __future__ import annotations

import uuid
from email import encoders
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, localtime
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LOOP_HEADER = "X-Postdesk-Loop"
SMTP_COMPAT = compat32.clone(linesep="\r\n")

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
          reply_to: str = "", cc: tuple[str, ...] = (), attachments: tuple = (),
          auto_submitted: str = "auto-replied") -> bytes:
    """One UTF-8 message as bytes, ready for the outbox: text/plain, or multipart/mixed with
    `attachments` (objects with filename, content_type and data). Built with compat32: the header
    registry of policy.default costs ~3 ms a message, a tenth of a second per 30 mails."""
    body = MIMEText(text, "plain", "us-ascii" if text.isascii() else "utf-8")  # 7bit when it can be
    if attachments:
        msg = MIMEMultipart("mixed")
        msg.attach(body)
        for part in attachments:
            maintype, _, subtype = (part.content_type or "application/octet-stream").partition("/")
            item = MIMEBase(maintype, subtype or "octet-stream")
            item.set_payload(part.data)
            encoders.encode_base64(item)
            # RFC 2231 for a non-ASCII name, which every current client reads.
            item.add_header("Content-Disposition", "attachment",
                            filename=part.filename if part.filename.isascii() else ("utf-8", "", part.filename))
            msg.attach(item)
    else:
        msg = body
    msg["From"] = formataddr((sender_name, sender), charset="utf-8")  # RFC 2047 for a non-ASCII name
    msg["To"] = to
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = Header(subject, "utf-8") if not subject.isascii() else subject
    msg["Date"] = format_datetime(localtime())
    msg["Message-ID"] = message_id
    if reply_to:
        msg["Reply-To"] = formataddr((sender_name, reply_to), charset="utf-8")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    refs = list(dict.fromkeys([r for r in references if r] + ([in_reply_to] if in_reply_to else [])))
    if refs:
        msg["References"] = " ".join(refs)
    if automatic:
        # RFC 3834: mark automatic answers so other robots do not answer them back, and ask
        # Exchange/Outlook not to send its own auto-replies to them.
        msg["Auto-Submitted"] = auto_submitted  # auto-replied, or auto-generated for notices
        msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_HEADER] = sender
    return msg.as_bytes(policy=SMTP_COMPAT)
