"""Parsing real-world mail: charsets that lie, encoded headers, MIME oddities, never a crash."""

import base64
import hashlib
import struct

import pytest

from mailer import parsing, quotes, smime
from mailer.inspect import describe
from tests.conftest import load_eml, openssl_cms


@pytest.mark.parametrize("name, sender_name, subject, text", [
    ("gb2312_label_with_gbk_bytes.eml", "朱镕基", "请查询", "您好，我是朱镕基的同事，喆哥让我来问。"),
    ("x_gbk_charset.eml", "", "制度查询", "请问发票什么时候开？"),
    ("ks_c_5601_1987.eml", "김민준", "제목", "안녕하세요. 비밀번호를 잊어버렸습니다."),
    ("big5_labelled_utf8.eml", "", "Invoice", "您好，我的帳號無法登入，請協助處理。謝謝！"),
    ("utf8_labelled_big5.eml", "", "Login", "您好，我的帳號無法登入，請協助處理。"),
    ("undeclared_8bit_gbk.eml", "", "order", "订单号 12345 还没有发货，请尽快处理。"),
    ("unknown_charset.eml", "", "Unknown charset", "Plain words in a charset nobody has heard of. Café."),
    ("bom_before_headers.eml", "", "BOM first", "A byte-order mark came before the headers."),
    ("split_encoded_words.eml", "张三", "产品故障：打不开", "标题被拆成了好几段编码。"),
    ("chinese_gbk_question.eml", "张伟", "发票金额不对", "您好，\n\n我的发票金额不对，请帮忙核实。\n\n张伟"),
])
def test_charsets_and_encoded_headers_decode(name, sender_name, subject, text):
    mail = parsing.parse(load_eml(name))
    assert (mail.from_name, mail.subject, mail.text) == (sender_name, subject, text)


def test_html_only_mail_becomes_text_and_keeps_sanitised_html_with_inline_image():
    mail = parsing.parse(load_eml("html_only_with_inline_image.eml"))
    assert "The error looks like this:" in mail.text and "Thanks, Maria" in mail.text
    assert "<script" not in mail.html and "onclick" not in mail.html
    assert 'src="cid:shot1@client.example"' in mail.html
    [image] = mail.attachments
    assert (image.content_type, image.content_id, image.inline) == ("image/png", "shot1@client.example", True)


def test_text_attachment_beside_a_plain_body_is_an_attachment():
    mail = parsing.parse(load_eml("text_attachment_beside_body.eml"))
    assert mail.text == "The import fails; the log is attached."
    [log] = mail.attachments
    # RFC 2046: the CRLF before a boundary belongs to the boundary
    assert (log.filename, log.data) == ("import.log", b"ERROR 42 at line 7")


def test_attachments_keep_chinese_names_and_exact_bytes():
    mail = parsing.parse(load_eml("chinese_attachment_names.eml"))
    names = [a.filename for a in mail.attachments]
    assert names == ["发票扫描.pdf", "信息表.xls"]
    pdf = mail.attachments[0]
    assert pdf.data.startswith(b"%PDF-1.4") and pdf.sha256 == hashlib.sha256(pdf.data).hexdigest()


def test_truncated_base64_keeps_what_can_be_decoded():
    mail = parsing.parse(load_eml("truncated_base64.eml"))
    [data] = mail.attachments
    assert data.filename == "data.bin" and data.data.startswith(bytes(range(100)))
    assert mail.text == "The attachment was cut off in transit."


def test_multipart_without_boundary_keeps_its_text():
    mail = parsing.parse(load_eml("broken_mime_no_boundary.eml"))
    assert "The text must still reach the ticket." in mail.text and mail.attachments == []


@pytest.mark.parametrize("raw", [
    b"", b"\x00\x01\x02", b"garbage without headers", b"Subject: =?utf-8?B?!!!?=\r\n\r\nx",
    b"From: <>\r\nContent-Type: multipart/mixed; boundary=\"a\"\r\n\r\n"
    b"--a\r\nContent-Type: text/plain; charset=\"\r\n\r\nhi\r\n",
    b"Content-Transfer-Encoding: base64\r\nContent-Type: text/plain; charset=utf-7\r\n\r\n%%%%",
    b"Date: not a date\r\nMessage-ID: <a@b>\r\nFrom: \"unterminated <x@y\r\n\r\nbody",
])
def test_malformed_input_never_raises(raw):
    result = describe(raw)
    assert set(result) >= {"message_id", "from", "text", "attachments", "bounce"}


def test_inspect_fields_are_the_documented_ones():
    result = describe(load_eml("html_only_with_inline_image.eml"))
    assert list(result) == ["message_id", "from", "to", "cc", "subject", "date", "in_reply_to",
                            "references", "text", "html", "reply_text", "attachments", "auto_reply",
                            "bounce", "complaint"]
    assert result["date"] == "2026-11-23T09:00:00Z"
    assert result["attachments"] == [{"filename": "attachment-1.png", "content_type": "image/png",
                                      "size": 70, "inline": True}]


@pytest.mark.parametrize("structure", ["alternative_empty_plain", "alternative_stub_plain",
                                       "mixed_html_then_disclaimer"])
