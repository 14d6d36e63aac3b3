"""Where quoted history starts, as data: each mail client's and language's quote headers,
separators, header fields and device signatures, with the client or language it comes from.

mailer/quotes.py reads these tables; adding a client or a language is adding a row here.
Patterns are written as the clients write them. In ATTRIBUTIONS a space also matches a line break
(clients wrap long headers) and the closing colon is implied:
    {any}   any text, which may wrap onto the next lines (the whole header is at most four lines)
    {line}  any text on one line
    {name}  up to five words that don't start in lower case: a display name, an address
"""

from __future__ import annotations

# "On <date>, <who> wrote:" and its kin: one to four lines ending in a colon. A match with neither
# a digit nor an "@" ("Jean a écrit :") counts only where quoted lines (">") or nothing follow it.
ATTRIBUTIONS: tuple[tuple[str, str], ...] = (
    # English
    ("Gmail, Apple Mail, Thunderbird, Yahoo, K-9 Mail, Google Inbox, Sparrow (English)", "On {any} wrote"),
    ("Apple Mail, Polymail (English): 'On … sent:'", "On {any} sent"),
    ("Eudora, Outlook Express (English): 'At 6/16/2016 08:32 PM, you wrote:'", "At {any} wrote"),
    ("Horde IMP (English)", "Quoting {any}"),
    ("any client, English: 'Name <address> wrote:'", "{name} wrote"),
    ("Samsung (English): 'Sent from Samsung MobileName <address> wrote:'", "{line} <[^\\s<>@]+@[^\\s<>]+> wrote"),
    # German
    ("Gmail, Thunderbird, Apple Mail, K-9 Mail (German)", "Am {any} schrieb{any}"),
    ("Outlook, Lotus Notes, GMX (German): 'Name schrieb am <date>:'", "{name} schrieb am {any}"),
    ("any client, German: 'Name schrieb:'", "{name} schrieb"),
    ("Horde IMP (German)", "Zitat von {any}"),
    # French
    ("Gmail, Thunderbird, Apple Mail (French)", "Le {any} a écrit"),
    ("any client, French: 'Name a écrit :'", "{name} a écrit"),
    ("Horde IMP (French)", "Citation de {any}"),
    # Italian
    ("Gmail (Italian)", "Il giorno {any} ha scritto"),
    ("Thunderbird, Apple Mail (Italian)", "Il {any} ha scritto"),
    ("any client, Italian: 'Nome ha scritto:'", "{name} ha scritto"),
    # Spanish
    ("Gmail, Thunderbird, Apple Mail (Spanish)", "El {any} escribió"),
    ("any client, Spanish: 'Nombre escribió:'", "{name} escribió"),
    ("Horde IMP (Spanish, Portuguese)", "Citando {any}"),
    # Portuguese
    ("Gmail, Thunderbird, Apple Mail (Portuguese)", "(?:Em|No dia) {any} escreveu"),
    ("any client, Portuguese: 'Nome escreveu:'", "{name} escreveu"),
    # Dutch
    ("Gmail, Thunderbird (Dutch)", "Op {any} schreef{any}"),
    ("Apple Mail (Dutch): 'Op … heeft … het volgende geschreven:'", "Op {any} het volgende geschreven"),
    ("any client, Dutch: 'Naam schreef:'", "{name} schreef"),
    # Swedish, Norwegian, Danish
    ("Gmail, Thunderbird, Apple Mail (Swedish, Norwegian, Danish): 'Den … skrev …:'", "{line} skrev{any}"),
    # Polish
    ("Gmail, Thunderbird (Polish)", "(?:W dniu|Dnia) {any} (?:napisał|napisała|napisał\\(a\\)|pisze)"),
    ("any client, Polish: 'Imię napisał(a):'", "{name} (?:napisał|napisała|napisał\\(a\\)|pisze)"),
    # Russian, Ukrainian
    ("Gmail (Russian, old): '… пользователь … написал:'", "{any} пользователь {any} (?:написал|написала)"),
    ("Apple Mail, Thunderbird, any client (Russian)", "{line} (?:написал|написала|написал\\(а\\)|пишет)"),
    ("Gmail, Thunderbird, any client (Ukrainian)", "{line} (?:пише|написав|написала|написав\\(ла\\))"),
    # Czech, Finnish, Hungarian, Turkish, Vietnamese, Greek, Hebrew, Arabic
    ("Gmail (Czech)", "{line} (?:napsal|napsala|napsal\\(a\\))"),
    ("Gmail (Finnish)", "{line} kirjoitti"),
    ("Gmail (Hungarian): 'Name ezt írta (időpont: …):'", "{line} ezt írta{any}"),
    ("Gmail (Turkish)", "{any} şunu yazdı"),
    ("Gmail (Vietnamese)", "Vào {any} đã viết"),
    ("Gmail (Greek)", "{line} έγραψε"),
    ("Gmail (Hebrew)", "{line}כתב{any}"),
    ("Gmail (Arabic)", "{line}كتب{any}"),
    # Japanese, Korean, Chinese
    ("Apple Mail (Japanese): '…のメール:'", "{line}のメール"),
    ("Outlook for Mac, Becky! (Japanese): '…のメッセージ:'", "{line}のメッセージ"),
    ("Thunderbird (Japanese): '…さんは書きました:'", "{line}(?:さん)?は書きました"),
    ("Gmail (Korean): '…님이 작성:'", "{line}님이 작성"),
    ("Apple Mail (Korean): '… 작성:'", "{line} 작성"),
    ("Thunderbird (Korean): '…쓴 글:'", "{line}쓴 글"),
    # Chinese clients wrap their long headers anywhere, "写道：" alone on the last line: {any}.
    ("Gmail, Apple Mail, Thunderbird (traditional Chinese): '… 於 … 寫道：'", "{any}寫道"),
    ("NetEase 163/126, Apple Mail (simplified Chinese): '在 … 写道：'", "在{any}写道"),
    ("Gmail, Apple Mail (simplified Chinese): '… 于 2026年11月23日 … 写道：'",
     "{any}\\d{4}年\\d{1,2}月\\d{1,2}日{any}写道"),
    # Any language: Gmail (Russian, Japanese), Yandex, mail.ru and ISO-date headers name no verb.
    # The time is "09:15", not the "64.15" of an IP address in a bounce.
    ("Gmail (Russian, Japanese), Yandex, mail.ru, ISO dates: '<date> <time> Name <address>:'",
     "{any}(?<![\\d.:])\\d{1,2}:\\d\\d(?![\\d.]){any}<\\s?[^\\s<>@]+@[^\\s<>]+>"),
)

