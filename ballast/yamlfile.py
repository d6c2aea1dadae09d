"""YAML for the config files people write (the deploy config, the keeper's config).

PyYAML keeps the last of two equal keys and says nothing: a second `guardian:` under `roles:`, a
holder listed twice under `distribution:` or a `dry_run: false` below a `dry_run: true` would
silently replace the first. Here a repeated key is an error naming both lines, and every error is
one line: what is wrong and where.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError

_MERGE = "tag:yaml.org,2002:merge"


class _UniqueKeys(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (`<<` merges may still be
    overridden: that is what they are for)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # an unhashable key: SafeLoader's own error follows
                if first is not None:
                    raise ConstructorError(
                        None, None,
                        f"duplicate key {key!r} (also on line {first + 1})",
                        key_node.start_mark,
                    )  # fmt: skip
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """`text` parsed as YAML (safe types only); yaml.YAMLError for bad syntax or a repeated key."""
    return yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 - a SafeLoader subclass


def yaml_problem(err: yaml.YAMLError) -> str:
    """One line for a YAML error: ``line N: what is wrong``."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or getattr(err, "context", None) or "not valid YAML"
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"
