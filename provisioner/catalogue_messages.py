"""pybabel's extractor for the catalogue: each working group's and team's name and
description become messages, so a language's catalogue translates them (babel.cfg)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import yaml

TRANSLATED_KEYS = ("name", "description")


def extract_catalogue(fileobj: IO[bytes], keywords: object, comment_tags: object,
                      options: object) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel's extractor interface: (line, function, message, comments) for each text."""
    root = yaml.compose(fileobj.read().decode("utf-8"))
    yield from _texts(root)


def _texts(node: Any) -> Iterator[tuple[int, str, str, list[str]]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value in TRANSLATED_KEYS and isinstance(value, yaml.ScalarNode) and value.value:
                yield value.start_mark.line + 1, "_", value.value, [f"working group {key.value}"]
            else:
                yield from _texts(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _texts(item)
