"""What cabinet pages share: rendering with language and CSRF token, flash messages, and
turning "not signed in" into a redirect to the login page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from abonent.bootstrap import Container
from abonent.cabinet.domain import operation_label
from abonent.core.money import format_tenge
from abonent.core.msisdn import display, masked, national10
from abonent.web import i18n
from abonent.web.security import Principal
from abonent.web.templating import templates

LANG_COOKIE = "abonent_lang"
LOGIN_CSRF_COOKIE = "abonent_login_csrf"

# Flash messages by stable code: the English msgid, translated when shown.
FLASH_TEXT = {
    "saved": "Saved.",
    "code_sent": "We have sent a code by SMS.",
    "signed_out": "You have signed out.",
    "suspended": "The number is suspended. Calls and charges are stopped.",
    "resumed": "The number works again.",
    "sessions_ended": "All other sessions have ended.",
    "password_changed": "Your password has been changed.",
    "attached": "The number has been added to your cabinet.",
    "delegated": "Access has been given.",
    "revoked": "Access has been revoked.",
    "sent": "Message sent.",
    "step_up_ok": "Confirmed. You can continue.",
    "authentication_failed": "Wrong number, password or code.",
    "not_authenticated": "Please sign in.",
    "rate_limited": "Too many attempts. Please wait a little and try again.",
    "weak_password": "This password is too weak or too well known. Choose another one.",
    "invalid_msisdn": "This is not a Kazakhstan mobile number.",
    "validation_error": "Please check what you entered.",
    "forbidden": "You have no access to this number.",
    "csrf_failed": "The form has expired. Reload the page and try again.",
    "conflict": "This cannot be done in the number's current state.",
    "already_exists": "This already exists.",
    "not_found": "Not found.",
    "step_up_required": "Confirm this action with the code we send by SMS.",
    "insufficient_funds": "There is not enough money on the balance.",
    "storage_unavailable": "The service is temporarily unavailable. Please try again.",
    "tariff_changed": "The tariff has been changed.",
    "option_connected": "The option is connected.",
    "option_disconnected": "The option is disconnected.",
    "topped_up": "The balance has been topped up.",
    "payment_declined": "The payment did not go through. Try another card or later.",
    "card_linked": "The card is linked.",
    "card_removed": "The card is removed.",
    "statement_sent": "The statement has been sent by e-mail.",
    "invalid_amount": "Please enter an amount like 2000.",
    "product_not_available": "This is not offered to this number.",
    "number_not_active": "This cannot be done while the number is not active.",
    "credit_taken": "The trust credit is on your balance.",
    "credit_refused": "A trust credit is not available for this number now.",
    "transferred": "The money has been sent.",
    "transfer_refused": "This transfer is not possible.",
    "rule_created": "The auto top-up rule is created.",
    "rule_completed": "The auto top-up rule is active.",
    "rule_deleted": "The auto top-up rule is deleted.",
    "card_not_usable": "This card cannot be used. Link another card.",
    "card_error": "The card payment failed. Try again later.",
    "idempotency_conflict": "This request was already sent with other details.",
}


def flash_text(code: str | None) -> str | None:
    if not code:
        return None
    return i18n.gettext(FLASH_TEXT.get(code, "Something went wrong. Please try again."))


def language_for(request: Request, principal: Principal | None = None) -> str:
    subscriber_language = principal.subscriber.language.value if principal else None
    return i18n.pick_language(
        request.cookies.get(LANG_COOKIE),
        subscriber_language,
        request.headers.get("accept-language"),
    )


def money(amount: int) -> str:
    """``150000`` → ``1 500.00 ₸`` (thin grouping as people write it)."""
    text = format_tenge(amount)
    whole, fraction = text.split(".")
    sign = "-" if whole.startswith("-") else ""
    digits = whole.lstrip("-")
    groups: list[str] = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return f"{sign}{' '.join(groups) or '0'}.{fraction} ₸"


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    principal: Principal | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    lang = language_for(request, principal)
    i18n.current_language.set(lang)
    base = {
        "lang": lang,
        "principal": principal,
        "csrf_token": principal.session.csrf_token
        if principal
        else request.cookies.get(LOGIN_CSRF_COOKIE, ""),
        "flash_ok": flash_text(request.query_params.get("ok")),
        "flash_error": flash_text(request.query_params.get("error")),
        "money": money,
        "display": display,
        "masked": masked,
        "national10": national10,
        "languages": i18n.LANGUAGES,
        "operation_label": operation_label,
    }
    response = templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def back(
    path: str, *, ok: str | None = None, error: str | None = None, **params: str
) -> RedirectResponse:
    query = {k: v for k, v in {"ok": ok, "error": error, **params}.items() if v}
    joiner = "&" if "?" in path else "?"
    target = path + ((joiner + urlencode(query)) if query else "")
    return RedirectResponse(target, status_code=303)


def to_login(request: Request) -> Response:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def secure(container: Container) -> bool:
    return container.settings.secure_cookies
