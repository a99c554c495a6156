"""Reading YAML parameter files strictly: a key given twice in one mapping is an error, not the later value."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.errors import DataError


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader keeps the last of two equal keys silently; this one refuses them."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise DataError(Path(loader.name), f"key {key!r} is given twice (first on line {seen[key]})", line)
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_yaml(path: str | Path) -> Any:
    """The parsed file (``{}`` when empty); a missing file, bad YAML or a duplicate key names file and line."""
    from bench.io import read_text

    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    text = read_text(path, "YAML file")
    loader = _StrictLoader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data() or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise DataError(path, f"not valid YAML: {getattr(err, 'problem', None) or err}",
                        line=mark.line + 1 if mark else None) from None
    finally:
        loader.dispose()
