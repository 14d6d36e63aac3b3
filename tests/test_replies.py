"""Reply extraction: the new content only, for the mail clients our clients use."""

import pytest

from mailer import parsing, quotes
from tests.conftest import load_eml


@pytest.mark.parametrize("client, expected", [
    ("outlook_desktop", "Thanks, that fixed it.\n\nKind regards,\nTom"),
    ("outlook_web", "Still broken after the update."),
    ("outlook_original_message", "Please close the ticket."),
    ("gmail", "Here is the screenshot you asked for."),
    ("gmail_wrapped_header", "Yes, every morning."),
    ("apple_mail_iphone", "It works now, thanks!"),
    ("thunderbird", "I attached the log file."),
    ("yahoo", "The order number is 4711."),
    ("foxmail_qq", "好的，谢谢！"),
    ("tencent_exmail", "问题已经解决了。"),
    ("netease_163", "收到，我明天再试一次。"),
    ("netease_126_gbk", "发票已经收到了，谢谢。"),
    ("alibaba_mail", "请帮忙查一下物流。"),
    ("gmail_chinese", "我已经重置了密码。"),
    ("apple_mail_chinese", "好的。"),
    ("signature_delimiter", "Please call me back tomorrow."),
])
def test_quoted_history_and_signatures_are_removed(client, expected):
    mail = parsing.parse(load_eml(f"reply_{client}.eml"))
    assert quotes.extract_reply(mail.reply_basis) == expected
    assert expected.split("\n")[0] in mail.text  # the full text is kept as well


def test_inline_answers_keep_their_questions():
    mail = parsing.parse(load_eml("reply_inline_answers.eml"))
    assert quotes.extract_reply(mail.text) == (
        "> Which browser do you use?\n\nFirefox 140.\n\n> Does it happen in a private window too?\n\n"
        "No, only in the normal window.")


def test_text_that_only_looks_like_a_quote_survives():
    mail = parsing.parse(load_eml("reply_looks_like_quote_but_is_not.eml"))
    assert quotes.extract_reply(mail.text) == mail.text


