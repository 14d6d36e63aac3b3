"""Reply extraction on mail from every language and client in mailer/quote_headers.py: the new
content only, without quoted history, forwarded messages below the forwarder's words, signatures.

Each case is a message as its client lays it out (our own wording), and the exact new content."""

import pytest

from mailer import parsing, quotes

SIG = "-- "  # RFC 3676 signature separator, trailing space included


def case(name: str, text: str, expected: str):
    return pytest.param(text, expected, id=name)


def check(text: str, expected: str) -> None:
    assert quotes.extract_reply(text) == expected


QUOTE_HEADERS = [
    # German
    case("de_gmail_wrapped",
         "Danke, jetzt klappt es.\n\nAm Mo., 23. Nov. 2026 um 09:15 Uhr schrieb Example Support <\n"
         "support@example.com>:\n\n> Bitte starten Sie das Gerät neu.",
         "Danke, jetzt klappt es."),
    case("de_thunderbird",
         "Anbei das Protokoll.\n\nAm 23.11.2026 um 09:15 schrieb Example Support:\n"
         "> Können Sie uns das Protokoll schicken?",
         "Anbei das Protokoll."),
    case("de_name_schrieb_without_date",
         "Passt so.\n\nExample Support schrieb:\n> Ist das Problem gelöst?",
         "Passt so."),
    case("de_name_schrieb_am",
         "Erledigt.\n\nExample Support <support@example.com> schrieb am 23.11.2026 09:15:\n\n> Bitte bestätigen.",
         "Erledigt."),
    case("de_outlook_block",
         "Vielen Dank!\n\nMit freundlichen Grüßen\nJonas Weber\n\n"
         "Von: Example Support <support@example.com>\nGesendet: Montag, 23. November 2026 09:15\n"
         "An: Jonas Weber <jonas@kunde.example>\nBetreff: [#12] Drucker offline\n\nGuten Tag Herr Weber,",
         "Vielen Dank!\n\nMit freundlichen Grüßen\nJonas Weber"),
    case("de_outlook_original_message",
         "Bitte schließen.\n\n-----Ursprüngliche Nachricht-----\nVon: Example Support [mailto:support@example.com]\n"
         "Gesendet: Montag, 23. November 2026 09:15\nAn: Jonas Weber\nBetreff: [#12] Drucker offline\n\nHallo,",
         "Bitte schließen."),
    case("de_gmx_block_sent_first",
         "Ja, gerne morgen früh.\n\nGesendet: Montag, 23. November 2026 um 09:15 Uhr\n"
         "Von: \"Example Support\" <support@example.com>\nAn: jonas@gmx.example\nBetreff: Re: Rückruf\n\nHallo,",
         "Ja, gerne morgen früh."),
    # French
    case("fr_gmail_wrapped_over_three_lines",
         "C'est réglé, merci.\n\nLe lun. 23 nov. 2026 à 09:15, Example Support <\nsupport@example.com> a\n"
         "écrit :\n\n> Pouvez-vous redémarrer ?",
         "C'est réglé, merci."),
    case("fr_apple_mailto",
         "Parfait.\n\nLe 23 nov. 2026 à 09:15, Example Support <support@example.com<mailto:support@example.com>>\n"
         "a écrit :\n\n> Bonjour,",
         "Parfait."),
    case("fr_thunderbird",
         "Voici le fichier.\n\nLe 23/11/2026 à 09:15, Example Support a écrit :\n> Merci de nous l'envoyer.",
         "Voici le fichier."),
    case("fr_outlook_block",
         "D'accord.\n\nDe : Example Support <support@example.com>\nEnvoyé : lundi 23 novembre 2026 09:15\n"
         "À : Claire Martin <claire@client.example>\nObjet : [#3] Facture\n\nBonjour Madame,",
         "D'accord."),
    case("fr_outlook_original_message",
         "Merci.\n\n-----Message d'origine-----\nDe : Example Support\nEnvoyé : lundi 23 novembre 2026\n"
         "À : Claire Martin\nObjet : Facture",
         "Merci."),
    # Italian
    case("it_gmail",
         "Funziona, grazie.\n\nIl giorno lun 23 nov 2026 alle ore 09:15 Example Support <support@example.com> "
         "ha scritto:\n\n> Può riavviare il router?",
         "Funziona, grazie."),
    case("it_thunderbird",
         "Ecco il file.\n\nIl 23/11/2026 09:15, Example Support ha scritto:\n> Ci manda il file?",
         "Ecco il file."),
    case("it_outlook_block",
         "Va bene.\n\nDa: Example Support <support@example.com>\nInviato: lunedì 23 novembre 2026 09:15\n"
         "A: Marco Rossi <marco@cliente.example>\nOggetto: [#8] Password",
         "Va bene."),
    case("it_webmail_risposta_block",
         "Confermo.\n\nDa: support@example.com\nRisposta: support@example.com\nData: 23/11/2026 9.15\n"
         "A: marco@libero.example\nOggetto: Password",
         "Confermo."),
    case("it_outlook_original_message",
         "Chiudete pure.\n\n-----Messaggio originale-----\nDa: Example Support\nInviato: lunedì\nA: Marco\n"
         "Oggetto: Password",
         "Chiudete pure."),
    # Spanish
    case("es_gmail",
         "Ya funciona.\n\nEl lun, 23 nov 2026 a las 9:15, Example Support (<support@example.com>) escribió:\n\n"
         "> ¿Puede reiniciar?",
         "Ya funciona."),
    case("es_thunderbird",
         "Adjunto el registro.\n\nEl 23/11/2026 a las 9:15, Example Support escribió:\n> ¿Nos envía el registro?",
         "Adjunto el registro."),
    case("es_outlook_original_message",
         "Gracias.\n\n-----Mensaje original-----\nDe: Example Support [mailto:support@example.com]\n"
         "Enviado el: lunes, 23 de noviembre de 2026 9:15\nPara: Lucía Gómez\nAsunto: [#4] Pedido",
         "Gracias."),
    case("es_outlook_block",
         "Perfecto.\n\nDe: Example Support <support@example.com>\nEnviado: lunes, 23 de noviembre de 2026 9:15\n"
         "Para: Lucía Gómez <lucia@cliente.example>\nAsunto: [#4] Pedido",
         "Perfecto."),
    # Portuguese
    case("pt_gmail",
         "Resolvido, obrigado.\n\nEm seg., 23 de nov. de 2026 às 09:15, Example Support <support@example.com> "
         "escreveu:\n\n> Pode reiniciar?",
         "Resolvido, obrigado."),
    case("pt_outlook_block",
         "Certo.\n\nDe: Example Support <support@example.com>\nEnviada em: segunda-feira, 23 de novembro de 2026\n"
         "Para: João Silva <joao@cliente.example>\nAssunto: [#5] Boleto",
         "Certo."),
    case("pt_name_escreveu",
         "Pode fechar.\n\nExample Support escreveu:\n> Podemos fechar o chamado?",
         "Pode fechar."),
    # Dutch
    case("nl_gmail",
         "Het werkt weer.\n\nOp ma 23 nov. 2026 om 09:15 schreef Example Support <support@example.com>:\n\n"
         "> Kunt u opnieuw opstarten?",
         "Het werkt weer."),
    case("nl_apple_mail",
         "Dank je.\n\nOp 23 nov. 2026 om 09:15 heeft Example Support <support@example.com> het volgende geschreven:\n"
         "\n> Hallo,",
         "Dank je."),
    case("nl_outlook_block",
         "Prima.\n\nVan: Example Support <support@example.com>\nVerzonden: maandag 23 november 2026 09:15\n"
         "Aan: Jan de Vries <jan@klant.example>\nOnderwerp: [#6] Factuur",
         "Prima."),
    # Swedish, Norwegian, Danish
    case("sv_gmail",
         "Tack, nu fungerar det.\n\nDen mån 23 nov. 2026 kl 09:15 skrev Example Support <support@example.com>:\n\n"
         "> Kan du starta om?",
         "Tack, nu fungerar det."),
    case("sv_outlook_block",
         "Det går bra.\n\nFrån: Example Support <support@example.com>\nSkickat: den 23 november 2026 09:15\n"
         "Till: Sven Berg <sven@kund.example>\nÄmne: [#7] Lösenord",
         "Det går bra."),
    case("no_gmail",
         "Takk, det virker.\n\nman. 23. nov. 2026 kl. 09:15 skrev Example Support <support@example.com>:\n\n"
         "> Kan du starte på nytt?",
         "Takk, det virker."),
    case("no_name_skrev",
         "Greit.\n\nExample Support skrev:\n> Skal vi lukke saken?",
         "Greit."),
    case("da_thunderbird",
         "Tak for hjælpen.\n\nDen 23-11-2026 kl. 09.15 skrev Example Support:\n> Virker det nu?",
         "Tak for hjælpen."),
    case("da_outlook_block",
         "Det er fint.\n\nFra: Example Support <support@example.com>\nSendt: 23. november 2026 09:15\n"
         "Til: Lars Holm <lars@kunde.example>\nEmne: [#9] Adgangskode",
         "Det er fint."),
    # Polish
    case("pl_gmail",
         "Działa, dziękuję.\n\nW dniu pon., 23 lis 2026 o 09:15 Example Support <support@example.com> "
         "napisał(a):\n\n> Proszę zrestartować.",
         "Działa, dziękuję."),
    case("pl_thunderbird",
         "W załączniku log.\n\nW dniu 23.11.2026 o 09:15, Example Support pisze:\n> Prosimy o log.",
         "W załączniku log."),
    case("pl_outlook_block",
         "Dobrze.\n\nOd: Example Support <support@example.com>\nWysłano: poniedziałek, 23 listopada 2026 09:15\n"
         "Do: Anna Nowak <anna@klient.example>\nTemat: [#10] Faktura",
         "Dobrze."),
    # Russian, Ukrainian
    case("ru_gmail_old_user_wrote",
         "Спасибо, заработало.\n\n23 ноября 2026 г., 9:15 пользователь Example Support <support@example.com> "
         "написал:\n\n> Перезагрузите, пожалуйста.",
         "Спасибо, заработало."),
    case("ru_gmail_no_verb",
         "Всё получилось.\n\nпн, 23 нояб. 2026 г. в 09:15, Example Support <support@example.com>:\n\n> Получилось?",
         "Всё получилось."),
    case("ru_thunderbird",
         "Прилагаю журнал.\n\n23.11.2026 09:15, Example Support пишет:\n> Пришлите журнал.",
         "Прилагаю журнал."),
    case("ru_apple_mail",
         "Хорошо.\n\n23 нояб. 2026 г., в 9:15, Example Support <support@example.com> написал(а):\n\n> Добрый день,",
         "Хорошо."),
    case("ru_outlook_block",
         "Договорились.\n\nОт: Example Support <support@example.com>\nОтправлено: 23 ноября 2026 г. 9:15\n"
         "Кому: Иван Петров <ivan@client.example>\nТема: [#11] Счёт",
         "Договорились."),
    case("uk_gmail",
         "Дякую, працює.\n\nпн, 23 лист. 2026 о 09:15 Example Support <support@example.com> пише:\n\n> Перезавантажте.",
         "Дякую, працює."),
    case("uk_outlook_block",
         "Добре.\n\nВід: Example Support <support@example.com>\nНадіслано: 23 листопада 2026 р. 9:15\n"
         "Кому: Олена Коваль <olena@client.example>\nТема: [#13] Рахунок",
         "Добре."),
    # Japanese, Korean, Chinese
    case("ja_gmail",
         "直りました。ありがとうございます。\n\n2026年11月23日(月) 9:15 Example Support <support@example.com>:\n\n"
         "> 再起動してください。",
         "直りました。ありがとうございます。"),
    case("ja_apple_mail",
         "了解です。\n\n2026/11/23 9:15、Example Support <support@example.com>のメール:\n\n> こんにちは",
         "了解です。"),
    case("ja_thunderbird",
         "ログを添付します。\n\n2026/11/23 9:15 に Example Support さんは書きました:\n> ログを送ってください。",
         "ログを添付します。"),
    case("ja_outlook_mac_message",
         "承知しました。\n\n2026/11/23 9:15、Example Support のメッセージ:\n\n> ご確認ください。",
         "承知しました。"),
    case("ja_outlook_block",
         "よろしくお願いします。\n\n差出人: Example Support <support@example.com>\n送信日時: 2026年11月23日 9:15\n"
         "宛先: 山田太郎 <taro@client.example>\n件名: [#14] 請求書",
         "よろしくお願いします。"),
    case("ko_gmail",
         "해결되었습니다.\n\n2026년 11월 23일 (월) 오전 9:15, Example Support <support@example.com>님이 작성:\n\n"
         "> 재시작해 주세요.",
         "해결되었습니다."),
    case("ko_apple_mail",
         "감사합니다.\n\n2026. 11. 23. 오전 9:15, Example Support <support@example.com> 작성:\n\n> 안녕하세요,",
         "감사합니다."),
    case("ko_outlook_block",
         "확인했습니다.\n\n보낸 사람: Example Support <support@example.com>\n"
         "보낸 날짜: 2026년 11월 23일 월요일 오전 9:15\n"
         "받는 사람: 김민수 <minsu@client.example>\n제목: [#15] 비밀번호",
         "확인했습니다."),
    case("zh_tw_outlook_original_message",
         "謝謝，已經好了。\n\n-----原始郵件-----\n寄件者: Example Support <support@example.com>\n"
         "寄件日期: 2026年11月23日 上午 09:15\n收件者: 陳小明 <ming@client.example>\n主旨: [#16] 登入問題",
         "謝謝，已經好了。"),
    case("zh_tw_block_fullwidth_colons",
         "收到。\n\n寄件者：Example Support <support@example.com>\n寄件日期：2026年11月23日 上午 09:15\n"
         "收件者：陳小明\n主旨：[#16] 登入問題",
         "收到。"),
    case("zh_tw_gmail",
         "好的，謝謝。\n\nExample Support <support@example.com> 於 2026年11月23日 週一 上午9:15寫道：\n\n"
         "> 請重新啟動。",
         "好的，謝謝。"),
    # Shapes of English headers
    case("on_wrote_address_on_its_own_line",
         "Yes, every time.\n\nOn Mon, Nov 23, 2026 at 9:15 AM Example Support\n<support@example.com> wrote:\n\n"
         "> Does it happen every time?",
         "Yes, every time."),
    case("on_wrote_over_four_lines",
         "Done.\n\nOn Mon, Nov 23, 2026 at 9:15 AM\nExample Support\n<support@example.com>\nwrote:\n> Please confirm.",
         "Done."),
    case("on_wrote_with_address_and_mailto_on_their_own_line",
         "Yes.\n\nOn Mon, Nov 23, 2026 at 9:15 AM Example Support\n<support@example.com <mailto:support@example.com>>"
         "\nwrote:\n\n> Shall we?",
         "Yes."),
    case("samsung_signature_run_into_the_attribution",
         "Yes.\n\nSent from Samsung MobileExample Support <support@example.com> wrote:\n> Shall we?",
         "Yes."),
    case("on_wrote_with_mailto",
         "Thanks.\n\nOn 23 Nov 2026, at 09:15, Example Support <support@example.com<mailto:support@example.com>> "
         "wrote:\n\n> Hello,",
         "Thanks."),
    case("at_you_wrote",
         "I'll be in the office.\n\nAt 11/23/2026 09:15 AM, you wrote:\n>Will you be in the office?",
         "I'll be in the office."),
    case("iso_date_header",
         "Works for me.\n\n2026-11-23 9:15 GMT+01:00 Example Support <support@example.com>:\n\n> Does it work?",
         "Works for me."),
    case("iso_date_header_wrapped",
         "Works for me.\n\n2026-11-23 9:15 GMT+01:00 Example Support <\nsupport@example.com>:\n\n> Does it work?",
         "Works for me."),
    case("horde_quoting",
         "Sure.\n\nQuoting Example Support <support@example.com>:\n\n> Can we call you?",
         "Sure."),
    case("bold_header_block",
         "See you then.\n\n*From:* Example Support <support@example.com>\n*Sent:* Monday, November 23, 2026 9:15 AM\n"
         "*To:* Tom Baker <tom@client.example>\n*Subject:* [#1] Meeting",
         "See you then."),
    case("bold_header_block_german",
         "Bis dann.\n\n*Von:* Example Support <support@example.com>\n*Gesendet:* Montag, 23. November 2026\n"
         "*An:* Jonas Weber\n*Betreff:* Termin",
         "Bis dann."),
    case("header_block_behind_quote_marks",
         "Thanks, fixed.\n\n> From: Example Support <support@example.com>\n> Sent: Monday, November 23, 2026\n"
         "> To: tom@client.example\n> Subject: [#1] Login\n>\n> Please try again.",
         "Thanks, fixed."),
    case("quoted_attribution_above_a_quoted_header_block",
         "Thanks, fixed.\n\n> On 23 Nov 2026, at 09:15, Example Support <support@example.com> wrote:\n> Try again.\n>\n"
         "> From: Tom Baker\n> Sent: Sunday, November 22, 2026\n> To: support@example.com\n> Subject: Login",
         "Thanks, fixed."),
    case("outlook_underscores_then_block",
         "Still broken.\n\n________________________________\nFrom: Example Support <support@example.com>\n"
         "Sent: Monday, November 23, 2026 9:15 AM\nTo: tom@client.example\nSubject: [#1] Login",
         "Still broken."),
    case("outlook_underscores_then_from_only",
         "Still broken.\n\n________________________________\nFrom: Example Support <support@example.com>\n\nOld text",
         "Still broken."),
    case("outlook_2003_short_rule_and_mailto",
         "Agreed.\n\n_____\n\nFrom: Example Support [mailto:support@example.com]\nSent: Monday, November 23, 2026\n"
         "To: Tom Baker\nSubject: [#1] Quote",
         "Agreed."),
    case("zimbra_french_banner_then_block",
         "C'est noté.\n\n----- Mail original -----\nDe: \"Example Support\" <support@example.com>\n"
         "À: claire@x.example\nEnvoyé: Lundi 23 Novembre 2026 09:15:00\nObjet: Facture",
         "C'est noté."),
    case("unknown_banner_then_block_goes_with_it",
         "Ok.\n\n-------- Oryginał --------\nFrom: Example Support\nDate: 23 Nov 2026\nSubject: Update",
         "Ok."),
    case("zoho_mail",
         "Confirmed.\n\n---- On Mon, 23 Nov 2026 09:15:00 +0100 Example Support <support@example.com> wrote ----\n\n"
         "Can you confirm?",
         "Confirmed."),
    case("dashes_then_block",
         "Noted.\n\n------------------------------\nFrom: Example Support\nDate: 23 Nov 2026\nSubject: Update",
         "Noted."),
    case("block_with_blank_lines_between_fields",
         "Approved.\n\nFrom: Example Support <support@example.com>\n\nSent: Monday, November 23, 2026\n\n"
         "To: Tom Baker\n\nSubject: [#1] Budget\n\nHi Tom,",
         "Approved."),
    case("header_block_flattened_onto_one_line",
         "Fine by me.\n\n*From:* Example Support [mailto:support@example.com] *Sent:* Monday, November 23, 2026 "
         "*To:* Tom Baker *Subject:* [#1] Plan\n\nHi Tom,",
         "Fine by me."),
    case("bare_address_wrote",
         "Thanks!\n\nsupport@example.com wrote:\n> Fixed?",
         "Thanks!"),
    case("weak_attribution_with_name_particles",
         "Klopt.\n\nJan van der Berg schreef:\n> Klopt dat?",
         "Klopt."),
    case("block_with_wrapped_recipients",
         "Please add Ann.\n\nFrom: Example Support <support@example.com>\nSent: Monday, November 23, 2026\n"
         "To: Tom Baker <tom@client.example>; Bob Ray <bob@client.example>;\n    Ann Lee <ann@client.example>\n"
         "Subject: [#1] Access",
         "Please add Ann."),
]


