"""Reading the project's YAML files (Pulumi.yaml, stack files, stacks/rollout.yaml) safely.

Every YAML file the tools read goes through `load_yaml` or `load_mapping`. Both read the
file the way the Pulumi engine does (YAML 1.2: `1e-5` is a float, `2020-01-01` a string)
and refuse, with the file and line, what would crash or exhaust a tool later:

- aliases that expand a small file into a huge value (an anchor "bomb"): the size of the
  value as the program would see it, every alias expanded, is counted while the file is
  read and bounded (`MAX_NODES`, `MAX_CHARS`, `MAX_DEPTH`); a recursive alias is refused;
- a file over `MAX_FILE_BYTES`, or not a regular file (a FIFO would block the reader);
- explicit tags beyond the plain types (`!!binary`, `!!set`, `!!timestamp`, ...): the
  engine reads them differently or not at all;
- a key given twice in one mapping (two graders with one name): PyYAML keeps the last
  silently, the engine (go-yaml v3) refuses the file;
- syntax errors, unhashable keys, more than one document.

`YamlFileError` is a ValueError whose message starts with `<file>:<line>:`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode

from rft_env.components.files import read_bytes

# A stack file is a few KB; these leave room for any real one and stop a bomb long before
# it costs time or memory (a 7-level anchor bomb expands to 4.8 million values).
MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000  # values (scalars, lists, mappings) with every alias expanded
MAX_CHARS = 4 * 1024 * 1024  # characters of all scalars, every alias expanded
MAX_DEPTH = 64  # nesting of lists and mappings, aliases expanded

_TAG = "tag:yaml.org,2002:"
# The plain types of YAML's core schema, which is what the engine reads (and merge keys,
# which it supports too).
PLAIN_TAGS = frozenset(
    _TAG + name for name in ("null", "bool", "int", "float", "str", "seq", "map")
)
_MERGE = _TAG + "merge"
_TYPE_WORDS = {dict: "a mapping", list: "a list", str: "a string"}


class YamlFileError(ValueError):
    """A YAML file that cannot be used, with where: `<file>:<line>: <problem>`."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with YAML 1.2 scalars and the limits of the module docstring.

    PyYAML composes an alias as a second reference to the anchored node, so reading a bomb
    is cheap; what explodes is every later walk over the value (JSON encoding, validation).
    So each node's expanded size is computed once, when it is composed, and every alias adds
    the size of what it refers to to the document's running total."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # id(node) -> (values, characters, height) with every alias inside expanded
        self._sizes: dict[int, tuple[int, int, int]] = {}
        self._open_anchors: list[str] = []  # anchors of the collections being composed
        self._depth = 0
        self._nodes = 0
        self._chars = 0

    def _grow(self, nodes: int, chars: int, depth: int, mark: Any, alias: str = "") -> None:
        """Add a value (or an alias's whole expansion) to the running totals; refuse the
        file once one exceeds its limit."""
        self._nodes += nodes
        self._chars += chars
        if self._nodes > MAX_NODES:
            limit = f"more than {MAX_NODES:,} values"
        elif self._chars > MAX_CHARS:
            limit = f"more than {MAX_CHARS:,} characters"
        elif depth > MAX_DEPTH:
            limit = f"values nested more than {MAX_DEPTH} levels deep"
        else:
            return
        where = f"alias *{alias}: with its aliases expanded, " if alias else ""
        raise ComposerError(None, None, f"{where}the file holds {limit}", mark)

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            if event.anchor in self._open_anchors:
                raise ComposerError(
                    None, None, f"alias *{event.anchor} is inside its own anchor", event.start_mark
                )
            node = super().compose_node(parent, index)  # refuses an undefined alias
            nodes, chars, height = self._sizes[id(node)]
            self._grow(nodes, chars, self._depth + height, event.start_mark, event.anchor)
            return node
        self._depth += 1
        self._grow(0, 0, self._depth, event.start_mark)
        if event.anchor is not None:
            self._open_anchors.append(event.anchor)
        node = super().compose_node(parent, index)
        if event.anchor is not None:
            self._open_anchors.pop()
        self._depth -= 1
        if isinstance(node, ScalarNode):
            size = (1, len(node.value), 1)
        else:
            children = (
                [part for pair in node.value for part in pair]
                if isinstance(node, MappingNode)
                else node.value
            )
            measured = [self._sizes[id(child)] for child in children]
            size = (
                1 + sum(m[0] for m in measured),
                sum(m[1] for m in measured),
                1 + max((m[2] for m in measured), default=0),
            )
            if isinstance(node, MappingNode):
                self._refuse_duplicate_keys(node)
        self._sizes[id(node)] = size
        # The node's own value; its children (and their aliases) were counted as composed.
        own_chars = len(node.value) if isinstance(node, ScalarNode) else 0
        self._grow(1, own_chars, 0, node.start_mark)
        return node

    def _refuse_duplicate_keys(self, node: MappingNode) -> None:
        first: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE or not isinstance(key_node, ScalarNode):
                continue  # merged keys may be overridden; a collection key is unhashable
            key = self.construct_object(key_node)
            earlier = first.setdefault(key, key_node)
            if earlier is not key_node:
                raise ConstructorError(
                    None,
                    None,
                    f"key {key!r} is given twice in one mapping (first on line "
                    f"{earlier.start_mark.line + 1}); each key may appear once",
                    key_node.start_mark,
                )

    def construct_undefined(self, node: Node) -> Any:
        raise ConstructorError(
            None,
            None,
            f"the tag {node.tag.replace(_TAG, '!!')} is not allowed; allowed: plain YAML values "
            "(strings, numbers, true/false, null, lists and mappings)",
            node.start_mark,
        )


