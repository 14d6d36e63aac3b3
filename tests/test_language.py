"""The client's language: their own setting, else what their first mail is written in, else the
mailbox's; a client writing Chinese to an English mailbox is answered in Chinese."""

import email
import email.policy

import pytest

from mailer.language import detect
from models.tables import Customer, Outbox
from tests.conftest import ingest, load_eml, text_of


@pytest.mark.parametrize(("text", "language"), [
    ("您好，我的发票金额不对，请帮忙核实。", "zh"),
    ("我的 VPN 无法连接 to the server", "zh"),
    ("Hello, I cannot log in since this morning.", ""),
    ("Our office in 北京 cannot log in since this morning, please help us soon.", ""),  # a place name
    ("お世話になっております。ログインできません。", ""),  # Japanese: kanji with kana
    ("로그인이 안 됩니다", ""),
    ("", ""),
])
def test_detect(text, language):
    assert detect(text) == language


@pytest.mark.parametrize(("text", "charsets", "language"), [
    ("OK, thanks", ("gb2312",), "zh"),  # a Chinese mail program, a line with no script of its own
    ("See the attached log", ("big5",), "zh"),
    ("Hello", ("utf-8",), ""),
    ("お世話になっております", ("gb18030",), ""),  # the script decides when there is one
])
def test_a_chinese_charset_decides_when_the_text_cannot(text, charsets, language):
    assert detect(text, charsets) == language


def test_an_english_line_sent_in_gb2312_gets_a_chinese_acknowledgement(settings):
    ingest(settings, b"From: Li Ming <li@client.example>\r\nTo: support@example.com\r\nSubject: Invoice\r\n"
                     b"Message-ID: <li-1@client.example>\r\nContent-Type: text/plain; charset=GB2312\r\n\r\n"
                     b"Please check invoice 2026-118.\r\n")
    assert "感谢您的来信" in acknowledgement() and Customer.get().language == "zh"


def acknowledgement() -> str:
    [ack] = Outbox.select().where(Outbox.kind == "acknowledgement")
    return text_of(email.message_from_bytes(bytes(ack.raw), policy=email.policy.default))


def test_a_gbk_mail_to_an_english_mailbox_gets_a_chinese_acknowledgement(settings):
    raw = load_eml("chinese_gbk_question.eml").replace(b"zh@example.cn", b"support@example.com")
    ingest(settings, raw, rcpt=("support@example.com",))
    assert "感谢您的来信" in acknowledgement()
    assert Customer.get().language == "zh"


def test_an_english_mail_gets_the_mailboxs_language_and_a_set_language_wins(settings):
    ingest(settings, "new_question.eml")  # English, to the English mailbox
    assert "Thank you for writing to us" in acknowledgement()
    assert Customer.get().language == ""  # not known: the mailbox decides
    Customer.update(language="zh").execute()
    ingest(settings, b"From: Alice Martin <alice@client.example>\r\nTo: support@example.com\r\n"
                     b"Subject: Another question\r\nMessage-ID: <alice-new@client.example>\r\n\r\nHello\r\n")
    [_, second] = Outbox.select().where(Outbox.kind == "acknowledgement").order_by(Outbox.id)
    assert "感谢您的来信" in text_of(email.message_from_bytes(bytes(second.raw), policy=email.policy.default))