def test_the_html_is_the_text_when_the_plain_part_is_empty_or_a_stand_in(structure):
    html = ("<html><body><p>Our invoice 4711 was charged twice this month, please refund the second charge "
            "to the card ending 1234. Thank you!</p></body></html>")
    plain = {"alternative_empty_plain": "",
             "alternative_stub_plain": "This message requires an HTML capable mail client.",
             "mixed_html_then_disclaimer": "Sent via ExampleMail"}[structure]
    kind = "mixed" if structure.startswith("mixed") else "alternative"
    parts = [("html", html), ("plain", plain)] if kind == "mixed" else [("plain", plain), ("html", html)]
    body = "".join(f"--b\r\nContent-Type: text/{sub}; charset=utf-8\r\n\r\n{content}\r\n" for sub, content in parts)
    raw = (f"From: a@client.example\r\nTo: support@example.com\r\nSubject: refund\r\nMessage-ID: <h@client.example>\r\n"
           f"Content-Type: multipart/{kind}; boundary=b\r\n\r\n{body}--b--\r\n").encode()
    mail = parsing.parse(raw)
    assert "invoice 4711 was charged twice" in mail.text and "invoice 4711" in mail.reply_basis


@pytest.mark.parametrize("text, encoded_as, label", [
    ("Können Sie das prüfen? Grüße, Jürgen Müller", "latin-1", None),  # no label: guessed
    ("Können Sie das prüfen? Grüße, Jürgen Müller", "latin-1", "utf-8"),  # a label that lies
    ("Bonjour, j'ai reçu la facture numéro 12, merci à vous. Élodie", "cp1252", None),
    ("Здравствуйте, у меня не работает принтер. Спасибо.", "cp1251", None),
    ("Dzień dobry, drukarka nie działa. Proszę o pomoc, Zażółć gęślą jaźń", "cp1250", None),  # Central Europe
    ("Señor, la factura fue reçue", "utf-8", "iso-8859-1"),  # UTF-8 under a Latin-1 label
    ("您好，我的發票還沒有收到，請幫忙查一下。謝謝！", "big5", "gb2312"),  # the other Chinese charset
    ("您好，我的发票还没有收到，请帮忙查一下。谢谢！", "gbk", "big5"),
    ("您好，我用Outlook发送的邮件没有收到回复，订单号 A12345。", "gbk", None),
    ("①株式会社テスト～お世話になっております。", "cp932", "shift_jis"),  # Windows' Shift_JIS
    ("①株式会社テストお世話になっております。", "euc_jis_2004", "euc-jp"),  # NEC's row 13 in EUC-JP
    # No label, or Latin-1, which programs write when they do not know: every script read as itself.
    ("先日注文した商品がまだ届いていません。ご確認をお願いします。", "cp932", None),
    ("先日注文した商品がまだ届いていません。ご確認をお願いします。", "euc_jp", "iso-8859-1"),
    ("주문한 상품이 아직 도착하지 않았습니다. 확인 부탁드립니다.", "cp949", None),
    ("Добрый день! Заказ до сих пор не пришёл, проверьте, пожалуйста.", "koi8_r", None),
    ("Добрый день! Заказ до сих пор не пришёл, проверьте, пожалуйста.", "cp1251", "iso-8859-1"),
    ("Καλημέρα, η παραγγελία μου δεν έχει φτάσει ακόμη. Ευχαριστώ.", "cp1253", None),
    ("שלום, ההזמנה שלי עדיין לא הגיעה. תודה.", "cp1255", None),
    ("مرحبا، طلبي لم يصل بعد. شكرا لكم.", "cp1256", None),
    ("สวัสดีค่ะ สินค้าที่สั่งยังไม่ได้รับ ขอบคุณค่ะ", "cp874", None),
    ("您好，我的发票还没有收到，请帮忙查一下。谢谢！", "gbk", "iso-8859-1"),
    ("Hab vergessen, die Sonderzeichen einzufügen:\näöüÄÖÜß", "cp1252", None),  # a run of them is German
    ("Grüße aus Köln, Jürgen", "cp1252", "iso-8859-1"),  # Latin-1 that reads as Latin-1 stays
    ("お世話になっております。", "iso2022_jp", None),  # 7-bit: told by its escapes, not taken for ASCII
    ("お世話になっております。", "iso2022_jp", "us-ascii"),
    ("주문한 상품이 아직 도착하지 않았습니다.", "iso2022_kr", None),
    ("お世話になっております。", "iso2022_jp", "iso-8859-1"),
    # Latin-1's own symbols and letters under its label stay what they are: one "£" or "º" is no
    # sign of another charset, nor a name, nor a run of capitals.
    ("Hola Sra. Muñoz, le cobramos £49.99 dos veces. Calle Mayor 5, 2º izq. ¿Pueden revisarlo?", "cp1252",
     "iso-8859-1"),
    ("Tolerance ±0.5 mm, 5 µm filter, ½ cup, 30 × 40 cm, 2 m³, § 3, 25¢", "cp1252", "windows-1252"),
    ("Hej, tak for hjælpen. Søren Ærø, Blåbærvej 3, ÆØÅ", "cp1252", "iso-8859-1"),
    ("NESTLÉ® CAFÉ™", "cp1252", "iso-8859-1"),  # É® and É™ happen to be UTF-8 as well
    # A charset's own label holds on short text whose bytes happen to be valid UTF-8 too.
    ("谢谢", "gbk", "gb2312"),
    ("Ні", "cp1251", "windows-1251"),
    ("화", "cp949", "euc-kr"),
    ("桃園機場", "big5", "big5"),
    # UTF-8 under another label, however little of it: a quote, an emoji, a euro sign.
    ("Can’t log in", "utf-8", "iso-8859-1"),
    ("Thanks 😀", "utf-8", "iso-8859-1"),
    ("Price: 20 €", "utf-8", "iso-8859-15"),
    # Chinese first: a subject or an address in a few uncommon characters is still Chinese.
    ("产品质量投诉", "gbk", None),
    ("北京市朝阳区", "gbk", "utf-8"),
    ("您好", "big5", None),
    ("台北市信義區", "big5", "gb2312"),
    ("你们的产品质量太差了，用了三天就坏了，我要求全额退款。", "gbk", "big5"),  # the label cannot read it
    ("Señor Muñoz", "cp1252", "euc-kr"),
    ("Sonderzeichen: äöüß", "cp1252", "iso-8859-1"),
])
def test_text_decodes_whatever_its_label_says(text, encoded_as, label):
    from mailer import charsets

    assert charsets.decode(text.encode(encoded_as), label) == text


