"""YAML loading that remembers where each mapping and key came from, so problems can name file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from policies.errors import Problem, ValidationError


class Located(dict[str, Any]):
    """A mapping from YAML that knows its own line and the line of each key."""

    line: int
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    result = Located()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise ValidationError([Problem(loader.name, line, f"keys must be strings, got {key!r}")])
        if key in result:
            raise ValidationError([Problem(loader.name, line, f"duplicate key {key!r}")])
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_text(text: str, name: str) -> Located:
    """Parse one YAML document whose top level must be a mapping."""
    loader = _Loader(text)
    loader.name = name
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 1
        raise ValidationError([Problem(name, line, f"YAML syntax: {exc.problem}")]) from exc
    finally:
        loader.dispose()
    if not isinstance(data, Located):
        raise ValidationError([Problem(name, 1, "the document must be a mapping")])
    return data


def load_file(path: Path) -> Located:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError([Problem(str(path), 0, f"cannot read: {exc.strerror}")]) from exc
    return load_text(text, str(path))