def test_html_only_reply_drops_gmail_quote_container():
    html = ('<div dir="ltr">Works now.</div><br><div class="gmail_quote"><div dir="ltr">On Mon, '
            'Support wrote:<br></div><blockquote class="gmail_quote">Old text</blockquote></div>')
    raw = ("From: a@client.example\r\nSubject: Re: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           + html).encode()
    mail = parsing.parse(raw)
    assert quotes.extract_reply(mail.reply_basis) == "Works now."
    assert "Old text" in mail.text


@pytest.mark.parametrize(("text", "kept"), [
    ("Hi Alice,\n\nDone.\n\nBest regards,\nAgnes Smith\nSupport Engineer | Example Corp\n+1 555 0100",
     "Hi Alice,\n\nDone.\n\nBest regards,"),
    ("Done.\n\nAgnes", "Done."),
    ("Done.\n\nagnes@example.com", "Done."),
    ("Done.\n------------------\n李娜\n客服部", "Done."),
    ("您好，已解锁。\n\n李娜 客服经理\n电话 010-12345678", "您好，已解锁。"),
    ("Agnes will call you tomorrow.", "Agnes will call you tomorrow."),
    ("Hi,\n\nAgnes will call you tomorrow", "Hi,\n\nAgnes will call you tomorrow"),
    ("Hi,\nAgnesa wrote the fix.", "Hi,\nAgnesa wrote the fix."),
    ("Agnes Smith", "Agnes Smith"),  # a name alone is the message, not a signature
    ("Steps:\n-----\n1. Open Settings\n2. Reset", "Steps:\n-----\n1. Open Settings\n2. Reset"),  # a rule, no name
    ("Agnes Smith\n" + "step\n" * 9, "Agnes Smith\n" + "step\n" * 9),  # more than a signature follows
])
def test_an_agents_signature_block_is_dropped_by_their_name_or_a_rule_line(text, kept):
    from mailer.quotes import drop_named_signature

    assert drop_named_signature(text, ("Agnes Smith", "Agnes", "agnes@example.com", "李娜")) == kept.rstrip()


def test_tidy_keeps_paragraphs_and_drops_outlooks_empty_ones():
    outlook = "Hi Alice,\r\n\r\n \r\n\r\nUnlocked.  \r\n\r\n\r\nBest,\r\n"
    assert quotes.tidy(outlook) == "Hi Alice,\n\nUnlocked.\n\nBest,"


@pytest.mark.parametrize("scenario, expected", [
    ("outlook_german_multipart", "Guten Tag,\n\ndas Update hat geholfen, der Drucker läuft wieder.\n\n"
                                 "Mit freundlichen Grüßen\nJonas Weber"),
    ("gmail_french_wrapped_attribution", "C'est bon, merci beaucoup !\n\nClaire"),
    ("mail_ru_html_only", "Спасибо, всё заработало."),
    ("outlook_com_html_only", "Yes, Thursday works."),
    ("apple_mail_japanese_forward", "山田さんからの問い合わせです。対応をお願いします。"),
])
def test_whole_messages_in_other_languages_and_clients(scenario, expected):
    """Encoded as their clients send them (quoted-printable, base64, ISO-2022-JP, HTML only)."""
    mail = parsing.parse(load_eml(f"replies/{scenario}.eml"))
    assert quotes.extract_reply(mail.reply_basis) == expected


@pytest.mark.parametrize("attribution", [
    "pon., 3 mar 2025 o 10:15 Example Support <support@example.com> napisał(a):",  # Gmail in Polish
    "Pada Sen, 23 Nov 2026 pukul 10.00 Example Support <\nsupport@example.com> menulis:",  # wrapped in the address
    "În lun., 23 nov. 2026 la 10:00, Example Support <support@example.com>\na scris:",  # wrapped after it
])
def test_an_attribution_naming_an_address_goes_with_its_quote_in_any_language(attribution):
    text = f"Thanks, it works now.\n\n{attribution}\n\n> We have unlocked your account.\n> Example Support\n"
    assert quotes.extract_reply(text) == "Thanks, it works now."


def test_a_quote_the_writer_introduced_stays():
    text = "It still fails. The error says:\n> Error 42: disk full\n"
    assert quotes.extract_reply(text) == text.strip("\n")


@pytest.mark.parametrize("text", [
    "Здравствуйте!\nВчера в 10:15 при входе в кабинет система пишет:\nОшибка 403\nЧто делать?",
    "Hi,\nOn 3 March your system sent:\nInvoice 12 is overdue.\nBut I paid it on 1 March.",
    "您好，\n在2025年3月1日的公告中写道：\n系统将于周五维护。\n请问维护何时结束？",
    "Hello,\nI sent this email yesterday:\nFrom: me@client.example\nTo: sales@vendor.example\n"
    "Subject: Order 12\nCan you check our mail server?",
    "Guten Tag,\nich möchte folgende Fahrt umbuchen:\nVon: Berlin Hbf\nAn: München\nDatum: 05.03.2026\nDanke!",
], ids=["ru-pishet", "en-sent", "zh-xiedao", "typed-headers", "de-fields"])
def test_the_clients_own_words_ending_in_a_colon_are_not_taken_for_history(text):
    assert quotes.extract_reply(text) == text


def test_answers_between_the_quotes_below_a_note_above_are_kept_with_their_questions():
    text = ("Hi, my answers are inline below.\n\nOn Mon, 3 Mar 2025 at 10:00, Support <support@example.com> wrote:\n"
            "> Which version do you use?\n4.2\n\n> Does it fail every time?\nOnly on Mondays.\n\n> Regards, Support\n")
    assert quotes.extract_reply(text) == ("Hi, my answers are inline below.\n\n> Which version do you use?\n4.2\n\n"
                                          "> Does it fail every time?\nOnly on Mondays.")


OURS = ("support@example.com",)
QUOTED = "\n\nPlease send us the log file.\nRegards, Support\n"


@pytest.mark.parametrize("header", [
    "من: Support <support@example.com>\nتم الإرسال: الاثنين، 3 مارس، 2025 10:15 ص\nإلى: Client <client@kunde.example>\n"
    "الموضوع: [#12] Printer",  # Outlook in Arabic
    "מאת: Support <support@example.com>\nנשלח: יום שני 03 מרץ 2025 10:15\nאל: Client <client@kunde.example>",  # Hebrew
    "De\u202f: Support <support@example.com>\nEnvoyé\u202f: lundi 3 mars 2025 10:15\nÀ\u202f: Client <c@kunde.example>",
    "________________________________\nΑπό: Support <support+3f2a9c@example.com>\nΣτάλθηκε: Δευτέρα, 3 Μαρτίου 2025\n"
    "Προς: Client <client@kunde.example>",
    "Am Montag, 3. März 2025 um 10:15:00 MEZ hat Support <support@example.com> Folgendes geschrieben:",  # Yahoo
    "Support <support@example.com> wrote on 03/03/2025 10:15:00 AM:",  # Lotus Notes
    "---- Am Mo, 03 Mär 2025 10:15:00 +0100 schrieb Support <support@example.com> ---",  # Zoho
    '>>> "Support" <support@example.com> 3/3/2025 10:15 AM >>>',  # GroupWise
], ids=["outlook-ar", "outlook-he", "outlook-fr-nnbsp", "owa-el", "yahoo-de", "notes", "zoho-de", "groupwise"])
def test_a_quote_header_naming_our_address_ends_the_reply_in_any_language(header):
    assert quotes.extract_reply(f"The file is attached.\n\n{header}{QUOTED}", OURS) == "The file is attached."


def test_our_address_in_the_clients_own_sentence_ends_nothing():
    text = "Hello,\nI wrote to support@example.com last week and to sales@example.com too.\nAny news?"
    assert quotes.extract_reply(text, OURS) == text


@pytest.mark.parametrize("text", [
    "Hello,\n\nI have been trying to write to support@example.com:\nit keeps bouncing with error 550.\nPlease help.",
    "Hi,\n\nPlease contact me at alice@client.example\nThe error says:\n> Error 0x80070005: access denied",
    "Hello,\nOur server logged this for alice@client.example:\n> 550 5.1.1 User unknown",
    "Hi,\nthe scanner is set up like this:\n\nServer: smtp.example.com\nPort: 587\nUser: support@example.com\n\n"
    "It fails with 535.",
], ids=["sentence-colon", "address-above-colon", "bare-address-colon", "settings-block"])
def test_our_address_or_any_in_the_clients_own_text_cuts_nothing(text):
    assert quotes.extract_reply(text, OURS) == text


@pytest.mark.parametrize("below", [
    "> Please check whether the light on the front of the printer turns\ngreen again.\n> Regards, Support",
    "> Please try again.\n\n_______________________________________________\nClient-it mailing list\n"
    "client-it@lists.example",
], ids=["wrapped-quote", "list-footer"])
def test_a_wrapped_quote_line_or_a_list_footer_below_the_quote_is_no_answer(below):
    text = f"It works now.\n\nOn Mon, 3 Mar 2025 at 10:00, Support <support@example.com> wrote:\n{below}\n"
    assert quotes.extract_reply(text) == "It works now."