FORWARDED = [
    case("gmail_forwarded",
         "Please see the customer's mail below.\n\n---------- Forwarded message ---------\n"
         "From: Ann Lee <ann@client.example>\nDate: Mon, Nov 23, 2026 at 9:15 AM\nSubject: Broken link\n"
         "To: <tom@client.example>\n\nThe link on the invoice is broken.",
         "Please see the customer's mail below."),
    case("apple_mail_forwarded_with_device_signature",
         "FYI, this came in last night.\n\nSent from my iPhone\n\nBegin forwarded message:\n\n"
         "> From: Ann Lee <ann@client.example>\n> Subject: Broken link\n> Date: 23 November 2026 at 09:15:00 CET\n"
         "> To: tom@client.example\n\n> The link is broken.",
         "FYI, this came in last night."),
    case("thunderbird_forwarded",
         "Can you help Ann?\n\n-------- Forwarded Message --------\nSubject: \tBroken link\n"
         "Date: \tMon, 23 Nov 2026 09:15:00 +0100\nFrom: \tAnn Lee <ann@client.example>\nTo: \ttom@client.example",
         "Can you help Ann?"),
    case("german_apple_mail_forwarded",
         "Zur Info.\n\nAnfang der weitergeleiteten Nachricht:\n\n> Von: Ann Lee <ann@client.example>\n"
         "> Betreff: Link defekt\n> Datum: 23. November 2026 um 09:15:00 MEZ",
         "Zur Info."),
    case("french_gmail_forwarded",
         "Pour information.\n\n---------- Message transféré ---------\nDe : Ann Lee <ann@client.example>\n"
         "Date: lun. 23 nov. 2026 à 09:15\nSubject: Lien cassé\nTo: <tom@client.example>",
         "Pour information."),
    case("italian_apple_mail_forwarded",
         "Vedi sotto.\n\nInizio messaggio inoltrato:\n\n> Da: Ann Lee <ann@client.example>\n> Oggetto: Link",
         "Vedi sotto."),
    case("spanish_gmail_forwarded",
         "Os reenvío esto.\n\n---------- Mensaje reenviado ---------\nDe: Ann Lee <ann@client.example>\n"
         "Date: lun, 23 nov 2026 a las 9:15\nSubject: Enlace\nTo: <tom@client.example>",
         "Os reenvío esto."),
    case("russian_yandex_forwarded",
         "Пересылаю письмо клиента.\n\n-------- Пересылаемое сообщение--------\n"
         "23.11.2026, 09:15, \"Ann Lee\" <ann@client.example>:\n\nСсылка не работает.",
         "Пересылаю письмо клиента."),
    case("forward_without_own_words_is_the_message",
         "---------- Forwarded message ---------\nFrom: Ann Lee <ann@client.example>\nSubject: Broken link\n"
         "To: <tom@client.example>\n\nThe link on the invoice is broken.",
         "---------- Forwarded message ---------\nFrom: Ann Lee <ann@client.example>\nSubject: Broken link\n"
         "To: <tom@client.example>\n\nThe link on the invoice is broken."),
]