# Lines that open a quoted or forwarded message: "-----Original Message-----" and the like, between
# runs of dashes (or underscores, equals signs), or "Begin forwarded message:" on its own.
ORIGINAL_MESSAGE: tuple[tuple[str, str], ...] = (
    ("Outlook, Samsung, Yahoo, Zimbra, AOL (English)", "Original Message|Reply Message"),
    ("Zoho Mail (English): '---- On <date> <who> wrote ----'", "On [^\n]{1,300}? wrote"),
    ("Outlook, Thunderbird, GMX, Zimbra (German)", "Ursprüngliche Nachricht|Original-?Nachricht|Ursprüngliche Mail"),
    ("Outlook, Samsung, Zimbra (French)", "Message d'origine|Message original|Mail original"),
    ("Outlook, Samsung (Italian)", "Messaggio originale"),
    ("Outlook, Samsung (Spanish)", "Mensaje original"),
    ("Outlook, Samsung (Portuguese)", "Mensagem original"),
    ("Outlook, Samsung (Dutch)", "Oorspronkelijk bericht|Origineel bericht"),
    ("Outlook, Samsung (Swedish)", "Ursprungligt meddelande|Originalmeddelande"),
    ("Outlook, Samsung (Norwegian)", "Opprinnelig melding|Originalmelding"),
    ("Outlook, Samsung (Danish)", "Oprindelig meddelelse|Original meddelelse"),
    ("Outlook, Samsung (Polish)", "Oryginalna wiadomość|Wiadomość oryginalna"),
    ("Outlook, Samsung (Russian)", "Исходное сообщение|Оригинальное сообщение|Original message"),
    ("Outlook (Ukrainian)", "Початкове повідомлення|Оригінальне повідомлення"),
    ("Outlook (Czech, Finnish, Hungarian, Turkish)",
     "Původní zpráva|Alkuperäinen viesti|Eredeti üzenet|Özgün İleti|Orijinal Mesaj"),
    ("Outlook (Japanese)", "元のメッセージ|オリジナル メッセージ"),
    ("Outlook, Samsung (Korean)", "원본 메시지|원본 메일"),
    ("Outlook (traditional Chinese)", "原始郵件|原始訊息"),
    ("QQ Mail, Foxmail, Exmail, Outlook (simplified Chinese)", "原始邮件|原始信息|回复的原邮件|Original"),
)
FORWARDED_MESSAGE: tuple[tuple[str, str], ...] = (
    ("Gmail, Thunderbird, Zimbra, Yahoo (English)", "Forwarded [Mm]essage"),
    ("Gmail, Thunderbird (German)", "Weitergeleitete Nachricht"),
    ("Gmail, Thunderbird (French)", "Message transféré"),
    ("Gmail, Thunderbird (Italian)", "Messaggio inoltrato"),
    ("Gmail, Thunderbird (Spanish)", "Mensaje reenviado"),
    ("Gmail (Portuguese)", "Mensagem encaminhada"),
    ("Gmail (Dutch)", "Doorgestuurd bericht"),
    ("Gmail (Swedish, Norwegian, Danish)", "Vidarebefordrat meddelande|Videresendt melding|Videresendt meddelelse"),
    ("Gmail (Polish)", "Wiadomość przekazana dalej|Przekazana wiadomość"),
    ("Gmail, Yandex, mail.ru (Russian)", "Пересылаемое сообщение|Пересланное сообщение"),
    ("Gmail (Ukrainian)", "Пересланий лист|Переслане повідомлення"),
    ("Gmail (Japanese, Korean)", "転送されたメッセージ|전달된 메일|전달된 메시지"),
    ("Gmail, QQ Mail (Chinese)", "转发的邮件|转发邮件|轉寄的郵件|轉寄郵件"),
)
# Apple Mail (iPhone, iPad, Mac) opens a forwarded message with a sentence of its own.
BEGIN_FORWARDED: tuple[tuple[str, str], ...] = (
    ("Apple Mail (English)", "Begin forwarded message"),
    ("Apple Mail (German)", "Anfang der weitergeleiteten Nachricht"),
    ("Apple Mail (French)", "Début du message réexpédié|Début du message transféré"),
    ("Apple Mail (Italian)", "Inizio messaggio inoltrato"),
    ("Apple Mail (Spanish)", "Inicio del mensaje reenviado|Comienzo del mensaje reenviado"),
    ("Apple Mail (Portuguese)", "Início da mensagem reencaminhada|Mensagem encaminhada"),
    ("Apple Mail (Dutch)", "Begin doorgestuurd bericht"),
    ("Apple Mail (Swedish, Norwegian, Danish)", "Vidarebefordrat mejl|Videresendt melding|Videresendt meddelelse"),
    ("Apple Mail (Polish)", "Początek przekazywanej wiadomości"),
    ("Apple Mail (Russian)", "Начало переадресованного сообщения"),
    ("Apple Mail (Japanese, Korean)", "転送されたメッセージ|전달된 메일"),
    ("Apple Mail (Chinese)", "以下为转发的邮件|以下是轉寄的郵件|轉寄的郵件"),
)

