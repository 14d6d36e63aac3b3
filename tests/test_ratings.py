"""Reading a satisfaction rating from a reply to a survey mail: what counts, and what stays a message."""

import pytest

from mailer.ratings import MAX_COMMENT, Rating, read


@pytest.mark.parametrize(("text", "score", "comment"), [
    # digits, alone or with a separator, a unit or a label
    ("5", 5, ""),
    ("1", 1, ""),
    ("  3  \n", 3, ""),
    ("5!", 5, ""),
    ("4 - fast and helpful", 4, "fast and helpful"),
    ("4 – fast", 4, "fast"),
    ("2 — slow answers", 2, "slow answers"),
    ("3: ok", 3, "ok"),
    ("4, thanks", 4, "thanks"),
    ("5. Great service", 5, "Great service"),
    ("5 (the agent was quick)", 5, "(the agent was quick)"),
    ("5/5", 5, ""),
    ("4 / 5", 4, ""),
    ("4/5.", 4, ""),
    ("5/5 great job", 5, "great job"),
    ("4 out of 5", 4, ""),
    ("2 of 5 - too slow", 2, "too slow"),
    ("rating: 4", 4, ""),
    ("Rating: 3 - fine", 3, "fine"),
    ("my rating is 5", 5, ""),
    ("5 stars", 5, ""),
    ("1 star.", 1, ""),
    ("4 Stars, quick reply", 4, "quick reply"),
    ("5-star service", 5, "service"),
    ("4 out of 5 stars", 4, ""),
    ("5 points", 5, ""),
    ("4⭐", 4, ""),
    ("4分", 4, ""),
    ("5星", 5, ""),
    ("5星好评", 5, "好评"),
    ("五星", 5, ""),
    ("三分，回复太慢", 3, "回复太慢"),
    ("评分：5", 5, ""),
    ("評分: 4分", 4, ""),
    # full-width digits and GB punctuation; the comment keeps the client's own characters
    ("５", 5, ""),
    ("５／５", 5, ""),
    ("４：不错", 4, "不错"),
    ("５分，服务很好！", 5, "服务很好！"),
    ("3。还行", 3, "还行"),
    ("4、处理得挺快", 4, "处理得挺快"),
    # stars
    ("★★★★☆", 4, ""),
    ("★★★★★ thank you!", 5, "thank you!"),
    ("★☆☆☆☆", 1, ""),
    ("⭐⭐⭐⭐⭐", 5, ""),
    ("⭐️⭐️⭐️", 3, ""),
    ("★ ★ ★", 3, ""),
    # English words, intensifiers and negations
    ("Very satisfied! thanks", 5, "thanks"),
    ("Excellent", 5, ""),
    ("great, thanks a lot", 5, "thanks a lot"),
    ("Perfect.", 5, ""),
    ("awesome!!!", 5, ""),
    ("Great support!", 5, ""),
    ("Great thanks", 5, "thanks"),
    ("very good", 5, ""),
    ("satisfied", 4, ""),
    ("Good", 4, ""),
    ("happy", 4, ""),
    ("Fine, thanks", 4, "thanks"),
    ("ok", 3, ""),
    ("OK, but the printer still fails", 3, "but the printer still fails"),
    ("okay", 3, ""),
    ("so-so", 3, ""),
    ("Neutral", 3, ""),
    ("average", 3, ""),
    ("not bad", 3, ""),
    ("Not too bad.", 3, ""),
    ("not good", 2, ""),
    ("not satisfied", 2, ""),
    ("Not very happy - it took a week", 2, "it took a week"),
    ("unsatisfied", 2, ""),
    ("Dissatisfied.", 2, ""),
    ("poor", 2, ""),
    ("bad", 2, ""),
    ("unhappy", 2, ""),
    ("very unsatisfied", 1, ""),
    ("Very dissatisfied, nobody called back", 1, "nobody called back"),
    ("very bad", 1, ""),
    ("Very bad service.", 1, ""),
    ("very poor", 1, ""),
    ("terrible", 1, ""),
    ("Awful!", 1, ""),
    ("horrible", 1, ""),
    ("not good at all", 1, ""),
    # Chinese, simplified and traditional, overlapping prefixes
    ("非常满意", 5, ""),
    ("很满意", 5, ""),
    ("十分满意", 5, ""),
    ("超级满意！", 5, ""),
    ("非常滿意", 5, ""),
    ("很滿意，謝謝", 5, "謝謝"),
    ("服务很好", 5, ""),
    ("满意", 4, ""),
    ("滿意", 4, ""),
    ("满意，谢谢你们的帮助", 4, "谢谢你们的帮助"),
    ("满意谢谢", 4, "谢谢"),
    ("满意的", 4, ""),
    ("好", 4, ""),
    ("不错", 4, ""),
    ("不錯！", 4, ""),
    ("挺好的", 4, ""),
    ("一般", 3, ""),
    ("还行吧", 3, ""),
    ("還行", 3, ""),
    ("还可以", 3, ""),
    ("凑合", 3, ""),
    ("好的", 3, ""),
    ("不满意", 2, ""),
    ("不滿意", 2, ""),
    ("不太满意，等了三天", 2, "等了三天"),
    ("差", 2, ""),
    ("不好", 2, ""),
    ("非常不满意", 1, ""),
    ("很不满意！！", 1, ""),
    ("非常不滿意", 1, ""),
    ("很差", 1, ""),
    ("太差了", 1, ""),
    ("极差", 1, ""),
    ("非常差", 1, ""),
    # other languages
    ("muy satisfecho", 5, ""),
    ("Satisfecha", 4, ""),
    ("très satisfait", 5, ""),
    ("satisfaite", 4, ""),
    ("pas satisfait", 2, ""),
    ("sehr zufrieden", 5, ""),
    ("zufrieden", 4, ""),
    ("unzufrieden", 2, ""),
    ("満足です", 4, ""),
    ("不満", 2, ""),
    # stars, then a word after a space
    ("⭐⭐⭐⭐⭐ great", 5, "great"),
    ("★★★★☆ 不错", 4, "不错"),
    ("⭐️⭐️⭐️⭐️⭐️ 很好", 5, "很好"),
])
def test_reads_a_rating(text, score, comment):
    assert read(text) == Rating(score, comment)