CLIENTS = [
    # Chinese clients wrap a long attribution anywhere: before "写道：", inside the time, inside
    # the address (the line above ends "<").
    case("zh_wrapped_before_verb", '好的，谢谢。\n\n在 2026年12月1日 星期二 09:00，"Example Support" '
         '<support@example.com>\n写道：\n> 您好\n> 我们已收到', "好的，谢谢。"),
    case("zh_wrapped_in_time", "好的，谢谢。\n\nExample Support <support@example.com> 于2026年11月23日周一\n"
         "09:15写道：\n> 您好", "好的，谢谢。"),
    case("zh_wrapped_in_address", "好的，谢谢。\n\nExample Support via Helpdesk <\nsupport@example.com> "
         "于2026年11月23日周一 09:15写道：\n> 您好", "好的，谢谢。"),
    case("zh_hant_wrapped_before_verb", "好的，謝謝。\n\nExample Support <support@example.com> 於 2026年12月1日 "
         "上午9:00\n寫道：\n> 您好", "好的，謝謝。"),
    case("outlook_mobile_ios",
         "Sure, go ahead.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n________________________________\n"
         "From: Example Support <support@example.com>\nSent: Monday, November 23, 2026 9:15:00 AM\n"
         "To: tom@client.example\nSubject: [#1] Restart",
         "Sure, go ahead."),
    case("outlook_mobile_android_german_ui",
         "Passt.\n\nOutlook für Android beziehen<https://aka.ms/ghei36>\n________________________________\n"
         "Von: Example Support <support@example.com>\nGesendet: Montag, November 23, 2026 9:15:00 AM\n"
         "An: jonas@kunde.example\nBetreff: [#12] Neustart",
         "Passt."),
    case("google_inbox",
         "Great, thanks!\n\nOn Mon, Nov 23, 2026, 9:15 AM Example Support <support@example.com> wrote:\n\n"
         "> It is fixed.",
         "Great, thanks!"),
    case("k9_mail",
         "OK, I'll try tonight.\n" + SIG + "\nSent from my Android device with K-9 Mail. Please excuse my brevity.\n\n"
         "On November 23, 2026 9:15:00 AM GMT+01:00, Example Support <support@example.com> wrote:\n>Try tonight.",
         "OK, I'll try tonight."),
    case("k9_mail_german",
         "Mache ich.\n\nAm 23. November 2026 09:15:00 MEZ schrieb Example Support <support@example.com>:\n"
         ">Bitte testen.\n\n" + SIG + "\nDiese Nachricht wurde von meinem Android-Gerät mit K-9 Mail gesendet.",
         "Mache ich."),
    case("mail_ru_quoted_header",
         "Спасибо, всё работает.\n\n\n>Понедельник, 23 ноября 2026, 9:15 +03:00 от Example Support "
         "<support@example.com>:\n>\n>Проверьте, пожалуйста.",
         "Спасибо, всё работает."),
    case("mail_ru_header_and_app_signature",
         "Проверю вечером.\n\n" + SIG + "\nОтправлено из мобильной Почты Mail.ru\n\n"
         "Понедельник, 23 ноября 2026, 9:15 +03:00 от Example Support <support@example.com>:\n>Проверьте.",
         "Проверю вечером."),
    case("yandex",
         "Да, удобно.\n\n23.11.2026, 09:15, \"Example Support\" <support@example.com>:\n> Вам удобно завтра?",
         "Да, удобно."),
    case("windows_mail",
         "Here it is.\n\nSent from Mail<https://go.microsoft.com/fwlink/?LinkId=550986> for Windows 10\n\n"
         "From: Example Support<mailto:support@example.com>\nSent: Monday, November 23, 2026 9:15 AM\n"
         "To: tom@client.example<mailto:tom@client.example>\nSubject: [#1] Screenshot",
         "Here it is."),
    case("hotmail_quoted_header_lines",
         "Thanks, it arrived.\n\n> From: support@example.com\n> To: tom@hotmail.example\n"
         "> Subject: [#1] Parcel\n> Date: Mon, 23 Nov 2026 09:15:00 +0100\n>\n> Has it arrived?",
         "Thanks, it arrived."),
    case("outlook_com_date_first_block",
         "Received.\n\nDate: Mon, 23 Nov 2026 09:15:00 +0100\nFrom: support@example.com\nTo: tom@outlook.example\n"
         "Subject: [#1] Parcel",
         "Received."),
    case("sparrow",
         "Sounds good.\n\n" + SIG + "\nTom Baker\nSent with Sparrow (http://www.sparrowmailapp.com/?sig)\n\n"
         "On Monday, November 23, 2026 at 9:15 AM, Example Support wrote:\n\n> Shall we call?",
         "Sounds good."),
    case("yahoo_mobile",
         "Yes please.\n\nSent from Yahoo Mail on Android\n\n"
         "On Mon, Nov 23, 2026 at 9:15, Example Support<support@example.com> wrote:\n> Shall we call?",
         "Yes please."),
    case("samsung_email",
         "Will do.\n\n\n\nSent from my Samsung Galaxy smartphone.\n\n-------- Original message --------\n"
         "From: Example Support <support@example.com>\nDate: 11/23/26 09:15 (GMT+01:00)\nTo: tom@client.example\n"
         "Subject: [#1] Update",
         "Will do."),
]