# The header block Outlook, Windows Mail, Lotus Notes, Alibaba Mail and Foxmail put above the
# message they answer or forward ("From: / Sent: / To: / Subject:"), by the language of the
# client's interface. "from" names the writer; the other fields are the rest of the block.
HEADER_FIELDS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Outlook, Windows Mail, Apple Mail, Gmail forwards (English)", ("From",),
     ("Sent", "Date", "To", "Cc", "CC", "Bcc", "Subject", "Reply-To", "Importance")),
    ("Outlook, GMX, Web.de (German)", ("Von",), ("Gesendet", "Datum", "An", "Cc", "CC", "Betreff", "Antwort an")),
    ("Outlook (French)", ("De",), ("Envoyé", "Date", "À", "A", "Cc", "Objet", "Répondre à")),
    ("Outlook, Libero (Italian)", ("Da",), ("Inviato", "Data", "A", "Cc", "Oggetto", "Risposta", "Rispondi a")),
    ("Outlook (Spanish)", ("De",), ("Enviado", "Enviado el", "Fecha", "Para", "CC", "Cc", "Asunto")),
    ("Outlook (Portuguese)", ("De",), ("Enviado", "Enviada em", "Enviado em", "Data", "Para", "Cc", "Assunto")),
    ("Outlook (Dutch)", ("Van",), ("Verzonden", "Datum", "Aan", "CC", "Cc", "Onderwerp")),
    ("Outlook (Swedish)", ("Från",), ("Skickat", "Datum", "Till", "Kopia", "Ämne")),
    ("Outlook (Norwegian, Danish)", ("Fra",), ("Sendt", "Dato", "Til", "Kopi", "Cc", "Emne")),
    ("Outlook (Polish)", ("Od",), ("Wysłano", "Wysłane", "Data", "Do", "DW", "Temat")),
    ("Outlook, mail.ru (Russian)", ("От", "От кого"), ("Отправлено", "Дата", "Кому", "Копия", "Тема")),
    ("Outlook (Ukrainian)", ("Від",), ("Надіслано", "Дата", "Кому", "Копія", "Тема")),
    ("Outlook (Czech, Finnish, Hungarian, Turkish)", ("Odesílatel", "Lähettäjä", "Feladó", "Kimden"),
     ("Odesláno", "Komu", "Předmět", "Lähetetty", "Vastaanottaja", "Aihe", "Elküldve", "Címzett", "Tárgy",
      "Gönderildi", "Kime", "Konu")),
    ("Outlook (Japanese)", ("差出人",), ("送信日時", "日付", "宛先", "CC", "件名")),
    ("Outlook (Korean)", ("보낸 사람",), ("보낸 날짜", "날짜", "받는 사람", "참조", "제목")),
    ("Outlook (traditional Chinese)", ("寄件者",), ("寄件日期", "日期", "收件者", "副本", "主旨")),
    ("Outlook, Foxmail, Alibaba Mail (simplified Chinese)", ("发件人",),
     ("发送时间", "日期", "时间", "收件人", "抄送", "主题", "主　题")),
)

