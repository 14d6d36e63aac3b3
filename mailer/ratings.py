"""Read a satisfaction rating (1–5, 5 best) from a client's reply to a survey mail, or say it is none.

The caller applies this only to replies to a survey mail, and treats None as an ordinary ticket
message, so the rules lean towards None whenever the reply might be about something else:

- The rating is the start of the first non-empty line: a digit 1–5 ("5", "4/5", "4 out of 5",
  "5 stars", "4分", "5星", "五星"), stars ("★★★★☆" counts the filled ones, "⭐⭐⭐"), or a word or
  phrase ("very satisfied", "not bad", "满意", "非常不滿意", "sehr zufrieden"), optionally after a
  label ("rating: 4", "评分：5"). Anything before it ("Hi, 5", "Re: 5") makes the reply no rating.
- What follows the rating on that line must be nothing, or a separator (- – — : , . ; / 、 。 ! ~ |;
  a dash only when a space follows it), or an opening bracket. So "5 minutes later it broke again",
  "4 of my users …", "Good morning, …", "bad news, …", "5分钟后" and "不好意思" are no ratings: the
  word runs on into a sentence. Looser, because they cannot start a sentence about something else:
  after stars, "/5", "stars", 分 or 星, and after a Chinese word, a space is separator enough
  ("5 stars great job", "满意 谢谢"), and so is a Chinese rating word ("5星好评"); after a word,
  "thanks"/谢谢 may follow directly ("满意谢谢").
- A bare digit must not run into another number: "10", "45", "4.5", "5,000", "3:30", "1-2 days",
  "3/5/2024" and "5 - 10 minutes …" are no ratings, nor is the first item of a numbered list
  ("1. printer broken" followed by a line "2. …").
- English words take "very/really/extremely/super/highly" (good → 5, bad → 1) and "not" (a good
  word → 2, a bad one → 3: "not bad" is 3, "not good at all" is 1); a few service nouns may follow
  ("great support!"). Spanish, French and German take muy/très/sehr and no/pas/nicht the same way.
  Chinese and Japanese phrases are listed whole, so overlapping prefixes can't mislead (非常不满意
  is 1, not 5; 不满意 is 2, not 4); trailing particles (了, 的, 吧, です …) are allowed.
- A short rating word followed by a comment counts: "OK, but the printer still fails" is a 3 with
  the comment "but the printer still fails" (as Zendesk reads survey replies). The comment is kept,
  so nothing the client wrote is lost.

Matching uses NFKC (full-width digits and punctuation) and ignores case; the comment keeps the
client's own characters. A signature ("-- "), a quoted line (">") or a quote header ("On … wrote:",
"在…写道：") ends the reply, even when the caller's quote removal left it in.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_COMMENT = 2000


@dataclass(frozen=True)
class Rating:
    score: int  # 1..5 (5 best)
    comment: str  # what the client wrote besides the rating, stripped ("" if nothing)


# Where the new text ends: RFC 3676 §4.3 signature separator, a quoted line, a quote header.
END_OF_REPLY = re.compile(
    r"^(?:--\s*|>.*|On\b.{0,300}\bwrote:\s*|在.{0,300}[写寫]道[:：]\s*|.{0,200}于.{0,200}[写寫]道[:：]\s*)$")

LABEL = re.compile(r"(?:(?:my\s+)?(?:rating|score)(?:\s+is)?|评分|評分|打分|评价|評價|满意度|滿意度)\s*[:=]?\s*", re.I)

CJK_NUMERALS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
NUMBER = re.compile(
    r"(?P<n>[1-5一二三四五])(?!\d)"
    r"(?:\s*(?P<of>/\s*5(?!\d|[/.\-]\d)|(?:out\s+)?of\s+5(?!\d)))?"
    r"(?:\s*(?:-\s*)?(?P<unit>stars?\b|points?\b|pts\b|[★⭐]\ufe0f?|颗星|顆星|分|星))?", re.I)
STARS = re.compile(r"(?:[★⭐🌟☆]\ufe0f?[ \t]*)+")

INTENSIFIER = r"very|really|extremely|super|highly|muy|très|tres|sehr"
NEGATION = r"not|no|pas|nicht"
WORDS = {
    5: r"excellent|excelente|great|awesome|perfect|amazing|fantastic|outstanding|superb|brilliant|wonderful|super",
    4: r"satisfied|good|happy|fine|pleased|satisfech[oa]|satisfaite?|zufrieden|gut|bien|buen[oa]",
    3: r"ok|okay|okey|o\.k\.|neutral|average|so[- ]so|alright|all right|mediocre",
    2: r"unsatisfied|dissatisfied|poor|bad|unhappy|disappointed|disappointing|insatisfech[oa]|insatisfaite?|"
       r"unzufrieden|schlecht|mal[oa]|mauvaise?",
    1: r"terrible|awful|horrible|horrendous|dreadful",
}
WORD = re.compile(
    rf"(?:(?P<neg>{NEGATION})\s+(?:(?:so|too|that|very|really)\s+)?)?(?:(?P<int>{INTENSIFIER})\s+)?"
    rf"(?:{'|'.join(f'(?P<w{score}>{words})' for score, words in WORDS.items())})(?!\w)"
    r"(?:\s+(?:service|support|job|work|help|experience)(?!\w))?(?P<all>\s+at\s+all(?!\w))?", re.I)

CJK_WORDS = {
    5: "非常满意 很满意 十分满意 超级满意 特别满意 非常滿意 很滿意 十分滿意 超級滿意 特別滿意 非常好 很好 特别好 "
       "特別好 太好了 满分 滿分 大変満足 とても満足 非常に満足",
    4: "满意 滿意 好 不错 不錯 挺好 还不错 還不錯 挺满意 挺滿意 比较满意 比較滿意 基本满意 基本滿意 好评 好評 満足",
    3: "一般 一般般 还行 還行 还可以 還可以 还好 還好 凑合 湊合 马马虎虎 馬馬虎虎 好的 中评 中評 普通",
    2: "不满意 不滿意 不太满意 不太滿意 差 不好 不太好 较差 較差 差评 差評 失望 不満 不満足",
    1: "非常不满意 很不满意 十分不满意 极不满意 非常不滿意 很不滿意 十分不滿意 極不滿意 很差 太差 太差了 极差 "
       "極差 非常差 特别差 特別差 很失望 非常失望 太失望了 糟糕 很糟糕 太糟糕了 とても不満 大変不満",
}
CJK_SCORES = {word: score for score, words in CJK_WORDS.items() for word in words.split()}
CJK_WORD = re.compile(
    r"(?:服务|服務|态度|態度|整体|整體|总体|總體)?"
    rf"(?P<w>{'|'.join(sorted(CJK_SCORES, key=len, reverse=True))})(?:[了啊呀吧哦喔啦嘛呢哈的]|です|でした)*")

SEPARATOR = re.compile(r"\s*(?:[:,.;/、。!~|]+|[-–—―]+(?=\s|$))\s*")
SPACE = re.compile(r"\s+")
OPENING = re.compile(r"\s*(?=[(\[【「『\"“])")
THANKS = re.compile(r"\s*(?=thanks?\b|thank you|thx\b|谢谢|謝謝|感谢|感謝|多谢|多謝|merci\b|danke\b|gracias\b)", re.I)
LIST_ITEM = re.compile(r"\d{1,2}[.)、]")


def read(text: str) -> Rating | None:
    """The rating a reply starts with, and the rest of it as the comment; None if it doesn't."""
    lines = [line.strip() for line in _new_lines(text)]
    first = next((i for i, line in enumerate(lines) if line), None)
    if first is None:
        return None
    normalised, where = _normalise(lines[first])
    found = _read_start(normalised)
    if found is None:
        return None
    score, comment_at, bare_digit = found
    rest = lines[first + 1:]
    if bare_digit and any(LIST_ITEM.match(unicodedata.normalize("NFKC", line)) for line in rest):
        return None  # the first item of a numbered list, not a rating
    parts = [lines[first][where[comment_at]:], *rest]
    comment = "\n".join(" ".join(part.split()) for part in parts if part.strip())
    return Rating(score, comment[:MAX_COMMENT].strip())