@pytest.mark.parametrize("text, expected", QUOTE_HEADERS + FORWARDED + CLIENTS)
def test_quoted_history_is_cut_at_its_header(text, expected):
    check(text, expected)


@pytest.mark.parametrize("signature", [
    "Sent from my iPhone", "Sent from my iPad", "Envoyé de mon iPhone", "Envoyé depuis mon iPad",
    "Von meinem iPhone gesendet", "Sendt fra min iPad", "Skickat från min iPhone", "Enviado desde mi iPhone",
    "Enviado do meu iPhone", "Inviato da iPhone", "Verzonden vanaf mijn iPhone", "Wysłane z mojego iPhone'a",
    "Отправлено с iPhone", "Надіслано з iPhone", "iPhoneから送信", "iPhone에서 보냄", "从我的iPhone发送",
    "發自我的 iPhone", "Lähetetty iPhonesta", "Sent from my Galaxy S21, an AT&T 5G smartphone",
    "Get Outlook for Android", "Sent from Mail for Windows",
    "Von Mail für Windows 10 gesendet", "Sent with Sparrow (http://www.sparrowmailapp.com/?sig)",
])
def test_device_signatures_in_every_language_are_dropped_where_they_end_the_text(signature):
    check(f"The code is 4711.\n\n{signature}", "The code is 4711.")
    check(f"{signature}\n\nThe code is 4711.", f"{signature}\n\nThe code is 4711.")  # only where it ends


