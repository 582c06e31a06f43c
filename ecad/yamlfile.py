"""YAML input with bounds: a size limit on the text and a limit on the expanded node count.

``yaml.safe_load`` builds shared objects for aliases, so a nine-level "billion laughs" document
parses quickly, but everything that walks the result afterwards (validation, ``json.dumps``,
digests) sees the expanded tree: minutes and gigabytes. :func:`load_yaml` composes the node graph
first, counts the nodes the document would have with every alias expanded (each node counted
once per reference, memoised, so the count itself is linear in the document) and refuses it above
``max_nodes`` before constructing anything. Ordinary anchors and merge keys (``<<: *defaults``)
stay allowed. Every failure is a :class:`ConfigError` naming the source.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from ecad.errors import ConfigError
from ecad.textfile import read_text

__all__ = ["MAX_YAML_BYTES", "MAX_YAML_NODES", "load_yaml", "read_yaml"]

#: Largest YAML file read (specs and configs are a few KB; prompts live in their own files).
MAX_YAML_BYTES = 1 << 20
#: Most nodes a document may have once its aliases are expanded.
MAX_YAML_NODES = 100_000


def _expanded_size(root: yaml.Node, limit: int, source: str) -> int:
    """Nodes in the tree ``root`` stands for with aliases expanded; stops past ``limit``."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(f"{source}: a YAML alias refers to its own anchor (recursive data)")
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > limit:
                raise ConfigError(
                    f"{source}: the YAML expands to more than {limit} nodes once its aliases "
                    "(*name) are expanded; write the values out or use fewer nested aliases"
                )
        active.discard(key)
        sizes[key] = total
        return total

    return size(root)


def load_yaml(text: str, source: str = "<yaml>", max_nodes: int = MAX_YAML_NODES) -> Any:
    """Parse one YAML document with safe types only, refusing alias-expansion bombs."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, max_nodes, source)
        return loader.construct_document(node)
    except ConfigError:
        raise
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({_one_line(exc)})") from exc
    except RecursionError as exc:
        raise ConfigError(f"{source}: YAML nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        raise ConfigError(f"{source}: bad YAML value ({exc})") from exc
    finally:
        loader.dispose()


def read_yaml(
    path: str | os.PathLike, what: str = "YAML file", max_bytes: int = MAX_YAML_BYTES
) -> Any:
    """Read and parse the YAML file ``path`` (at most ``max_bytes``, UTF-8)."""
    return load_yaml(read_text(path, what, max_bytes), str(path))


def _one_line(exc: yaml.YAMLError) -> str:
    return " ".join(str(exc).split())
