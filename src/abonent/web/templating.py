"""Jinja2 templates shared by every feature's pages (``pages.py``).

Feature templates live in ``src/abonent/<feature>/templates/`` and extend ``base.html``.
Autoescaping is on for every template.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from abonent.web import i18n

PACKAGE = Path(__file__).resolve().parent.parent
STATIC_DIR = Path(__file__).resolve().parent / "static"


def _template_dirs() -> list[str]:
    dirs = [str(Path(__file__).resolve().parent / "templates")]
    dirs += sorted(str(p) for p in PACKAGE.glob("*/templates") if p.parent.name != "web")
    return dirs


_environment = Environment(
    loader=ChoiceLoader([FileSystemLoader(d) for d in _template_dirs()]),
    autoescape=select_autoescape(default=True, default_for_string=True),
    extensions=["jinja2.ext.i18n"],
)
_environment.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True
)
_environment.globals["current_language"] = i18n.current_language.get
templates = Jinja2Templates(env=_environment)