SIGNATURES = [
    case("signature_block_german",
         "Bis morgen.\n\n" + SIG + "\nJonas Weber\nKunde GmbH\nTel. 030 123456", "Bis morgen."),
    case("signature_block_russian",
         "Жду ответа.\n\n" + SIG + "\nС уважением,\nИван Петров", "Жду ответа."),
    case("signature_block_japanese",
         "よろしくお願いします。\n" + SIG + "\n山田太郎\n株式会社サンプル", "よろしくお願いします。"),
    case("signature_separator_without_trailing_space",
         "Call me.\n--\nTom", "Call me."),
    case("signature_then_quote",
         "Call me.\n\n" + SIG + "\nTom\n\nOn Mon, Nov 23, 2026 at 9:15 AM Example Support <support@example.com> wrote:"
         "\n> Shall we call?",
         "Call me."),
    case("rule_line_above_trailing_quote_goes_with_it",
         "Thanks!\n\n=====\n> Old text", "Thanks!"),
    case("rule_line_at_the_end_goes",
         "Thanks!\n\n~~~~~~~~", "Thanks!"),
]


@pytest.mark.parametrize("text, expected", SIGNATURES)
def test_signature_blocks_and_rule_lines(text, expected):
    check(text, expected)


@pytest.mark.parametrize("rule", ["***", "#####", "~~~~", "=====", "______", "+++++", "-----"])
def test_a_rule_line_alone_is_no_quote_marker(rule):
    text = f"Agenda:\n{rule}\n1. Backup\n2. Update\n{rule}\nSee you at ten."
    check(text, text)