def test_iso_2022_jp_with_necs_row_13_as_windows_writes_it():
    from mailer import charsets

    assert charsets.decode(b"\x1b$B-!3t<02q<R%F%9%H\x1b(B test", "iso-2022-jp") == "①株式会社テスト test"
    assert charsets.decode("お世話になっております。".encode("iso2022_jp"), "ISO-2022-JP") == "お世話になっております。"


@pytest.mark.parametrize("value, expected", [
    ("Mon, 23 Nov 2026 10:00:00 +0800", "2026-11-23 02:00"),
    ("Mon, 23 Nov 2026 10:00:00 GMT+8", "2026-11-23 02:00"),  # a zone as an offset from GMT
    ("Mon, 23 Nov 2026 10:00:00 UTC+05:30", "2026-11-23 04:30"),
    ("Mon, 23 Nov 2026 10:00:00 +0800 (GMT+8)", "2026-11-23 02:00"),
    ("2026-11-20 10:00:00", "2026-11-20 10:00"),  # ISO 8601, as scripts write it
    ("2026-11-20T10:00:00+08:00", "2026-11-20 02:00"),
    ("yesterday", None),
])
def test_dates_are_read_in_the_forms_mail_programs_and_scripts_write(value, expected):
    found = parsing.read_date(value)
    assert (found.strftime("%Y-%m-%d %H:%M") if found else None) == expected


@pytest.mark.parametrize("body, kind", [
    ('Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n'
     "Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAxggE=\r\n", "S/MIME"),
    ('Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary=b\r\n\r\n'
     "--b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--b\r\n"
     "Content-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nhQEMA\r\n--b--\r\n", "PGP/MIME"),
    ("Content-Type: text/plain\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nhQEMA5\r\n-----END PGP MESSAGE-----\r\n", "PGP"),
])
def test_encrypted_mail_is_marked_for_review_with_its_encrypted_part_kept(body, kind):
    head = "From: a@client.example\r\nSubject: secret\r\nMessage-ID: <enc@client.example>\r\n"
    mail = parsing.parse(f"{head}{body}".encode())
    assert any(f"encrypted ({kind})" in problem for problem in mail.problems)


def test_signed_mail_is_not_taken_for_encrypted():
    raw = (b"From: a@client.example\r\nSubject: signed\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data;"
           b' name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQEx\r\n')
    assert not any("encrypted" in problem for problem in parsing.parse(raw).problems)


SIGNED_TEXT = "您好，\n\n附件是我们的采购订单，请尽快处理发票。\n\n李娜"


@pytest.mark.parametrize("name", ["smime_opaque_signed.eml", "smime_opaque_signed_streamed.eml"])
def test_an_opaque_signed_mail_is_read_as_the_mail_it_signs(name):
    # Outlook's and gateways' opaque S/MIME signing: the whole entity (a GBK text and a PDF) is
    # inside the signature, DER with definite lengths or BER streamed in pieces.
    raw = load_eml(name)
    mail = parsing.parse(raw)
    assert (mail.from_name, mail.subject, mail.text) == ("李娜", "采购订单 4471 的发票", SIGNED_TEXT)
    assert [(a.filename, a.content_type) for a in mail.attachments] == [("PO-4471.pdf", "application/pdf")]
    assert mail.attachments[0].data.startswith(b"%PDF-1.4")
    assert mail.problems == [] and mail.message_id == parsing.message_id_of(raw)


def test_an_opaque_signed_mail_sent_as_octet_stream_is_read_too():
    raw = load_eml("smime_opaque_signed.eml").replace(
        b"Content-Type: application/x-pkcs7-mime; smime-type=signed-data;", b"Content-Type: application/octet-stream;")
    assert parsing.parse(raw).text == SIGNED_TEXT


def test_a_damaged_signature_stays_an_attachment_and_the_mail_says_it_has_no_text():
    raw = load_eml("smime_opaque_signed.eml")
    raw = raw[:raw.index(b"base64\r\n\r\n") + 200]  # cut off after a few lines of the signature
    mail = parsing.parse(raw)
    assert mail.text == "" and [a.filename for a in mail.attachments] == ["smime.p7m"]
    assert any("no text" in problem for problem in mail.problems)