@pytest.mark.parametrize("text", [
    "",
    "   \n\n  ",
    "10",
    "0",
    "6",
    "45",
    "4.5",
    "5,000 invoices are missing",
    "3:30 pm the printer stopped",
    "1-2 days ago it broke",
    "3/5/2024 the printer broke",
    "4/10",
    "5 - 10 minutes later it broke again",
    "5 minutes later it broke again",
    "4 of my users cannot log in",
    "4 of 5 users cannot log in",
    "2FA codes never arrive",
    "Good morning, the printer still fails",
    "Bad news, it broke again",
    "Great service but one question",
    "Thanks, but I still need help with invoice 4",
    "Hi, 5",
    "Re: 5",
    "OK?",
    "No, it is still broken",
    "Not sure what you mean",
    "Note: 5 minutes after restarting it fails",
    "我的订单号是5",
    "5号订单还没到",
    "5分钟后又坏了",
    "一分钟后又断了",
    "三星手机连不上",
    "还是不行",
    "不好意思，打印机还是坏了",
    "差不多好了，但还有问题",
    "好久没收到回复了",
    "很好用，但是有个问题",
    "满意度调查我不想填",
    "好好的打印机又坏了",
    "☆☆☆☆☆",
    "★★★★★★",
    "> 5",
    "1. The printer is broken\n2. The scanner is broken",
    "1、打印机坏了\n2、扫描仪也坏了",
    "I have been waiting for three weeks now and nobody has answered my question about the invoice. "
    "Great support would have called me back by now; 5 people in my team cannot work.",
])
def test_not_a_rating(text):
    assert read(text) is None


def test_the_comment_gathers_the_following_lines_tidied():
    text = "4 -   quick   answer\n\n\n  but the  invoice\tis still wrong  \n"
    assert read(text) == Rating(4, "quick answer\nbut the invoice is still wrong")


def test_a_rating_on_its_own_line_takes_the_next_lines_as_comment():
    assert read("\n\n满意\n\n客服小王很耐心。\n问题当天就解决了。") == Rating(4, "客服小王很耐心。\n问题当天就解决了。")


@pytest.mark.parametrize("text", [
    "5 - great\n\n-- \nJohn Smith\nACME Ltd",
    "5 - great\n--\nJohn Smith",
    "5 - great\n\nOn Mon, 5 May 2025 at 10:00, Postdesk <support@example.com> wrote:\n> How did we do?",
    "5 - great\n\nOn Mon, 5 May 2025 at 10:00, Postdesk Support <\nsupport@example.com> wrote:\n> How did we do?",
    "5 - great\n> How did we do?\n> Reply with 1 to 5",
])
def test_a_leftover_signature_or_quote_is_not_part_of_the_comment(text):
    assert read(text) == Rating(5, "great")


@pytest.mark.parametrize("text", [
    "满意\n在 2025年5月5日 10:00，客服 <support@example.cn> 写道：\n> 请为我们的服务打分",
    "满意\n張三 于2025年5月5日周一 10:00写道：\n> 请为我们的服务打分",
])
def test_a_leftover_chinese_quote_header_is_not_part_of_the_comment(text):
    assert read(text) == Rating(4, "")


def test_a_quote_header_before_any_new_text_leaves_no_rating():
    assert read("On Mon, 5 May 2025, Postdesk <support@example.com> wrote:\n> 5") is None


def test_the_comment_is_cut_at_its_limit():
    rating = read("2: " + "slow " * 1000)
    assert rating.score == 2 and len(rating.comment) <= MAX_COMMENT and rating.comment.startswith("slow slow")


def test_crlf_and_decomposed_accents_are_read():
    assert read("tre\u0300s satisfait\r\nmerci\r\n") == Rating(5, "merci")