MUST_SURVIVE = [
    "我在想这个问题，他写道：\n> 引用的那一句",
    "From: the warehouse we got 3 boxes, not 4.\nThe fourth is missing.",
    "Note: the printer is on the second floor.\nIt shows error E5.",
    "From: Berlin\nTo: Munich\nThe train was late.",
    "When I click Save I get:\n> ERROR 500 upstream timed out\nand the page goes blank.\n\nThanks",
    "The log ends with:\n> segfault at 0x0 ip 00007f",
    "On Monday I restarted the server, as you wrote.\nIt still fails.",
    "As my colleague wrote:\n\nthe VPN is down again.",
    "Le client a écrit :\n\nle serveur ne répond plus.",
    "Am Montag schrieb ich Ihnen:\n\nDer Drucker ist defekt.",
    "Subject: the new invoice\nIt is still wrong.",
    "Please reply to: billing@client.example\nThanks.",
    "I sent it at 10:30 to Ann <ann@client.example>.\nDid you get it?",
    "It fails on every device.\nSent from my laptop, but the problem is the same on my phone.",
    "Steps:\n-----\n1. Open Settings\n2. Reset",
]


@pytest.mark.parametrize("text", MUST_SURVIVE)
def test_text_that_only_looks_like_a_header_or_a_quote_survives(text):
    check(text, text)


