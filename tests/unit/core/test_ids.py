"""Public tokens: URL-safe, unguessable, the same shape whether made one by one or together."""

from __future__ import annotations

import re

import pytest

from abonent.core.ids import public_token, public_tokens

_URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


@pytest.mark.parametrize("nbytes", [18, 16, 4, 3])
def test_tokens_made_together_look_like_tokens_made_alone(nbytes: int) -> None:
    together = public_tokens(50, nbytes)
    alone = public_token(nbytes)
    assert len(together) == 50
    assert len(set(together)) == 50
    assert all(len(token) == len(alone) and _URL_SAFE.fullmatch(token) for token in together)


def test_no_tokens_for_no_rows() -> None:
    assert public_tokens(0) == []