def _new_lines(text: str) -> list[str]:
    lines = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for i, line in enumerate(lines):
        wrapped = f"{line} {lines[i + 1]}" if i + 1 < len(lines) else line  # Gmail wraps "On … wrote:"
        if END_OF_REPLY.match(line.strip()) or (line.startswith("On ") and END_OF_REPLY.match(wrapped.strip())):
            return lines[:i]
    return lines


def _normalise(line: str) -> tuple[str, list[int]]:
    """NFKC, character by character, with where each normalised character came from, so the
    comment can be cut from the client's own text."""
    out: list[str] = []
    where: list[int] = []
    for i, char in enumerate(line):
        n = unicodedata.normalize("NFKC", char)
        out.append(n)
        where.extend([i] * len(n))
    return "".join(out), [*where, len(line)]


def _read_start(line: str) -> tuple[int, int, bool] | None:
    """(score, where the comment starts, whether the rating was a bare digit) for a first line."""
    label = LABEL.match(line)
    start = label.end() if label else 0
    for reader in (_number, _stars, _word, _cjk_word):
        found = reader(line, start)
        if found is not None:
            score, end, loose, bare_digit = found
            comment_at = _comment_start(line, end, loose=loose, bare_digit=bare_digit)
            return None if comment_at is None else (score, comment_at, bare_digit)
    return None