def html_mail(markup: str) -> parsing.ParsedMail:
    raw = ("From: tom@client.example\r\nSubject: Re: [#1] x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           + markup).encode()
    return parsing.parse(raw)


@pytest.mark.parametrize("markup, expected", [
    pytest.param('<div>It works.</div><hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg">'
                 "<b>From:</b> Example Support<br><b>Sent:</b> Monday</div><div>Old text</div>", "It works.",
                 id="outlook_com_divRplyFwdMsg"),
    pytest.param('<div>It works.</div><div id="appendonsend"></div><hr><div><b>From:</b> Example Support</div>'
                 "<div>Old text</div>", "It works.", id="outlook_appendonsend"),
    pytest.param("<div>It works.</div><hr id=\"stopSpelling\">Date: Mon, 23 Nov 2026<br>Old text",
                 "It works.", id="hotmail_stopSpelling"),
    pytest.param('<p class="MsoNormal">It works.</p><div style="border:none;border-top:solid #E1E1E1 1.0pt">'
                 '<p class="MsoNormal"><b>From:</b> Example Support &lt;support@example.com&gt;<br>'
                 "<b>Sent:</b> Monday, November 23, 2026 9:15 AM<br><b>To:</b> Tom<br><b>Subject:</b> x</p></div>"
                 '<p class="MsoNormal">Old text</p>', "It works.", id="outlook_desktop_html_block"),
    pytest.param("<div>Спасибо!</div><div>Понедельник, 23 ноября 2026, 9:15 +03:00 от Example Support "
                 "&lt;support@example.com&gt;:<br><blockquote style=\"border-left:1px solid #0857A6\">"
                 "Старый текст</blockquote></div>", "Спасибо!", id="mail_ru_html"),
    pytest.param("<div>Да.</div><div>23.11.2026, 09:15, \"Example Support\" &lt;support@example.com&gt;:</div>"
                 "<blockquote><div>Старый текст</div></blockquote>", "Да.", id="yandex_html"),
    pytest.param('<div>It works.</div><br><div id="ms-outlook-mobile-signature">Get Outlook for iOS</div>',
                 "It works.", id="outlook_mobile_html_signature"),
])
def test_html_quote_containers_of_outlook_hotmail_and_russian_webmail(markup, expected):
    mail = html_mail(markup)
    assert quotes.extract_reply(mail.reply_basis) == expected
    assert "Old text" in mail.text or "Старый текст" in mail.text or "Outlook" in mail.text


def test_a_table_entry_says_which_client_it_comes_from():
    lines = "Danke.\n\nAm 23.11.2026 um 09:15 schrieb Example Support:\n> Alt".split("\n")
    start = quotes.find_quote_start(lines)
    assert (start.first, start.after) == (1, 3)
    assert "German" in start.source


def test_pathological_text_is_read_in_linear_time():
    import time

    for text in ("x:\n" * 200_000, "John wrote:\n" * 80_000, "From: x\n" * 200_000, "-----\n" * 200_000,
                 "On " + "a " * 300_000 + "wrote:", "> x\n" * 200_000, "On x y x y x y @:\n" * 100_000,
                 "From: x\nfoo\nbar\n" * 100_000, "-" * 1_000_000):
        started = time.process_time()
        quotes.extract_reply(text)
        assert time.process_time() - started < 3  # ~0.5 s here; a busy 2-core machine gets a margin
