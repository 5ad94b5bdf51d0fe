"""Every text a subscriber sees on the USSD screen, in every language, as data.

A USSD page is 160 octets: at most 80 UCS-2 characters for Russian and Kazakh, 182 GSM-7
characters for English. ``SAMPLES`` gives the widest value each placeholder can take, and a test
renders every template with them; ``fit_page`` is the last guard at run time.
"""

from __future__ import annotations

from collections.abc import Mapping

from abonent.core.money import Tiyn, format_tenge
from abonent.subscribers.domain import Language

UCS2_PAGE = 80
GSM7_PAGE = 182

# GSM 03.38 default alphabet (basic set) plus the extension table (counted as two septets).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text)


def gsm7_length(text: str) -> int:
    return sum(2 if c in GSM7_EXTENDED else 1 for c in text)


def ucs2_length(text: str) -> int:
    return len(text.encode("utf-16-be")) // 2


def page_length(text: str) -> tuple[int, int]:
    """(length, limit) of ``text`` on one USSD page in the coding it needs."""
    if is_gsm7(text):
        return gsm7_length(text), GSM7_PAGE
    return ucs2_length(text), UCS2_PAGE


def fits_page(text: str) -> bool:
    length, limit = page_length(text)
    return length <= limit


def fit_page(text: str) -> str:
    """Cut ``text`` to one page (never expected to trigger for catalogue texts)."""
    while not fits_page(text):
        text = text[:-2] + "…"
    return text