def _number(line: str, start: int):
    m = NUMBER.match(line, start)
    if m is None:
        return None
    unit = (m["unit"] or "").lower()
    if m["n"] in CJK_NUMERALS and unit not in ("分", "星", "颗星", "顆星"):
        return None  # 一, 三 … alone begin ordinary words (一般, 三星手机)
    score = CJK_NUMERALS.get(m["n"]) or int(m["n"])
    loose = (m["of"] or "").startswith("/") or (unit != "" and not unit.startswith(("point", "pt")))
    return score, m.end(), loose, not (m["of"] or unit)


def _stars(line: str, start: int):
    m = STARS.match(line, start)
    if m is None:
        return None
    stars = m.group().replace("\ufe0f", "")
    filled = sum(stars.count(s) for s in "★⭐🌟")
    if not 1 <= filled <= 5 or filled + stars.count("☆") > 5:
        return None
    return filled, m.start() + len(m.group().rstrip(" \t")), True, False  # the space after them separates


def _word(line: str, start: int):
    m = WORD.match(line, start)
    if m is None:
        return None
    base = next(score for score in WORDS if m[f"w{score}"])
    if m["all"] and not m["neg"]:
        return None
    if m["neg"]:
        score = (1 if m["all"] else 2) if base >= 3 else 3
    elif m["int"]:
        score = 5 if base >= 4 else 1 if base <= 2 else base
    else:
        score = base
    return score, m.end(), False, False


def _cjk_word(line: str, start: int):
    m = CJK_WORD.match(line, start)
    return None if m is None else (CJK_SCORES[m["w"]], m.end(), True, False)


def _comment_start(line: str, end: int, *, loose: bool, bare_digit: bool) -> int | None:
    """Where the comment begins after a rating ending at `end`, or None when the rating runs on
    into a sentence ("5 minutes later …") or another number ("4.5", "3:30")."""
    if end == len(line) or (line[end - 1] in "分星" and CJK_WORD.match(line, end)):  # "5星好评"
        return end
    m = SEPARATOR.match(line, end) or OPENING.match(line, end)
    if m is None and loose:
        m = SPACE.match(line, end)
    if m is None and not bare_digit:
        m = THANKS.match(line, end)
    if m is None or (bare_digit and line[m.end():m.end() + 1].isdigit()):
        return None
    return m.end()
