"""`#commands` at the top of an agent's mail: read them, and say what is wrong with the rest.

Only lines at the very top count, each alone on its line (blank lines between them are fine);
the first line that is not a command ends them, so a "#1" or "#close" quoted further down is
text. Chinese aliases map to the same commands. Reading applies nothing: the pipeline checks
each command with its action's `check_…` twin and applies all or none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .reasons import Reason

# command → whether it takes an argument
COMMANDS = {"close": False, "resolve": False, "pending": False, "open": False, "note": False,
            "assign": True, "priority": True, "tier": True, "category": True}
ALIASES = {
    "关闭": "close", "解决": "resolve", "已解决": "resolve", "待定": "pending", "等待": "pending",
    "打开": "open", "重新打开": "open", "备注": "note", "内部备注": "note", "分配": "assign", "指派": "assign",
    "优先级": "priority", "等级": "tier", "客户等级": "tier", "分类": "category", "类别": "category",
}
# Characters an HTML editor leaves unseen before a typed "#close" (zero-width spaces and joiners,
# a byte-order mark, direction marks).
INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff\u202a-\u202e]")
# What an editor puts around a line typed as "#note": a bullet, bold or italic marks ("*#note*" is
# how a bold line reads in the text part Gmail and Thunderbird write).
BULLET = re.compile(r"[*_~•·▪◦‣\-–—]+\s*")  # matched at the start only: one position, linear time
COMMAND_LIKE = re.compile(r"[#＃]")  # a top line that begins so is a command, or an error: never client text
# "#note", "# note", "＃　备注" (a Chinese IME's full-width space): matched in full, on a stripped line.
LINE = re.compile(r"[#＃]\s*([^\s#＃]+)(?:\s+(.*))?")
SUBJECT_COMMAND = re.compile(r"[#＃]\s*([^\W\d_]\w*)")


@dataclass(frozen=True)
class Command:
    name: str
    argument: str = ""


@dataclass
class Parsed:
    commands: list[Command] = field(default_factory=list)
    text: str = ""  # the mail without its command lines
    errors: list[str] = field(default_factory=list)  # one line each, for the reply to the agent

    @property
    def is_note(self) -> bool:
        return any(c.name == "note" for c in self.commands)


def parse(text: str) -> Parsed:
    result = Parsed()
    lines = text.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        line = _command_line(lines[index])
        if not line:
            index += 1
            continue
        found = LINE.fullmatch(line)
        if not found and COMMAND_LIKE.match(line):
            result.errors.append(Reason("%(line)r: a line beginning with # at the top of your mail must be a "
                                        "command (known: %(known)s)", line=line[:80],
                                        known=", ".join("#" + c for c in COMMANDS)))
            index += 1
            continue
        if not found:
            break
        word, argument = found.group(1), (found.group(2) or "").strip()
        name = ALIASES.get(word, word.lower())
        if name not in COMMANDS:
            result.errors.append(Reason("#%(word)s: unknown command (known: %(known)s)", word=word,
                                        known=", ".join("#" + c for c in COMMANDS)))
        elif COMMANDS[name] and not argument:
            result.errors.append(Reason("#%(word)s: needs an argument, e.g. #%(name)s %(example)s", word=word,
                                        name=name, example=_example(name)))
        elif not COMMANDS[name] and argument:
            result.errors.append(Reason("#%(word)s: takes no argument (got %(argument)r)", word=word,
                                        argument=argument))
        else:
            result.commands.append(Command(name, argument))
        index += 1
    result.text = "\n".join(lines[index:]).strip("\n")
    for line in lines[index:]:  # a command written below the text: "#note" there must not send it
        found = LINE.fullmatch(_command_line(line))
        name = ALIASES.get(found.group(1), found.group(1).lower()) if found else ""
        if name in COMMANDS and COMMANDS[name] == bool((found.group(2) or "").strip()):  # a command as written
            result.errors.append(Reason("#%(word)s is below your text: commands go on the first lines, above "
                                        "it; nothing was applied or sent", word=found.group(1)))
            break  # one says it: a mail of thousands of them makes one error, not thousands
    return result


def in_subject(subject: str, ticket_subject: str) -> list[str]:
    """An error when the agent wrote a command into the subject ("Re: [#12] Refund #note"), not
    on the first lines: a note there would otherwise go to the client as a reply. The ticket's
    own subject ("Re: [#12] The #close button fails") is the client's words, not a command."""
    for found in SUBJECT_COMMAND.finditer(subject):
        word = found.group(1)
        if ALIASES.get(word, word.lower()) in COMMANDS and not re.search(
                rf"[#＃]\s*{re.escape(word)}(?!\w)", ticket_subject, re.IGNORECASE):
            return [Reason("#%(word)s is in the subject: commands go on the first lines of the mail; nothing was "
                           "applied or sent", word=word)]
    return []


def _command_line(line: str) -> str:
    """The line as a command is read: without invisible characters, and without its decoration
    when a "#" stands inside it (a "--" or "***" line stays what it is)."""
    line = INVISIBLE.sub("", line).strip()
    found = BULLET.match(line)
    undecorated = line[found.end():].rstrip("*_~").rstrip() if found else line.rstrip("*_~").rstrip()
    return undecorated if COMMAND_LIKE.match(undecorated) else line


def _example(name: str) -> str:
    return {"assign": "me", "priority": "high", "tier": "vip", "category": "complaint"}.get(name, "")
