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