# Only the plain types are constructed; any other tag (binary, set, omap, pairs, timestamp)
# is refused by construct_undefined.
_BoundedLoader.yaml_constructors = {
    tag: constructor
    for tag, constructor in yaml.SafeLoader.yaml_constructors.items()
    if tag in PLAIN_TAGS
}
_BoundedLoader.add_constructor(None, _BoundedLoader.construct_undefined)
# YAML 1.2 has no timestamp type, and the engine (go-yaml v3) reads a date-like plain
# value such as 2020-01-01 as a string; so does this loader.
_BoundedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TAG + "timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# PyYAML speaks YAML 1.1, where `1e-5` is a string; Pulumi (YAML 1.2) reads a float.
_BoundedLoader.add_implicit_resolver(
    _TAG + "float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
        r"|\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _read(path: Path) -> str:
    try:
        data = read_bytes(path)
    except OSError as error:
        raise YamlFileError(path, None, f"cannot read it: {error.strerror or error}") from None
    if len(data) > MAX_FILE_BYTES:
        raise YamlFileError(
            path, None, f"{len(data):,} bytes; allowed: at most {MAX_FILE_BYTES:,} bytes"
        )
    try:
        return data.decode("utf-8-sig")  # as the engine reads it: UTF-8, a BOM allowed
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise YamlFileError(path, line, f"not UTF-8 text ({error.reason})") from None


def _compose(path: Path) -> tuple[Any, Node | None]:
    """The document's value and its node (None for an empty file)."""
    text = _read(path)
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text)  # the reader checks every character here
        node = loader.get_single_node()
        return (loader.construct_document(node) if node is not None else None), node
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = ", ".join(str(part) for part in (error.context, error.problem) if part)
        if isinstance(error, yaml.scanner.ScannerError | yaml.parser.ParserError):
            problem = f"not valid YAML: {problem}"
        raise YamlFileError(path, mark.line + 1 if mark else None, problem) from None
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        problem = f"character #x{error.character:04x} is not allowed in YAML"
        raise YamlFileError(path, line, problem) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml(path: Path) -> Any:
    """The value of a YAML file, read as the engine reads it, within the module's limits.
    Raises YamlFileError (a ValueError) naming the file and line."""
    return _compose(path)[0]


def load_mapping(path: Path, kinds: Mapping[str, type] | None = None) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is an empty one). Each key of
    `kinds` that is present and not null must hold that type (dict, list or str); a dict's
    own keys must be strings, as config keys are. Raises YamlFileError naming the line."""
    value, node = _compose(path)
    if node is None:
        return {}
    if not isinstance(value, dict):
        raise YamlFileError(
            path, node.start_mark.line + 1, f"expected a mapping at the top, got {_kind(value)}"
        )
    assert isinstance(node, MappingNode)
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, ScalarNode) else None
        expected = (kinds or {}).get(key) if isinstance(key, str) else None
        item = value.get(key) if isinstance(key, str) else None
        if expected is None or item is None:
            continue
        line = value_node.start_mark.line + 1
        if not isinstance(item, expected):
            raise YamlFileError(
                path, line, f"{key}: expected {_TYPE_WORDS[expected]}, got {_kind(item)}"
            )
        if expected is dict:
            for inner_key, _ in value_node.value:
                if inner_key.tag not in (_TAG + "str", _MERGE):
                    raise YamlFileError(
                        path,
                        inner_key.start_mark.line + 1,
                        f"{key}: keys must be strings, got {inner_key.value!r}",
                    )
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    words = {bool: "true/false", int: "a number", float: "a number"}
    for kind, word in {**_TYPE_WORDS, **words}.items():
        if isinstance(value, kind):
            return f"{word} ({value!r})" if kind in (int, float, bool) else word
    return type(value).__name__
