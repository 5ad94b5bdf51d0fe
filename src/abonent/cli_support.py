"""What every feature's CLI module shares: the container, the actor name, output helpers."""

from __future__ import annotations

import getpass
import json
from typing import Any

from rich.console import Console

from abonent.bootstrap import Container, build

# markup=False: names and messages may contain [brackets] that are not Rich markup.
console = Console(highlight=False, soft_wrap=True, markup=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

_container: Container | None = None


def container() -> Container:
    """One container per CLI process, built on first use (never at import time)."""
    global _container
    if _container is None:
        _container = build()
    return _container


def set_container(new: Container | None) -> None:
    """Tests and embedding code inject their own container (with a frozen clock, say)."""
    global _container
    _container = new


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, ensure_ascii=False, default=str))
