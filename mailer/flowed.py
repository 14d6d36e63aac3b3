"""Plain text sent as format=flowed (RFC 3676), as Thunderbird, Apple Mail and many phones write
it: read back into the paragraphs the writer typed.

Such text is wrapped at about 72 columns for transport; a line ending in a space is a soft break
that the reader joins to the next line of the same quote depth. Shown as sent, every paragraph
breaks mid-sentence in the admin and in the agent's reply quote. With `delsp=yes` the space
before the break is not the writer's (languages written without spaces, CJK among them) and is
dropped when joining. A line that starts with a space, "From " or ">" was space-stuffed: one
leading space is taken off. The signature separator "-- " is never a soft break.
"""

from __future__ import annotations

SIGNATURE_SEPARATOR = "-- "


def is_flowed(content_type_params: dict[str, str]) -> bool:
    return content_type_params.get("format", "").strip().lower() == "flowed"


def deletes_space(content_type_params: dict[str, str]) -> bool:
    return content_type_params.get("delsp", "").strip().lower() == "yes"


def unflow(text: str, delsp: bool = False) -> str:
    """The paragraphs of flowed `text`, each on one line; quoted ones keep their depth as
    ">" marks and a space ("> ", ">> "). Linear in the text."""
    out: list[str] = []
    depth, parts = -1, []  # the paragraph being joined (-1: none)

    def close() -> None:
        if depth >= 0:
            joined = "".join(parts)
            out.append((">" * depth + " " + joined if joined else ">" * depth) if depth else joined)

    for line in text.replace("\r\n", "\n").split("\n"):
        quoted = len(line) - len(line.lstrip(">"))
        content = line[quoted:]
        if content.startswith(" "):  # space-stuffing (and the space after quote marks)
            content = content[1:]
        soft = content.endswith(" ") and content != SIGNATURE_SEPARATOR
        if soft and delsp:
            content = content[:-1]
        if quoted != depth:  # a paragraph never runs across quote depths
            close()
            depth, parts = quoted, []
        parts.append(content)
        if not soft:
            close()
            depth, parts = -1, []
    if parts:
        parts[-1] = parts[-1].rstrip(" ")  # flowed to the end: the last soft break had no line after it
        close()
    return "\n".join(out)
