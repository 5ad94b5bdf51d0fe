"""Every USSD template in every language fits one page with the widest values it can take."""

from __future__ import annotations

import string

import pytest

from abonent.subscribers.domain import Language
from abonent.ussd.messages import (
    SAMPLES,
    USSD,
    fit_page,
    fits_page,
    is_gsm7,
    page_length,
    ucs2_length,
)

TEMPLATES = [(key, language) for key in USSD for language in Language]


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize(
    ("key", "language"), TEMPLATES, ids=[f"{k}-{lang}" for k, lang in TEMPLATES]
)
def test_template_fits_one_page(key: str, language: Language) -> None:
    template = USSD[key][language]
    assert _placeholders(template) <= set(SAMPLES), "give every placeholder a widest sample"
    text = template.format(**SAMPLES)
    if language is Language.EN:
        assert is_gsm7(template), "English texts stay in the GSM-7 alphabet"
        assert len(text) <= 182 or not is_gsm7(text)
    else:
        assert ucs2_length(text) <= 80, f"{ucs2_length(text)} UCS-2 characters: {text!r}"
    assert fits_page(text)


def test_every_template_exists_in_every_language() -> None:
    for key, texts in USSD.items():
        assert set(texts) == set(Language), key
        placeholders = {_placeholders(t).__repr__() for t in texts.values()}
        assert len({frozenset(_placeholders(t)) for t in texts.values()}) == 1, (key, placeholders)


def test_page_length_counts_by_coding() -> None:
    assert page_length("Balance: 100 KZT") == (16, 182)
    assert page_length("Баланс") == (6, 80)
    assert page_length("€") == (2, 182)  # an extension character takes two septets


def test_fit_page_cuts_only_what_does_not_fit() -> None:
    assert fit_page("Коротко") == "Коротко"
    cut = fit_page("я" * 100)
    assert ucs2_length(cut) == 80 and cut.endswith("…")
