"""Every mail a client receives, in English and Chinese, as the relay receives it: its headers
exactly, and both its text and its HTML part."""

from __future__ import annotations

import email.utils

import pytest

from actions import notices, surveys
from models.tables import Outbox, Survey, Ticket
from tests.conftest import text_of
from tests.test_staff_end_to_end import ALICE, desk  # noqa: F401 (the fixture)
from workers.outgoing import enqueue_deliveries

HOSTILE = 'Printer <script>alert("x")</script> & co'
# template → (context, phrase of the English text, phrase of the Chinese text)
TEMPLATES = {
    "acknowledgement": ({"expect": "Thursday 3 December 2026, 10:00 (UTC)"}, "We have received your request",
                        "我们已收到您的请求"),
    "reply": ({"text": "Your account is unlocked."}, "Your account is unlocked.", "Your account is unlocked."),
    "pending": ({"reopen_days": 30}, "We are waiting for your reply", "正在等待您的回复"),
    "resolved": ({"reopen_days": 30}, "resolved", "已解决"),
    "closed": ({"reopen_days": 30}, "is now closed", "已关闭"),
    "reopened": ({"reopen_days": 30}, "We have reopened ticket", "已重新打开"),
    "progress_update": ({}, "We are still working on ticket", "我们仍在处理工单"),
    "survey": ({}, "How satisfied are you with our help?", "您对我们的服务满意吗？"),
}
UNSUBSCRIBABLE = ("progress_update", "survey")


def client_ticket(desk, language: str) -> Ticket:  # noqa: F811
    to = "support@example.com" if language == "en" else "zh@example.cn"
    desk.client_writes(f"Hello, {HOSTILE} is broken.", subject=HOSTILE, to=to)
    return Ticket.get()


@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("template", list(TEMPLATES))
def test_each_client_mail_has_its_headers_and_both_parts(desk, template, language):  # noqa: F811
    ticket = client_ticket(desk, language)
    context, phrase_en, phrase_zh = TEMPLATES[template]
    if template == "survey":
        survey = surveys.schedule(desk.settings, ticket) or Survey.create(
            ticket=ticket, resolved_at=ticket.created_at, customer=ticket.customer, mailbox=ticket.mailbox,
            scheduled_for=ticket.created_at)
        context = {"links": surveys.rating_links(desk.settings, survey)}
    unsubscribe = surveys.unsubscribe_url(desk.settings, ticket.customer) if template in UNSUBSCRIBABLE else ""
    Outbox.delete().execute()  # the acknowledgement counts against the hourly limit; not this test's
    [row] = notices.mail_client(desk.settings, ticket, template, template, unsubscribe=unsubscribe,
                                auto_submitted="auto-replied" if template == "acknowledgement" else "auto-generated",
                                **context)
    enqueue_deliveries(desk.settings, [row.id])
    desk.settle()
    [(envelope_sender, mail, raw)] = [d for d in desk.sink.to(ALICE) if d[1]["Message-ID"] == row.message_id]
    mailbox = ticket.mailbox
    assert envelope_sender == mailbox.address
    assert mail["From"].addresses[0].addr_spec == mailbox.address
    assert mail["From"].addresses[0].display_name == ("Example Support" if language == "en" else "客服中心")
    assert mail["To"] == ALICE and mail["Subject"].startswith(f"[#{ticket.number}] ")
    assert mail["Reply-To"].addresses[0].addr_spec == f"{mailbox.address.split('@')[0]}+{ticket.reply_token}@" \
                                                      f"{mailbox.address.split('@')[1]}"
    assert mail["In-Reply-To"] == "<alice-1@client.example>" and "<alice-1@client.example>" in mail["References"]
    assert mail["Auto-Submitted"] == ("auto-replied" if template == "acknowledgement" else "auto-generated")
    assert mail["Message-ID"] == row.message_id and email.utils.parsedate_to_datetime(mail["Date"])
    if template in UNSUBSCRIBABLE:
        assert mail["List-Unsubscribe"] == f"<{unsubscribe}>"
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    else:
        assert mail["List-Unsubscribe"] is None
    assert mail.get_content_type() == "multipart/alternative"
    text = text_of(mail)
    html = mail.get_body(("html",)).get_content()
    phrase = phrase_en if language == "en" else phrase_zh
    assert phrase in text and phrase in html
    signature = "The Example support team" if language == "en" else "客服中心"
    assert f"-- \n{signature}" in text.replace("\r\n", "\n") and signature in html
    assert f'lang="{"en" if language == "en" else "zh-CN"}"' in html
    assert "<script>" not in html  # the client's own subject, escaped wherever it appears
    if template != "reply":
        assert "&lt;script&gt;" in html
    if language == "zh" and template != "reply":
        assert "Hello" not in text and "您好" in text


def test_a_mailbox_folder_of_templates_replaces_ours_by_name(tmp_path, desk):  # noqa: F811
    folder = tmp_path / "brand"
    folder.mkdir()
    (folder / "acknowledgement.en.txt").write_text(
        '{% set subject %}[#{{ ticket.number }}] Got it{% endset -%}\nDear {{ customer.email }}, we got it.\n')
    (folder / "layout.html").write_text(
        "<html><body><h1>ACME</h1>{% block content %}{% endblock %}</body></html>")
    import dataclasses

    from postdesk import runtime

    settings = dataclasses.replace(desk.settings, mailboxes=(
        dataclasses.replace(desk.settings.mailboxes[0], templates=str(folder)), *desk.settings.mailboxes[1:]))
    runtime.init(settings, check_schema=False)
    desk.settings = settings
    desk.client_writes()
    [(_, mail, _)] = [d for d in desk.sink.to(ALICE) if d[1]["Auto-Submitted"] == "auto-replied"]
    assert mail["Subject"] == "[#1] Got it"
    assert text_of(mail).strip() == f"Dear {ALICE}, we got it."
    html = mail.get_body(("html",)).get_content()
    assert "<h1>ACME</h1>" in html and "We have received your request" in html  # our content, their layout