@pytest.mark.parametrize("data", [
    b"\x30\x80" * 100_000,  # nested without end
    b"\x30\x84\xff\xff\xff\xff\x06",  # a length past the data
    b"\x30\x89" + b"\xff" * 9,  # a length of nine bytes
    b"\x30\x80\x06\x09*\x86H\x86\xf7\r\x01\x07\x02\xa0\x80" + b"\x24\x80" * 50 + b"\x04\x01x",  # pieces nested deep
    b"\x30\x80\x06\x09*\x86H\x86\xf7\r\x01\x07\x03\xa0\x80\x00\x00\x00\x00",  # enveloped: encrypted, not signed
    b"",
])
def test_a_structure_that_is_not_signed_data_opens_to_nothing(data):
    assert smime.signed_content(data) is None


def streamed_signed_data(pieces: list[bytes]) -> bytes:
    """SignedData as a streaming signer writes it: indefinite lengths, the content in pieces."""
    oid = b"\x06\x09*\x86H\x86\xf7\r\x01\x07"
    content = b"".join(b"\x04" + bytes([len(piece)]) + piece for piece in pieces)
    return (b"\x30\x80" + oid + b"\x02\xa0\x80\x30\x80\x02\x01\x01\x31\x00\x30\x80" + oid + b"\x01"
            + b"\xa0\x80\x24\x80" + content + b"\x00\x00" * 5)


def signed_mail(folder, content: bytes, part_head: str = "", *args: str) -> bytes:
    """A mail whose one part is `content` signed by openssl (DER, base64), under `part_head`."""
    der = openssl_cms(folder, content, "-sign", "-nodetach", "-outform", "DER", *args)
    return (b"From: a@client.example\r\nSubject: outer\r\nMessage-ID: <signed@client.example>\r\n"
            + part_head.encode() + b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(der))


SMIME_HEAD = 'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\r\n'


