"""Separate the new content of a reply from quoted history and device signatures."""

from __future__ import annotations

import re

# A line that starts quoted history: everything from it on is the earlier conversation.
QUOTE_HEADERS = [re.compile(p, re.I | re.M) for p in (
    r"^On .{1,200}wrote:?\s*$",                       # Gmail, Apple Mail, Thunderbird
    r"^-{2,}\s*Original Message\s*-{2,}\s*$",        # Outlook
    r"^-{5,}\s*原始邮件\s*-{5,}\s*$",                  # QQ Mail, Foxmail
    r"^在.{1,200}写道[：:]\s*$",                        # Chinese Gmail/Apple Mail
    r"^(From|发件人|寄件者)\s*[:：].*\n(.*\n){0,3}?(Sent|Date|发送时间|日期|寄件日期)\s*[:：]",
    r"^_{20,}\s*$",                                     # Outlook web separator
)]
SIGNATURES = re.compile(
    r"^(Sent from my (iPhone|iPad|Android|mobile device).*|Get Outlook for (iOS|Android).*|"
    r"发自我的\s?(iPhone|iPad|手机)|来自网易邮箱大师|发自网易邮箱大师|从我的\s?iPhone\s?发送)\s*$", re.I | re.M)


def extract_reply(text: str) -> str:
    """The new content of a message: cut at the first quote header, drop trailing `>` lines
    and a device signature. Quoted lines inside the new text are kept (inline replies)."""
    cut = len(text)
    for pattern in QUOTE_HEADERS:
        match = pattern.search(text)
        if match and match.start() < cut:
            cut = match.start()
    lines = text[:cut].rstrip().split("\n")
    while lines and (lines[-1].startswith(">") or not lines[-1].strip()):
        lines.pop()
    reply = "\n".join(lines)
    reply = SIGNATURES.sub("", reply).rstrip()
    return reply.strip("\n")
