"""Build outgoing messages from the email templates, with the headers clients thread on."""

from __future__ import annotations

import base64
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


def _templates() -> Path:
    """templates/ of the checkout, else where a wheel installs it (site-packages/postdesk/templates)."""
    root = Path(__file__).resolve().parent.parent
    checkout = root / "templates"
    return checkout if checkout.is_dir() else root / "postdesk" / "templates"


TEMPLATES = _templates()
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
    `attachments` (objects with filename, content_type and data). A text-only mail is written
    directly (the email package's generator costs more than the rest of an SLA alert together);
    one with attachments is built with compat32."""
    headers = [("From", formataddr((sender_name, sender), charset="utf-8")),  # RFC 2047 for a non-ASCII name
               ("To", to)]
    if cc:
        headers.append(("Cc", ", ".join(cc)))
    headers += [("Subject", subject), ("Date", format_datetime(localtime())), ("Message-ID", message_id)]
    if reply_to:
        headers.append(("Reply-To", formataddr((sender_name, reply_to), charset="utf-8")))
    if in_reply_to:
        headers.append(("In-Reply-To", in_reply_to))
    refs = list(dict.fromkeys([r for r in references if r] + ([in_reply_to] if in_reply_to else [])))
    if refs:
        headers.append(("References", " ".join(refs)))
    if automatic:
        # RFC 3834: mark automatic answers so other robots do not answer them back, and ask
        # Exchange/Outlook not to send its own auto-replies to them.
        headers += [("Auto-Submitted", auto_submitted),  # auto-replied, or auto-generated for notices
                    ("X-Auto-Response-Suppress", "All")]
    headers.append((LOOP_HEADER, sender))
    if not attachments:
        return _text_mail(headers, text)
    msg = MIMEMultipart("mixed")
    msg.attach(MIMEText(text, "plain", "us-ascii" if text.isascii() else "utf-8"))  # 7bit when it can be
    for part in attachments:
        maintype, _, subtype = (part.content_type or "application/octet-stream").partition("/")
        item = MIMEBase(maintype, subtype or "octet-stream")
        item.set_payload(part.data)
        encoders.encode_base64(item)
        # RFC 2231 for a non-ASCII name, which every current client reads.
        item.add_header("Content-Disposition", "attachment",
                        filename=part.filename if part.filename.isascii() else ("utf-8", "", part.filename))
        msg.attach(item)
    for name, value in headers:
        msg[name] = Header(value, "utf-8") if not value.isascii() else value
    return msg.as_bytes(policy=SMTP_COMPAT)


def _text_mail(headers: list[tuple[str, str]], text: str) -> bytes:
    """A text/plain message: 7bit when the text is ASCII with lines a server takes (998
    octets), else UTF-8 in base64 (as MIMEText writes it)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and all(len(line) <= 998 for line in text.split("\n")):
        content = ('text/plain; charset="us-ascii"', "7bit", text.replace("\n", "\r\n"))
    else:
        encoded = base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", "\r\n")
        content = ('text/plain; charset="utf-8"', "base64", encoded)
    lines = [_header(name, value) for name, value in headers]
    lines += ["MIME-Version: 1.0", f"Content-Type: {content[0]}", f"Content-Transfer-Encoding: {content[1]}"]
    return ("\r\n".join(lines) + "\r\n\r\n" + content[2]).encode("ascii")


def _header(name: str, value: str) -> str:
    """One header field, folded at spaces before 78 columns; non-ASCII text as RFC 2047 words."""
    value = " ".join(value.split())  # no line breaks of its own
    if not value.isascii():
        return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    line, folded = f"{name}:", []
    for word in value.split(" "):
        if len(line) + 1 + len(word) > 78 and line.strip() and line != f"{name}:":
            folded.append(line)
            line = ""
        line += " " + word
    return "\r\n".join([*folded, line])
