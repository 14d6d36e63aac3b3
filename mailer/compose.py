"""Build outgoing messages from the email templates, with the headers clients thread on."""

from __future__ import annotations

import base64
import functools
import re
import uuid
from email import encoders
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, localtime
from pathlib import Path
from typing import NamedTuple

import jinja2
from markupsafe import Markup, escape


def _templates() -> Path:
    """templates/ of the checkout, else where a wheel installs it (site-packages/postdesk/templates)."""
    root = Path(__file__).resolve().parent.parent
    checkout = root / "templates"
    return checkout if checkout.is_dir() else root / "postdesk" / "templates"


TEMPLATES = _templates()
LOOP_HEADER = "X-Postdesk-Loop"
SMTP_COMPAT = compat32.clone(linesep="\r\n")

class Rendered(NamedTuple):
    subject: str
    text: str
    html: str  # "" when the message has no HTML template (staff mail)


@functools.lru_cache(maxsize=16)
def _environment(folder: str) -> jinja2.Environment:
    """Templates of `folder` (a mailbox's own, files named as in templates/email/) before ours."""
    ours = jinja2.FileSystemLoader(str(TEMPLATES))
    loader = jinja2.ChoiceLoader([jinja2.PrefixLoader({"email": jinja2.FileSystemLoader(folder)}), ours]) \
        if folder else ours
    env = jinja2.Environment(loader=loader, autoescape=jinja2.select_autoescape(["html"]),
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters.update(breaks=_breaks, paragraphs=_paragraphs)
    return env


def render(name: str, language: str, folder: str = "", html: bool = False, **context) -> Rendered:
    """Render email/<name>.<language>.txt, which sets `subject`; with `html`, also
    email/<name>.<language>.html, else the text laid out as HTML (email/from_text.html). The
    English file stands in for a language without its own. `folder`: a mailbox's template
    folder, whose files replace ours of the same name."""
    env = _environment(folder)
    template = env.get_or_select_template([f"email/{name}.{language}.txt", f"email/{name}.en.txt"])
    module = template.make_module(context)
    subject, text = " ".join(str(module.subject).split()), str(module)
    if not html:
        return Rendered(subject, text, "")
    page = env.get_or_select_template([f"email/{name}.{language}.html", f"email/{name}.en.html",
                                       "email/from_text.html"])
    return Rendered(subject, text, page.render(context, subject=subject, language=language, text=text))


def _breaks(text: str) -> Markup:
    return Markup("<br>").join(escape(line) for line in str(text).splitlines())


def _paragraphs(text: str) -> Markup:
    """A text body as HTML: paragraphs at blank lines, indented lines set off, the signature
    (after "-- ") left to the layout."""
    body = str(text).split("\n-- \n")[0] if "\n-- \n" in str(text) else str(text)
    blocks = [b for b in re.split(r"\n\s*\n", body.strip("\n")) if b.strip()]
    html = []
    for block in blocks:
        quoted = all(line.startswith(("    ", "\t")) for line in block.splitlines())
        style = ' style="margin-left:16px;color:#57606a;"' if quoted else ""
        html.append(Markup(f"<p{style}>") + _breaks("\n".join(line.strip() for line in block.splitlines()))
                    + Markup("</p>"))
    return Markup("\n").join(html)


def new_message_id(domain: str) -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def build(*, sender_name: str, sender: str, to: str, subject: str, text: str, message_id: str,
          in_reply_to: str = "", references: tuple[str, ...] = (), automatic: bool = False,
          reply_to: str = "", cc: tuple[str, ...] = (), attachments: tuple = (),
          auto_submitted: str = "auto-replied", html: str = "", unsubscribe: str = "") -> bytes:
    """One UTF-8 message as bytes, ready for the outbox: text/plain, multipart/alternative with
    `html`, and multipart/mixed around either with `attachments` (objects with filename,
    content_type and data). Without attachments the mail is written directly (the email
    package's generator costs more than the rest of an SLA alert together); with them it is
    built with compat32. `unsubscribe`: an https URL that unsubscribes with one POST (RFC 8058)."""
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
    if unsubscribe:
        headers += [("List-Unsubscribe", f"<{unsubscribe}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    headers.append((LOOP_HEADER, sender))
    if not attachments:
        return _direct(headers, text, html)
    msg = MIMEMultipart("mixed")
    plain = MIMEText(text, "plain", "us-ascii" if text.isascii() else "utf-8")  # 7bit when it can be
    if html:
        alternative = MIMEMultipart("alternative")
        alternative.attach(plain)
        alternative.attach(MIMEText(html, "html", "utf-8"))
        msg.attach(alternative)
    else:
        msg.attach(plain)
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


def _direct(headers: list[tuple[str, str]], text: str, html: str) -> bytes:
    """A text/plain message, or multipart/alternative with its HTML, written without the email
    package."""
    lines = [_header(name, value) for name, value in headers] + ["MIME-Version: 1.0"]
    if not html:
        return ("\r\n".join(lines + _part("plain", text)) + "\r\n").encode("ascii")
    boundary = f"=_postdesk_{uuid.uuid4().hex}"
    lines += [f'Content-Type: multipart/alternative; boundary="{boundary}"', ""]
    for subtype, content in (("plain", text), ("html", html)):
        lines += [f"--{boundary}", *_part(subtype, content)]
    return ("\r\n".join([*lines, f"--{boundary}--", ""])).encode("ascii")


def _part(subtype: str, text: str) -> list[str]:
    """Content headers, a blank line and the body: 7bit when the text is ASCII with lines a
    server takes (998 octets), else UTF-8 in base64 (as MIMEText writes it)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and all(len(line) <= 998 for line in text.split("\n")):
        return [f'Content-Type: text/{subtype}; charset="us-ascii"', "Content-Transfer-Encoding: 7bit", "",
                text.replace("\n", "\r\n")]
    encoded = base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", "\r\n")
    return [f'Content-Type: text/{subtype}; charset="utf-8"', "Content-Transfer-Encoding: base64", "",
            encoded.removesuffix("\r\n")]


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
