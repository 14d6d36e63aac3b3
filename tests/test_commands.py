"""Reading #commands at the top of an agent's mail, in English and Chinese."""

import pytest

from mailer import commands
from mailer.commands import Command


def test_commands_at_the_top_are_read_and_removed_from_the_text():
    parsed = commands.parse("#pending\n#assign me\n\n#priority high\nThanks, we are on it.\n#close is a word here\n")
    assert parsed.commands == [Command("pending"), Command("assign", "me"), Command("priority", "high")]
    assert parsed.text == "Thanks, we are on it.\n#close is a word here" and not parsed.errors


def test_a_mail_of_commands_only_has_no_text():
    parsed = commands.parse("#resolve\r\n\r\n")
    assert parsed.commands == [Command("resolve")] and parsed.text == ""


@pytest.mark.parametrize(("line", "command"), [
    ("#关闭", Command("close")), ("＃解决", Command("resolve")), ("#分配 张伟", Command("assign", "张伟")),
    ("#优先级　urgent", Command("priority", "urgent")), ("#备注", Command("note")), ("#Close", Command("close")),
])
def test_chinese_aliases_and_full_width_signs(line, command):
    assert commands.parse(line + "\n正文").commands == [command]


@pytest.mark.parametrize(("line", "error"), [
    ("#frobnicate", "unknown command"), ("#assign", "needs an argument"), ("#close now", "takes no argument"),
])
def test_a_wrong_command_is_an_error_and_nothing_of_it_is_kept(line, error):
    parsed = commands.parse(line + "\nHello")
    assert parsed.commands == [] and error in parsed.errors[0] and parsed.text == "Hello"


@pytest.mark.parametrize("line", ["# note", "＃\u3000备注", "＃\xa0备注", "*#note*", "**#note**", "• #note", "- #note",
                                  "\u200b#note"])
def test_a_note_however_an_editor_dresses_it_is_a_note(line):
    """A space after the sign (a Chinese IME's full-width one, an HTML editor's &nbsp;), bold
    marks, a bullet: still the command, or the note goes to the client as a reply."""
    parsed = commands.parse(line + "\nLegacy plan: do not offer the refund.")
    assert parsed.is_note and parsed.text == "Legacy plan: do not offer the refund." and not parsed.errors


@pytest.mark.parametrize("line", ["#", "##note", "# "])
def test_a_top_line_beginning_with_the_sign_is_a_command_or_an_error_never_text(line):
    parsed = commands.parse(line + "\nLegacy plan: do not offer the refund.")
    assert parsed.errors and not parsed.commands


def test_a_command_in_the_subject_is_an_error_unless_the_ticket_is_named_so():
    assert "in the subject" in commands.in_subject("Re: [#12] Refund #note", "Refund")[0]
    assert "in the subject" in commands.in_subject("Re: [#12] 退款 ＃备注", "退款")[0]
    assert commands.in_subject("Re: [#12] The #close button fails", "The #close button fails") == []
    assert commands.in_subject("Re: [#12] Refund", "Refund") == []


def test_a_note_command_marks_the_mail_internal():
    assert commands.parse("#note\nCalled the customer.").is_note
    assert not commands.parse("Text first\n#note").is_note


@pytest.mark.parametrize("text", ["Internal: the legacy plan is wrong.\n#note", "Unlocked your account.\n\n#resolve",
                                  "已处理。\n＃备注", "Done.\n#assign bob@example.com"])
def test_a_command_written_below_the_text_is_an_error_not_text_for_the_client(text):
    parsed = commands.parse(text)
    assert parsed.errors and "below your text" in parsed.errors[0]


def test_lines_that_only_start_like_a_command_are_text():
    assert not commands.parse("Steps:\n#1 reboot\n#close is a word here\n#hashtag").errors