def tg(amount: Tiyn) -> str:
    """Whole tenge without decimals (``50000`` → ``500``), otherwise ``500.50``."""
    return str(amount // 100) if amount % 100 == 0 else format_tenge(amount)


# The widest value of each placeholder; the page-length test renders templates with these.
SAMPLES: dict[str, str] = {
    "amount": "99999.99",
    "balance": "-9999999.99",
    "fee": "9999.99",
    "net": "99999.99",
    "debt": "99999.99",
    "paid": "99999.99",
    "min": "99999.99",
    "max": "99999.99",
    "limit": "999999",
    "rate": "999.99",
    "days": "999",
    "number": "7071234567",
    "date": "31.12.2026",
    "tariff": "Абвгдеёжзийклмнопрст",
    "items": "99999 мин, 99999 МБ, 9999 SMS",
    "brands": "Tele2, Altel",
    "options": "1 500\n2 1000\n3 1500\n4 2000\n5 2500",
}

RU, KK, EN = Language.RU, Language.KK, Language.EN

# USSD screens. Menus end with the numbered choices; 1 confirms and 2 cancels everywhere.
USSD: dict[str, dict[Language, str]] = {
    "unknown_code": {
        RU: "Неизвестный код. Проверьте набор и повторите.",
        KK: "Белгісіз код. Терілген кодты тексеріп, қайталаңыз.",
        EN: "Unknown code. Check what you dialled and try again.",
    },
    "session_expired": {
        RU: "Время сеанса истекло. Наберите код снова.",
        KK: "Сеанс уақыты бітті. Кодты қайта теріңіз.",
        EN: "The session has expired. Please dial the code again.",
    },
    "bad_choice": {
        RU: "Неверный выбор. Наберите код снова.",
        KK: "Қате таңдау. Кодты қайта теріңіз.",
        EN: "Invalid choice. Please dial the code again.",
    },
    "cancelled": {
        RU: "Операция отменена.",
        KK: "Операция тоқтатылды.",
        EN: "Cancelled.",
    },
    "not_subscriber": {
        RU: "Номер не обслуживается в сети.",
        KK: "Нөмірге желіде қызмет көрсетілмейді.",
        EN: "This number is not served by the network.",
    },
    "number_closed": {
        RU: "Номер закрыт. Обратитесь в офис оператора.",
        KK: "Нөмір жабылған. Оператор кеңсесіне хабарласыңыз.",
        EN: "The number is closed. Please visit an operator office.",
    },
    "barred": {
        RU: "Услуга недоступна: номер ограничен за долг. Пополните баланс.",
        KK: "Қызмет қолжетімсіз: нөмір қарыз үшін шектелген. Балансты толтырыңыз.",
        EN: "Not available: the number is barred for debt. Please top up.",
    },
    "invalid_number": {
        RU: "Неверный номер. Введите 10 цифр, например 7071234567.",
        KK: "Нөмір қате. 10 сан енгізіңіз, мысалы 7071234567.",
        EN: "Invalid number. Enter 10 digits, e.g. 7071234567.",
    },
    "number_not_served": {
        RU: "Номер {number} не обслуживается в сети.",
        KK: "{number} нөміріне желіде қызмет көрсетілмейді.",
        EN: "The number {number} is not served by the network.",
    },
    "own_number": {
        RU: "Нельзя указать свой номер.",
        KK: "Өз нөміріңізді көрсетуге болмайды.",
        EN: "You cannot use your own number.",
    },
    "unavailable": {
        RU: "Сервис временно недоступен. Попробуйте позже.",
        KK: "Қызмет уақытша қолжетімсіз. Кейінірек көріңіз.",
        EN: "The service is temporarily unavailable. Please try later.",
    },
    "refused": {
        RU: "Операция не выполнена. Попробуйте позже.",
        KK: "Операция орындалмады. Кейінірек көріңіз.",
        EN: "The operation failed. Please try later.",
    },
    "insufficient_funds": {
        RU: "Недостаточно средств на балансе.",
        KK: "Балансыңызда қаражат жеткіліксіз.",
        EN: "Not enough money on the balance.",
    },
    # *111#
    "balance_menu": {
        RU: "Баланс: {balance} тг\n1 Тариф\n2 Остатки пакетов",
        KK: "Баланс: {balance} тг\n1 Тариф\n2 Пакет қалдықтары",
        EN: "Balance: {balance} KZT\n1 Tariff\n2 Bundle remainders",
    },
    "tariff_info": {
        RU: "Тариф {tariff}: {fee} тг, до {date}",
        KK: "Тариф {tariff}: {fee} тг, {date} дейін",
        EN: "Tariff {tariff}: {fee} KZT, until {date}",
    },
    "no_tariff": {
        RU: "Тариф не подключен.",
        KK: "Тариф қосылмаған.",
        EN: "No tariff is connected.",
    },
    "remainders": {
        RU: "Остатки до {date}: {items}",
        KK: "{date} дейін қалдық: {items}",
        EN: "Left until {date}: {items}",
    },
    "no_remainders": {
        RU: "Нет действующих пакетов.",
        KK: "Белсенді пакет жоқ.",
        EN: "No active bundles.",
    },
    # *110*CODE#
    "voucher_ok": {
        RU: "Зачислено {amount} тг. Баланс: {balance} тг",
        KK: "Балансқа {amount} тг түсті. Баланс: {balance} тг",
        EN: "Voucher accepted: {amount} KZT added. Balance: {balance} KZT",
    },
    "voucher_bad_code": {
        RU: "Неверный код карты оплаты. Введите 13 цифр.",
        KK: "Төлем картасының коды қате. 13 сан енгізіңіз.",
        EN: "Invalid voucher code. Enter the 13 digits.",
    },
    "voucher_refused": {
        RU: "Карта оплаты не принята: код неверен или уже использован.",
        KK: "Төлем картасы қабылданбады: код қате немесе қолданылған.",
        EN: "Voucher not accepted: the code is wrong or already used.",
    },
    # *144# and *143#
    "callme_sent": {
        RU: "Запрос «Позвони мне» отправлен на {number}.",
        KK: "«Маған қоңырау шал» сұрауы {number} нөміріне жіберілді.",
        EN: "Call-me request sent to {number}.",
    },
    "topupme_sent": {
        RU: "Запрос «Пополни мой счет» отправлен на {number}.",
        KK: "«Шотымды толтыр» сұрауы {number} нөміріне жіберілді.",
        EN: "Top-up request sent to {number}.",
    },
    "foreign_brand": {
        RU: "Услуга доступна только для номеров {brands}.",
        KK: "Қызмет тек {brands} нөмірлері үшін қолжетімді.",
        EN: "This service works only with {brands} numbers.",
    },
    "daily_limit": {
        RU: "Исчерпан лимит: {limit} запросов в день.",
        KK: "Лимит таусылды: күніне {limit} сұрау.",
        EN: "Limit reached: {limit} requests a day.",
    },
    "monthly_limit": {
        RU: "Исчерпан лимит: {limit} запросов в месяц.",
        KK: "Лимит таусылды: айына {limit} сұрау.",
        EN: "Limit reached: {limit} requests a month.",
    },
    # *133#
    "collect_sent": {
        RU: "Запрос звонка за счет {number} отправлен. Ждите ответа.",
        KK: "{number} есебінен қоңырау сұрауы жіберілді. Жауап күтіңіз.",
        EN: "Collect call request sent to {number}. Please wait.",
    },
    "collect_pending_exists": {
        RU: "Запрос на {number} уже ждет ответа.",
        KK: "{number} нөміріне сұрау жауап күтуде.",
        EN: "A request to {number} is already waiting for an answer.",
    },
    "collect_incoming": {
        RU: "{number} звонит за ваш счет, {rate} тг/мин.\n1 Принять\n2 Отклонить",
        KK: "{number} сіздің есебіңізден, {rate} тг/мин.\n1 Қабылдау\n2 Бас тарту",
        EN: "{number} calls at your expense, {rate} KZT/min.\n1 Accept\n2 Decline",
    },
    "collect_none": {
        RU: "Нет запросов звонка за ваш счет.",
        KK: "Сіздің есебіңізден қоңырау сұраулары жоқ.",
        EN: "No collect call requests for you.",
    },
    "collect_accepted": {
        RU: "Звонок принят. Стоимость {rate} тг/мин.",
        KK: "Қоңырау қабылданды. Құны {rate} тг/мин.",
        EN: "Call accepted. It costs {rate} KZT/min.",
    },
    "collect_declined": {
        RU: "Звонок отклонен.",
        KK: "Қоңыраудан бас тартылды.",
        EN: "Call declined.",
    },
    # *141#
    "credit_menu": {
        RU: "Доверительный платеж на {days} дн., тг:\n{options}",
        KK: "Сенім төлемі {days} күнге, тг:\n{options}",
        EN: "Trust payment for {days} days, KZT:\n{options}",
    },
    "credit_confirm": {
        RU: "Взять {amount} тг на {days} дн.? Комиссия {fee} тг.\n1 Да\n2 Нет",
        KK: "{amount} тг {days} күнге алу? Комиссия {fee} тг.\n1 Иә\n2 Жоқ",
        EN: "Take {amount} KZT for {days} days? Fee {fee} KZT.\n1 Yes\n2 No",
    },
    "credit_taken": {
        RU: "Зачислено {amount} тг. Верните {debt} тг до {date}.",
        KK: "{amount} тг түсті. {date} дейін {debt} тг қайтарыңыз.",
        EN: "{amount} KZT added. Repay {debt} KZT by {date}.",
    },
    "credit_tenure": {
        RU: "Услуга доступна через {days} дн. после подключения.",
        KK: "Қызмет қосылғаннан {days} күн өткен соң қолжетімді.",
        EN: "Available {days} days after you joined the network.",
    },
    "credit_no_topups": {
        RU: "Нужно хотя бы одно пополнение за последние 30 дней.",
        KK: "Соңғы 30 күнде кемінде бір толтыру қажет.",
        EN: "You need at least one top-up in the last 30 days.",
    },
    "credit_owed": {
        RU: "Сначала погасите долг {debt} тг.",
        KK: "Алдымен {debt} тг қарызды өтеңіз.",
        EN: "Please repay your debt of {debt} KZT first.",
    },
    "credit_prepaid_only": {
        RU: "Услуга доступна только на предоплате.",
        KK: "Қызмет тек алдын ала төлемде қолжетімді.",
        EN: "Only available on prepaid numbers.",
    },
    # *145*NUMBER*AMOUNT#
    "transfer_confirm": {
        RU: "Перевод {amount} тг на {number}, комиссия {fee}, дойдет {net}.\n1 Да\n2 Нет",
        KK: "{number} нөміріне {amount} тг, комиссия {fee}, жетеді {net}.\n1 Иә\n2 Жоқ",
        EN: "Send {amount} KZT to {number}? Fee {fee}, they get {net}.\n1 Yes\n2 No",
    },
    "transfer_done": {
        RU: "Переведено {net} тг на {number}. Баланс: {balance} тг",
        KK: "{number} нөміріне {net} тг аударылды. Баланс: {balance} тг",
        EN: "Sent {net} KZT to {number}. Balance: {balance} KZT",
    },
    "transfer_bad_amount": {
        RU: "Неверная сумма. Пример: *145*7071234567*500#",
        KK: "Сома қате. Мысалы: *145*7071234567*500#",
        EN: "Invalid amount. Example: *145*7071234567*500#",
    },
    "transfer_range": {
        RU: "Сумма перевода от {min} до {max} тг.",
        KK: "Аударым сомасы {min} тг-ден {max} тг-ге дейін.",
        EN: "You can send from {min} to {max} KZT.",
    },
    "transfer_daily_limit": {
        RU: "Превышен дневной лимит переводов {limit} тг.",
        KK: "Аударымның күндік {limit} тг лимиті асты.",
        EN: "Daily transfer limit of {limit} KZT exceeded.",
    },
    "transfer_monthly_limit": {
        RU: "Превышен месячный лимит переводов {limit} тг.",
        KK: "Аударымның айлық {limit} тг лимиті асты.",
        EN: "Monthly transfer limit of {limit} KZT exceeded.",
    },
    "transfer_daily_count": {
        RU: "Превышен лимит: {limit} переводов в день.",
        KK: "Лимит асты: күніне {limit} аударым.",
        EN: "Limit exceeded: {limit} transfers a day.",
    },
    "transfer_min_balance": {
        RU: "Мало средств: после перевода должно остаться {min} тг.",
        KK: "Қаражат аз: аударымнан кейін {min} тг қалуы керек.",
        EN: "Not enough money: {min} KZT must stay on the balance.",
    },
    "transfer_in_debt": {
        RU: "Перевод невозможен до погашения доверительного платежа.",
        KK: "Сенім төлемі өтелгенше аударым мүмкін емес.",
        EN: "No transfers until the trust payment is repaid.",
    },
    "transfer_recipient": {
        RU: "Перевод на номер {number} невозможен.",
        KK: "{number} нөміріне аударым мүмкін емес.",
        EN: "Transfers to {number} are not possible.",
    },
    "prepaid_only": {
        RU: "Услуга доступна только на предоплате.",
        KK: "Қызмет тек алдын ала төлемде қолжетімді.",
        EN: "Only available on prepaid numbers.",
    },
    # *911*2*2# and *911*2*3#
    "autopay_ask_friend": {
        RU: "Введите номер друга (10 цифр):",
        KK: "Досыңыздың нөмірін енгізіңіз (10 сан):",
        EN: "Enter your friend's number (10 digits):",
    },
    "autopay_pending": {
        RU: "Заявка принята. Привяжите карту в личном кабинете.",
        KK: "Өтінім қабылданды. Жеке кабинетте картаны байланыстырыңыз.",
        EN: "Request received. Link a bank card in your personal cabinet to finish.",
    },
    "autopay_active": {
        RU: "Автопополнение подключено к вашей карте.",
        KK: "Автотолтыру картаңызға қосылды.",
        EN: "Auto top-up is on, using your linked card.",
    },
    "autopay_friend_pending": {
        RU: "Заявка для {number} принята. Привяжите карту в кабинете.",
        KK: "{number} үшін өтінім қабылданды. Кабинетте картаны қосыңыз.",
        EN: "Request for {number} received. Link a bank card in your cabinet to finish.",
    },
}

# SMS texts (split into parts when long, so not limited to one page).
SMS: dict[str, dict[Language, str]] = {
    "callme": {
        RU: "Пожалуйста, позвони мне. Абонент {number}",
        KK: "Маған қоңырау шалшы. Абонент {number}",
        EN: "Please call me back. Subscriber {number}",
    },
    "topupme": {
        RU: "Пожалуйста, пополни мой счет. Абонент {number}",
        KK: "Шотымды толтырып жіберші. Абонент {number}",
        EN: "Please top up my account. Subscriber {number}",
    },
    "collect_request": {
        RU: "{number} просит звонок за ваш счет ({rate} тг/мин). Ответить: *133#",
        KK: "{number} сіздің есебіңізден қоңырау сұрайды ({rate} тг/мин). Жауап: *133#",
        EN: "{number} asks for a call at your expense ({rate} KZT/min). Answer: *133#",
    },
    "collect_accepted": {
        RU: "{number} принял звонок за свой счет.",
        KK: "{number} қоңырауды өз есебінен қабылдады.",
        EN: "{number} accepted your collect call.",
    },
    "collect_declined": {
        RU: "{number} отклонил звонок за свой счет.",
        KK: "{number} қоңыраудан бас тартты.",
        EN: "{number} declined your collect call.",
    },
    "transfer_sent": {
        RU: "Перевод {amount} тг на {number}: дошло {net} тг, комиссия {fee} тг. "
        "Баланс {balance} тг",
        KK: "{number} нөміріне {amount} тг аударым: {net} тг жетті, комиссия {fee} тг. "
        "Баланс {balance} тг",
        EN: "Transfer of {amount} KZT to {number}: {net} KZT delivered, fee {fee} KZT. "
        "Balance {balance} KZT",
    },
    "transfer_received": {
        RU: "Вам перевели {net} тг с номера {number}. Баланс {balance} тг",
        KK: "{number} нөмірінен {net} тг аударылды. Баланс {balance} тг",
        EN: "You received {net} KZT from {number}. Balance {balance} KZT",
    },
    "credit_taken": {
        RU: "Доверительный платеж {amount} тг зачислен. Верните {debt} тг до {date}.",
        KK: "Сенім төлемі {amount} тг түсті. {date} дейін {debt} тг қайтарыңыз.",
        EN: "Trust payment of {amount} KZT added. Repay {debt} KZT by {date}.",
    },
    "credit_repaid_part": {
        RU: "В счет доверительного платежа удержано {paid} тг. Осталось {debt} тг.",
        KK: "Сенім төлемі есебінен {paid} тг ұсталды. Қалғаны {debt} тг.",
        EN: "{paid} KZT went to repay your trust payment. {debt} KZT left.",
    },
    "credit_repaid": {
        RU: "Доверительный платеж погашен. Спасибо!",
        KK: "Сенім төлемі өтелді. Рақмет!",
        EN: "Your trust payment is repaid. Thank you!",
    },
    "credit_forced": {
        RU: "Срок доверительного платежа истек: списано {amount} тг, баланс {balance} тг. "
        "Исходящие услуги ограничены до пополнения.",
        KK: "Сенім төлемінің мерзімі бітті: {amount} тг алынды, баланс {balance} тг. "
        "Толтырғанша шығыс қызметтер шектелді.",
        EN: "Your trust payment is due: {amount} KZT taken, balance {balance} KZT. "
        "Outgoing services are barred until you top up.",
    },
    "credit_unbarred": {
        RU: "Долг погашен, ограничения сняты.",
        KK: "Қарыз өтелді, шектеулер алынды.",
        EN: "Debt repaid; your services are unbarred.",
    },
    "voucher_refused": {
        RU: "Карта оплаты не принята: код неверен или уже использован.",
        KK: "Төлем картасы қабылданбады: код қате немесе қолданылған.",
        EN: "Voucher not accepted: the code is wrong or already used.",
    },
    "voucher_unavailable": {
        RU: "Сервис карт оплаты временно недоступен. Попробуйте позже.",
        KK: "Төлем карталары қызметі уақытша қолжетімсіз.",
        EN: "The voucher service is temporarily unavailable. Please try later.",
    },
    "sms_unknown": {
        RU: "Неверная команда. Для карты оплаты отправьте 13 цифр кода на 9393.",
        KK: "Қате команда. Төлем картасы үшін 13 сан кодты 9393-ке жіберіңіз.",
        EN: "Unknown command. To use a voucher send its 13-digit code to 9393.",
    },
}


def render(
    catalogue: Mapping[str, Mapping[Language, str]],
    key: str,
    language: Language,
    params: Mapping[str, object] | None = None,
) -> str:
    template = catalogue[key].get(language) or catalogue[key][Language.RU]
    return template.format(**(params or {}))