@pytest.mark.parametrize("content, text", [
    (b"Status: the server is back.\r\nPlease try again.\r\n", "Status: the server is back.\nPlease try again."),
    (b"\r\nA signed text with no header.\r\n", "A signed text with no header."),
    (b"Content-Type: message/rfc822\r\n\r\nFrom: a@client.example\r\nSubject: inner\r\n"
     b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe whole mail, signed.\r\n", "The whole mail, signed."),
])
def test_signed_content_without_a_header_or_wrapping_a_whole_mail_is_read_as_text(tmp_path, content, text):
    mail = parsing.parse(signed_mail(tmp_path, content, SMIME_HEAD))
    assert (mail.text, mail.attachments, mail.subject) == (text, [], "outer")


@pytest.mark.parametrize("part_head", [
    'Content-Type: application/pkcs7-mime; name="fattura.xml.p7m"\r\n',
    'Content-Type: application/octet-stream; name="contratto.pdf.p7m"\r\n',
    'Content-Type: application/pkcs7-mime; smime-type=signed-receipt; name="smime.p7m"\r\n',
])
def test_a_signed_document_stays_an_attachment_and_is_not_called_encrypted(tmp_path, part_head):
    # Italy's e-invoices and CAdES contracts: a file signed as it is, not a mail.
    mail = parsing.parse(signed_mail(tmp_path, b'<?xml version="1.0"?><FatturaElettronica/>', part_head))
    assert mail.text == "" and len(mail.attachments) == 1 and mail.attachments[0].filename.endswith(".p7m")
    assert not any("encrypted" in problem for problem in mail.problems)


def test_a_signed_binary_file_named_as_a_mail_stays_an_attachment(tmp_path):
    mail = parsing.parse(signed_mail(tmp_path, b"%PDF-1.4\n\x00\x01\x02 binary", SMIME_HEAD))
    assert mail.text == "" and [a.filename for a in mail.attachments] == ["smime.p7m"]


def test_encrypted_mail_that_names_no_smime_type_is_told_by_its_structure(tmp_path):
    enveloped = openssl_cms(tmp_path, b"Content-Type: text/plain\r\n\r\nsecret\r\n", "-encrypt", "-outform", "DER")
    raw = (b"From: a@client.example\r\nSubject: secret\r\nContent-Type: application/x-pkcs7-mime; name=smime.p7m\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(enveloped))
    assert any("encrypted (S/MIME)" in problem for problem in parsing.parse(raw).problems)


def test_content_in_pieces_is_joined_but_a_flood_of_tiny_pieces_is_refused():
    assert smime.signed_content(streamed_signed_data([b"Subject: a\r\n", b"\r\nhello"])) == b"Subject: a\r\n\r\nhello"
    assert smime.signed_content(streamed_signed_data([b"x"] * 300_000)) is None  # 900 KB, a step per 3 bytes


def tnef_attribute(level: int, ident: int, data: bytes) -> bytes:
    return struct.pack("<BII", level, ident, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def mapi_properties(items) -> bytes:
    """A MAPI property stream: (type, id, value) with 32-bit numbers or byte strings."""
    out = struct.pack("<I", len(items))
    for kind, ident, value in items:
        out += struct.pack("<HH", kind, ident)
        if isinstance(value, int):
            out += struct.pack("<I", value)
        else:
            out += struct.pack("<II", 1, len(value)) + value + b"\0" * (-len(value) % 4)
    return out


def winmail(body: str | None = None, files=(), html: str | None = None, rtf: bool = False,
            codepage: int = 1252) -> bytes:
    """A winmail.dat as Outlook writes one ([MS-OXTNEF]): the message's properties, then each
    file's attributes (8.3 title, data, and its long name and MIME type among its properties,
    with any more given as a fifth item: (type, id, value) triples)."""
    out = struct.pack("<IH", 0x223E9F78, 0x1234) + tnef_attribute(1, 0x00089006, struct.pack("<I", 0x10000))
    out += tnef_attribute(1, 0x00069007, struct.pack("<II", codepage, 0))
    items = [(0x000B, 0x0E1F, 1), (0x0003, 0x3FDE, 65001)]
    items += [(0x001F, 0x1000, (body + "\0").encode("utf-16-le"))] if body is not None else []
    items += [(0x0102, 0x1013, html.encode())] if html is not None else []
    items += [(0x0102, 0x1009, b"\x2d\x00\x00\x00LZFu")] if rtf else []
    out += tnef_attribute(1, 0x00069003, mapi_properties(items))
    for name, short, mime, data, *more in files:
        out += tnef_attribute(2, 0x00069002, b"\x01\x00\xff\xff\xff\xff" + b"\0" * 8)
        out += tnef_attribute(2, 0x00018010, short if isinstance(short, bytes) else short.encode() + b"\0")
        out += tnef_attribute(2, 0x0006800F, data) if data is not None else b""
        named = [(0x001F, 0x3707, (name + "\0").encode("utf-16-le"))] if name else []
        out += tnef_attribute(2, 0x00069005, mapi_properties(
            named + [(0x001E, 0x370E, mime.encode() + b"\0")] + (more[0] if more else [])))
    return out


def mail_with_winmail(data: bytes, text: str = "") -> bytes:
    head = b"From: Li Na <li.na@client.example>\r\nSubject: Order 4471\r\nMessage-ID: <tnef@client.example>\r\n"
    part = (b"Content-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=winmail.dat\r\n\r\n" + base64.encodebytes(data) + b"\r\n")
    if not text:
        return head + part
    return (head + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text.encode() + b"\r\n--b\r\n" + part + b"--b--\r\n")


PDF = b"%PDF-1.4 order 4471"
ORDER_FILES = [("采购订单-4471.pdf", "4471~1.PDF", "application/pdf", PDF),
               ("notes.txt", "NOTES.TXT", "text/plain", b"hi")]


def test_the_files_in_an_outlook_winmail_dat_are_the_mails_attachments():
    mail = parsing.parse(mail_with_winmail(winmail(files=ORDER_FILES), text="Please see the attached order."))
    assert mail.text == "Please see the attached order."
    assert [(a.filename, a.content_type, a.data) for a in mail.attachments] == [
        ("采购订单-4471.pdf", "application/pdf", PDF), ("notes.txt", "text/plain", b"hi")]
    assert mail.problems == []


@pytest.mark.parametrize("contents, text", [
    (dict(body="您好，订单附件请查收。\r\n李娜"), "您好，订单附件请查收。\n李娜"),
    (dict(html="<p>Hello,</p><p>the order is <b>attached</b>.</p>"), "Hello,\n\nthe order is attached."),
])
def test_a_mail_that_is_only_a_winmail_dat_is_read_from_it(contents, text):
    mail = parsing.parse(mail_with_winmail(winmail(files=ORDER_FILES[:1], **contents)))
    assert mail.text == text and [a.filename for a in mail.attachments] == ["采购订单-4471.pdf"]


def test_a_winmail_dat_whose_text_is_rtf_only_is_kept_beside_its_files_and_says_so():
    mail = parsing.parse(mail_with_winmail(winmail(files=ORDER_FILES[:1], rtf=True)))
    assert [a.filename for a in mail.attachments] == ["采购订单-4471.pdf", "winmail.dat"]
    assert any("compressed RTF only are not unpacked here: kept as it came" in problem for problem in mail.problems)


def test_outlooks_rtf_beside_the_mails_own_text_is_no_loss():
    mail = parsing.parse(mail_with_winmail(winmail(files=ORDER_FILES[:1], rtf=True), text="The order, attached."))
    assert (mail.text, [a.filename for a in mail.attachments]) == ("The order, attached.", ["采购订单-4471.pdf"])
    assert mail.problems == []


def test_a_winmail_dat_holding_an_outlook_item_is_kept_beside_the_files_it_gave():
    embedded = ("RE: the order", "RE_THE~1", "", None, [(0x000D, 0x3701, b"\x07\x03\x02\x00" + b"\0" * 12 + b"TNEF")])
    mail = parsing.parse(mail_with_winmail(winmail(files=ORDER_FILES[:1] + [embedded]), text="Both attached."))
    assert [a.filename for a in mail.attachments] == ["采购订单-4471.pdf", "winmail.dat"]  # no empty "RE: the order"
    assert any("1 attached Outlook items or files without their bytes are not unpacked" in p for p in mail.problems)


def test_what_outlook_hides_in_a_winmail_dat_is_inline_and_what_it_names_is_read_in_its_code_page():
    logo = ("image001.png", "IMAGE001.PNG", "image/png", b"\x89PNG logo",
            [(0x000B, 0x7FFE, 1), (0x001E, 0x3712, b"image001.png@01DB\0")])
    invoice = ("", "Счёт.pdf".encode("cp1251") + b"\0", "application/" + "x" * 300, b"%PDF-1.4")
    mail = parsing.parse(mail_with_winmail(winmail(files=[logo, invoice], codepage=1251), text="Invoice attached."))
    assert [(a.filename, a.content_type, a.inline) for a in mail.attachments] == [
        ("image001.png", "image/png", True), ("Счёт.pdf", "application/octet-stream", False)]
    assert mail.attachments[0].content_id == "image001.png@01DB"


def test_winmail_dats_give_no_more_files_than_a_mail_may_have():
    many = winmail(files=[(f"f{n}.txt", "F.TXT", "text/plain", b"x") for n in range(600)])
    part = (b"Content-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(many) + b"\r\n")
    raw = (b"From: a@client.example\r\nSubject: many\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nFiles.\r\n--b\r\n" + part + b"--b\r\n" + part + b"--b--\r\n")
    mail = parsing.parse(raw)
    assert len(mail.attachments) == 601 and mail.attachments[-1].filename == "winmail.dat"
    assert any("holds more than the 1000 files a mail may have" in problem for problem in mail.problems)


@pytest.mark.parametrize("data", [
    winmail(files=ORDER_FILES)[:-30],  # cut short
    winmail(files=ORDER_FILES).replace(struct.pack("<I", 2), struct.pack("<I", 0xFFFFFFF0), 1),  # a count past the data
    struct.pack("<IH", 0x223E9F78, 0) + tnef_attribute(2, 0x00069002, b"x") * 60_000,  # attachments without end
    struct.pack("<IH", 0x223E9F78, 0) + tnef_attribute(1, 0x00069003, struct.pack("<I", 10**6) + b"\x1f\x00" * 9),
])
def test_a_winmail_dat_that_does_not_read_is_kept_in_bounded_time(data):
    mail = parsing.parse(mail_with_winmail(data, text="See attached."))
    assert mail.text == "See attached."
    assert [a.filename for a in mail.attachments] == ["winmail.dat"]  # as it came
    assert any("winmail.dat: Outlook's TNEF that could not be read" in problem for problem in mail.problems)


THUNDERBIRD_FLOWED = (
    "From: Alice <alice@client.example>\r\nSubject: Re: [#7] Login\r\nMessage-ID: <tb@client.example>\r\n"
    "Content-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    "Hello, the login page still fails after the update you installed \r\nyesterday; the error is the same.\r\n"
    "\r\n From now on I will use the other browser.\r\n\r\n"
    "On 02/12/2026 10:00, Support wrote:\r\n> Please try again after the update that we \r\n> install tonight.\r\n"
    ">\r\n>> Your earlier message, \r\n>> quoted twice.\r\n\r\n-- \r\nAlice Example\r\n")


def test_format_flowed_text_reads_as_the_paragraphs_typed():
    mail = parsing.parse(THUNDERBIRD_FLOWED.encode())
    assert mail.text.splitlines() == [
        "Hello, the login page still fails after the update you installed yesterday; the error is the same.",
        "", "From now on I will use the other browser.", "",  # space-stuffed "From" unstuffed
        "On 02/12/2026 10:00, Support wrote:",
        "> Please try again after the update that we install tonight.", ">",
        ">> Your earlier message, quoted twice.", "",
        "-- ", "Alice Example"]  # the signature separator is no soft break
    assert quotes.extract_reply(mail.reply_basis) == (
        "Hello, the login page still fails after the update you installed yesterday; the error is the same.\n\n"
        "From now on I will use the other browser.")


def test_format_flowed_with_delsp_joins_chinese_without_a_space():
    raw = ("From: li@client.example\r\nSubject: =?UTF-8?B?55m75b2V?=\r\n"
           "Content-Type: text/plain; charset=\"utf-8\"; Format=\"flowed\"; DelSp=\"yes\"\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n您好，我的账号从昨天开始无法 \r\n登录，请帮忙看看。\r\n").encode()
    assert parsing.parse(raw).text == "您好，我的账号从昨天开始无法登录，请帮忙看看。"


def test_text_not_declared_flowed_keeps_its_line_breaks():
    raw = THUNDERBIRD_FLOWED.replace("; format=flowed", "").encode()
    assert "installed \nyesterday" in parsing.parse(raw).text


CR_ONLY = (b"From: Alice <alice@client.example>\rTo: support@example.com\rSubject: Printer\r"
           b"Message-ID: <cr@client.example>\rContent-Type: text/plain; charset=utf-8\r\r"
           b"The printer is broken.\rPlease help.\r")


@pytest.mark.parametrize("raw", [CR_ONLY, CR_ONLY.replace(b"\r", b"\r\r\n")], ids=["bare CR", "CR CR LF"])
def test_mail_whose_lines_end_in_a_bare_or_doubled_cr_is_read_line_by_line(raw):
    mail = parsing.parse(raw)
    assert (mail.subject, mail.message_id, mail.text) == ("Printer", "<cr@client.example>",
                                                          "The printer is broken.\nPlease help.")
    assert parsing.message_id_of(raw) == "<cr@client.example>"  # the key the edge stores it under


def test_a_binary_body_in_a_mail_with_right_line_ends_is_not_rewritten():
    data = bytes(range(256)) * 4  # bare CRs among them
    raw = (b"From: a@client.example\r\nSubject: scan\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nThe scan.\r\n--b\r\nContent-Type: application/octet-stream; "
           b"name=scan.bin\r\nContent-Transfer-Encoding: binary\r\n\r\n" + data + b"\r\n--b--\r\n")
    [attachment] = parsing.parse(raw).attachments
    assert attachment.data == data


OUTLOOK_MEETING_REPLY = (
    "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\n"
    "BEGIN:VTIMEZONE\r\nTZID:China Standard Time\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\n"
    "ATTENDEE;PARTSTAT=ACCEPTED;CN=\"Li, Wei\":mailto:li.wei@client.example\r\n"
    "COMMENT;LANGUAGE=zh-CN:好的，我会准时参加\\, 谢谢。\r\nSUMMARY;LANGUAGE=zh-CN:接受: 系统上线评审\r\n"
    "DTSTART;TZID=China Standard Time:20261205T100000\r\nUID:040000008200E00074C5B7101A82E008\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n")
GMAIL_INVITATION = (
    "BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
    "DTSTART:20261207T020000Z\r\nORGANIZER;CN=Maria:mailto:maria@client.example\r\nSUMMARY:Onboarding call\r\n"
    "LOCATION:https://meet.example/abc\r\nDESCRIPTION:Let us walk through the import together.\\nAgenda attach\r\n"
    " ed.\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.mark.parametrize("calendar, plain, expected", [
    (OUTLOOK_MEETING_REPLY, "\r\n", 'Li, Wei accepted "系统上线评审" (2026-12-05 10:00 China Standard Time).\n\n'
                                    "好的，我会准时参加, 谢谢。"),
    (GMAIL_INVITATION, "", 'Meeting invitation: "Onboarding call", 2026-12-07 02:00 UTC, at https://meet.example/abc.'
                           "\n\nLet us walk through the import together.\nAgenda attached."),
    ("BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n", "", ""),  # no event: nothing made up
    (OUTLOOK_MEETING_REPLY, "I will be there, and bring the report.\r\n", "I will be there, and bring the report."),
], ids=["outlook reply", "gmail invitation", "no event", "words of their own"])
def test_a_meeting_mail_with_no_text_reads_as_what_its_calendar_says(calendar, plain, expected):
    raw = ("From: \"Li, Wei\" <li.wei@client.example>\r\nSubject: Accepted\r\n"
           "Content-Type: multipart/alternative; boundary=b\r\n\r\n"
           f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{plain}"
           "--b\r\nContent-Type: text/calendar; charset=utf-8; method=REPLY\r\n"
           f"Content-Transfer-Encoding: 8bit\r\n\r\n{calendar}--b--\r\n").encode()
    mail = parsing.parse(raw)
    assert mail.text == expected
    assert [a.content_type for a in mail.attachments] == ["text/calendar"]  # kept as it came


def test_an_image_pasted_as_a_data_address_is_kept_as_an_inline_attachment():
    import base64

    image = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    encoded = base64.b64encode(image).decode()
    raw = ("From: a@client.example\r\nSubject: screenshot\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           f'<p>The error:</p><img alt="shot" src="data:image/png;base64,{encoded[:60]}\r\n{encoded[60:]}">'
           "<p>Thanks</p>\r\n").encode()
    mail = parsing.parse(raw)
    [attachment] = mail.attachments
    assert (attachment.data, attachment.content_type, attachment.inline) == (image, "image/png", True)
    assert f'src="cid:{attachment.content_id}"' in mail.html  # shown in the admin from the attachment
    assert "data:" not in mail.html


def _mixed(*parts: tuple[str, str]) -> bytes:
    body = "".join(f"--b\r\nContent-Type: {ctype}; charset=utf-8\r\n\r\n{text}\r\n" for ctype, text in parts)
    return (f"From: a@client.example\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
            f"{body}--b--\r\n").encode()


def test_text_parts_side_by_side_are_all_the_text_not_alternatives():
    mail = parsing.parse(_mixed(("text/plain", "The import fails with the page below. Please help urgently!"),
                                ("text/html", "<html><body><h1>500 Internal Server Error</h1>"
                                              "<p>nginx/1.24.0 could not reach the upstream.</p></body></html>")))
    assert "Please help urgently!" in mail.text and "500 Internal Server Error" in mail.text
    mail = parsing.parse(_mixed(("text/html", "<p>Thanks, it works now.</p>"),
                                ("text/plain", "This e-mail is confidential. If you are not the intended "
                                               "recipient, please delete it and notify the sender at once.")))
    assert mail.text.startswith("Thanks, it works now.") and "confidential" in mail.text


def test_alternatives_inside_a_mixed_mail_are_still_one_body():
    alternative = ("--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello in plain.\r\n"
                   "--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello in <b>HTML</b>.</p>\r\n--a--")
    mail = parsing.parse(_mixed(("multipart/alternative; boundary=a", alternative),
                                ("text/plain", "Footer added by the list.")))
    assert mail.text == "Hello in plain.\nFooter added by the list."


@pytest.mark.parametrize("text, codec, label", [
    ("สวัสดีครับ ผมเข้าระบบไม่ได้", "cp874", "windows-874"),  # Thai Outlook's default
    ("שלום, אני לא מצליח להתחבר", "iso8859_8", "iso-8859-8-i"),  # Hebrew, RFC 1556's logical order
    ("Dzień dobry, nie mogę się zalogować", "cp1250", "x-cp1250"),
    ("Здравствуйте, не могу войти", "mac_cyrillic", "x-mac-cyrillic"),
])
def test_labels_with_a_prefix_or_a_direction_suffix_are_their_charset(text, codec, label):
    raw = (f"From: a@client.example\r\nSubject: login\r\nContent-Type: text/plain; charset={label}\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + text.encode(codec)
    mail = parsing.parse(raw)
    assert mail.text == text and not mail.problems


@pytest.mark.parametrize("codec", ["cp1250", "shift_jis", "koi8_r"])
def test_an_html_body_is_read_in_the_charset_its_meta_names(codec):
    text = {"cp1250": "Dzień dobry, nie mogę się zalogować.", "shift_jis": "ログインできません。",
            "koi8_r": "Не могу войти в систему."}[codec]
    html = (f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={codec.replace("_", "-")}">'
            f"</head><body><p>{text}</p></body></html>").encode(codec)
    raw = b"From: a@client.example\r\nSubject: login\r\nContent-Type: text/html\r\n\r\n" + html
    assert parsing.parse(raw).text == text


@pytest.mark.parametrize("codec, name, subject, filename", [
    ("koi8_r", "Иван Петров", "Не работает вход", "отчёт.txt"),
    ("shift_jis", "山田太郎", "ログインできません", "報告書.txt"),
])
def test_raw_8bit_header_bytes_are_read_in_the_charset_the_body_declares(codec, name, subject, filename):
    label = codec.replace("_", "-")
    raw = (f"From: {name} <a@client.example>\r\nSubject: {subject}\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           f"--b\r\nContent-Type: text/plain; charset={label}\r\n\r\n{subject}.\r\n"
           f'--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="{filename}"\r\n\r\nlog\r\n'
           f"--b--\r\n").encode(codec)
    mail = parsing.parse(raw)
    assert (mail.from_name, mail.subject, [a.filename for a in mail.attachments]) == (name, subject, [filename])


def test_an_enriched_text_body_reads_as_its_text():
    raw = (b"From: a@client.example\r\nSubject: old mac\r\nContent-Type: text/enriched; charset=us-ascii\r\n\r\n"
           b"<bold>Hello</bold>, the printer\r\nis broken.\r\n\r\n<param>x</param><italic>Thanks <<3</italic>\r\n")
    assert parsing.parse(raw).text == "Hello, the printer is broken.\nThanks <3"


def test_a_mail_whose_words_are_only_in_an_attachment_is_marked_for_review():
    raw = (b"From: a@client.example\r\nSubject: rtf\r\nContent-Type: text/rtf\r\n\r\n{\\rtf1\\ansi Hello}\r\n")
    mail = parsing.parse(raw)
    assert mail.text == "" and any("no text" in problem for problem in mail.problems)


def test_an_enriched_body_of_unclosed_params_reads_in_linear_time():
    import time

    raw = b"From: a@client.example\r\nSubject: e\r\nContent-Type: text/enriched\r\n\r\nHi " + b"<param>" * 30_000
    started = time.process_time()
    assert parsing.parse(raw).text.startswith("Hi")
    assert time.process_time() - started < 2  # 0.01 s; the lazy <param>.*?</param> took minutes


def test_an_unlabelled_part_is_read_in_the_charset_its_sibling_declares():
    """The plain part without a label, the HTML part in KOI8-R: one program wrote both."""
    text = "Здравствуйте, счёт оплачен"
    raw = (b"From: ivan@client.example\r\nTo: support@example.com\r\nSubject: invoice\r\n"
           b"Message-ID: <koi@client.example>\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\n" + text.encode("koi8_r") + b"\r\n"
           b"--b\r\nContent-Type: text/html; charset=koi8-r\r\n\r\n<p>" + text.encode("koi8_r") + b"</p>\r\n--b--\r\n")
    assert parsing.parse(raw).text.strip() == text


@pytest.mark.parametrize("text, encoded_as, label", [
    ("客服您好：我收到的耳机左边没有声音，订单号 CN-77120，请问可以换货吗？谢谢", "gbk", "gb2312"),
    ("客服您好：我收到的耳机左边没有声音，订单号 CN-77120，请问可以换货吗？谢谢", "gbk", None),
    ("株式会社サンプル カスタマーサポート御中 先日購入したイヤホンの左側から音が出ません。", "euc_jp", "euc-jp"),
    ("안녕하세요. 구매한 이어폰의 왼쪽에서 소리가 나지 않습니다. 교환 가능할까요?", "cp949", "ks_c_5601-1987"),
    ("Grüße aus Köln, die Rechnung stimmt nicht. Jürgen Müller", "utf-8", "utf-8"),
])
@pytest.mark.parametrize("damage", ["cut", "stray"])
def test_a_few_damaged_bytes_leave_the_rest_in_its_charset(text, encoded_as, label, damage):
    """A mail cut mid-character, or a stray byte between two characters: the rest still reads
    as written."""
    data, at = text.encode(encoded_as), len(text[:8].encode(encoded_as))
    data = data[:-1] if damage == "cut" else data[:at] + b"\xff" + data[at:]
    from mailer import charsets

    decoded = charsets.decode(data, label)
    assert decoded.count("\ufffd") <= 2 and decoded.startswith(text[:6]) and text[-12:-2] in decoded


def test_decoding_never_yields_what_cannot_be_stored():
    """UTF-7 with a broken sequence, and a sibling part in UTF-16 (no hint for 8-bit bytes):
    text that encodes to UTF-8, no exception."""
    from mailer import charsets

    charsets.decode(b"Hi +2zrI/fl- caf\xe9", "utf-7").encode("utf-8")
    with charsets.hinted(("utf-16",)):
        assert charsets.decode("订单".encode("gbk"), "utf-8") == "订单"