# What a phone or app appends to every message, removed where it ends the new content. "{device}"
# is a device or app name of up to five words; a link the client adds ("<https://…>") is ignored.
DEVICE_SIGNATURES: tuple[tuple[str, str], ...] = (
    ("iOS, Android, BlackBerry, Yahoo, Mailbox (English)", "Sent (?:from|via|using) (?:my )?{device}"),
    ("Sparrow, Spark, Superhuman (English)", "Sent with {device}"),
    ("Outlook Mobile", "Get Outlook for {device}"),
    ("Outlook Mobile (German, French, Spanish, Italian, Dutch)",
     "Outlook für {device} beziehen|Obtenir Outlook pour {device}|Obtener Outlook para {device}"
     "|Scarica Outlook per {device}|Outlook voor {device} downloaden"),
    ("Windows Mail", "Sent from Mail for Windows(?: 10| 11)?"),
    ("Windows Mail (German, French, Spanish, Italian)",
     "Von Mail für Windows(?: 10| 11)? gesendet|Envoyé à partir de Courrier pour Windows(?: 10| 11)?"
     "|Enviado desde Correo para Windows(?: 10| 11)?|Inviato da Posta per Windows(?: 10| 11)?"),
    ("K-9 Mail", "Sent from my {device} with K-9 Mail\\.(?: Please excuse my brevity\\.)?"),
    ("K-9 Mail (German)", "Diese Nachricht wurde von meinem {device} mit K-9 Mail gesendet\\."),
    ("iOS, Android (German)", "Von meinem {device} gesendet|Gesendet von (?:meinem )?{device}"),
    ("iOS, Android (French)", "Envoyé (?:de|depuis) (?:mon )?{device}"),
    ("iOS, Android (Spanish)", "Enviado (?:desde|con) (?:mi )?{device}"),
    ("iOS, Android (Portuguese)", "Enviado (?:do|de|a partir do) (?:meu )?{device}"),
    ("iOS, Android (Italian)", "Inviato da(?:l mio)? {device}"),
    ("iOS, Android (Dutch)", "(?:Verzonden|Verstuurd) (?:vanaf|met|van) (?:mijn )?{device}"),
    ("iOS, Android (Swedish, Norwegian, Danish)", "Skickat från (?:min )?{device}|Sendt fra (?:min )?{device}"),
    ("iOS, Android (Polish, Czech, Finnish, Turkish)",
     "Wysłane z (?:mojego )?{device}|Wysłano z (?:mojego )?{device}|Odesláno z {device}"
     "|Lähetetty {device}|{device} ile gönderildi|{device}(?:'umdan|'dan) gönderildi"),
    ("iOS, Android, mail.ru, Yandex (Russian)", "Отправлено (?:с|из|со) {device}"),
    ("iOS, Android (Ukrainian)", "Надіслано (?:з|із) {device}"),
    ("iOS (Japanese)", "{device}から送信"),
    ("iOS (Korean)", "{device}에서 보냄"),
    ("iOS, NetEase Mail Master, QQ Mail (simplified Chinese)",
     "发自我的\\s?{device}|从我的\\s?{device}发送|来自\\s?{device}邮箱大师|发自\\s?{device}邮箱大师"
     "|发自\\s?[\\w\\s]{0,10}(?:手机|客户端)[\\w\\s]{0,10}"),
    ("iOS (traditional Chinese)", "發自我的\\s?{device}|從我的\\s?{device}傳送"),
    ("Outlook Mobile (German, French, Portuguese: newer)",
     "Outlook für {device} herunterladen|Télécharger Outlook pour {device}|Obter o Outlook para {device}"
     "|Baixe o Outlook para {device}|Descargar Outlook para {device}"),
    ("iOS, Android (Arabic, Hebrew, Greek)", "أُ?رسلت من (?:الـ ?)?{device}|تم الإرسال من {device}"
     "|נשלח מ-?ה?-?{device}(?: שלי)?|Στάλθηκε από (?:το )?{device}(?: μου)?"),
    ("iOS, Android (Romanian, Hungarian, Vietnamese, Indonesian, Thai)",
     "Trimis de pe {device}(?:-ul meu)?|Elküldve (?:az )?{device}(?:-omról|-ról|-ről)?"
     "|Được gửi từ {device} của tôi|Dikirim dari {device} saya|ส่งจาก {device} ของฉัน"),
)
