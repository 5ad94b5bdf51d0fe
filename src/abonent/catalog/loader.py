"""Catalogue files: YAML read into line-aware mappings (``LineDict``) for ``parse_catalogue``."""

from __future__ import annotations

from typing import Any

import yaml

from abonent.catalog.domain import InvalidCatalogue, LineDict, LineList

MAX_FILE_BYTES = 2_000_000


def _build(node: yaml.Node) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        mapping = LineDict(line)
        for key_node, value_node in node.value:
            key = _build(key_node)
            if not isinstance(key, str):
                raise InvalidCatalogue([(key_node.start_mark.line + 1, "keys must be text")])
            if key in mapping:
                raise InvalidCatalogue([(key_node.start_mark.line + 1, f"duplicate key {key!r}")])
            mapping[key] = _build(value_node)
            mapping.key_lines[key] = key_node.start_mark.line + 1
        return mapping
    if isinstance(node, yaml.SequenceNode):
        items = LineList(line)
        for item in node.value:
            items.append(_build(item))
            items.item_lines.append(item.start_mark.line + 1)
        return items
    constructor = yaml.SafeLoader("")
    try:
        return constructor.construct_object(node)
    except yaml.YAMLError as exc:
        raise InvalidCatalogue([(line, f"bad value: {exc}")]) from None


def read_document(text: str) -> Any:
    """Parse YAML text into LineDict/LineList/scalars; syntax errors name their line."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise InvalidCatalogue([(1, "the file is too large for a catalogue")])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise InvalidCatalogue([(line, f"not valid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise InvalidCatalogue([(1, f"not valid YAML: {exc}")]) from None
    if node is None:
        raise InvalidCatalogue([(1, "the file is empty")])
    return _build(node)
