"""Syntactic facts of one file: references, angle brackets, forwards, words.

These need no module walk: a select expression like ``den.lib.take.atLeast``
or ``<den/hostname>`` means the same wherever it is written. The extractor
runs the ``den-references`` query once per file and reads each match here.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import tree_sitter

from den_lsp.facts.types import (
    UNKNOWN,
    ApiUse,
    Forward,
    Literal,
    Namespace,
    Reference,
)
from den_lsp.syntax.parse import SyntaxTree
from den_lsp.syntax.positions import LineIndex
from den_lsp.syntax.queries import bounded_cursor

Node = tree_sitter.Node

_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_'-]*")

# Paths under `den` whose use the API rules report, by the API name.
_API_PATHS = {
    ("stages",): "den.stages",
    ("deliveredChild",): "den.deliveredChild",
    ("ctx",): "den.ctx",
    ("lib", "parametric"): "den.lib.parametric",
    ("lib", "take"): "den.lib.take",
}

# Declarations that make a removed name part of this workspace's own API
# (den's own source at the generation that had it, or a port of it).
_DECLARATIONS = (
    (re.compile(rb"options\s*\.\s*den\s*\.\s*deliveredChild\b"), "den.deliveredChild"),
    (re.compile(rb"options\s*\.\s*deliveredChildren\b"), "host.deliveredChildren"),
    (re.compile(rb"options\s*\.\s*den\s*\.\s*stages\b"), "den.stages"),
    (re.compile(rb"options\s*\.\s*den\s*\.\s*ctx\b"), "den.ctx"),
)


@dataclass
class Scan:
    references: list[Reference] = field(default_factory=list)
    forwards: list[Forward] = field(default_factory=list)
    namespaces: list[Namespace] = field(default_factory=list)
    api_uses: list[ApiUse] = field(default_factory=list)


# Word counts are kept up to this many: the rules compare them with small
# numbers, and capped counts change far less often as a file is edited.
WORD_COUNT_CAP = 3


def words(source: bytes) -> dict[str, int]:
    """How often each identifier-like word occurs in the source (capped)."""
    counts = Counter(_WORD.findall(source))
    return {
        w.decode("utf-8", "replace"): min(n, WORD_COUNT_CAP) for w, n in counts.items()
    }


_BOUND = re.compile(rb"([A-Za-z_][A-Za-z0-9_'-]*)\s*=(?![=>])")
_INHERIT = re.compile(rb"\binherit\b\s*(?:\([^)]*\))?([^;]*);")


def bound_names(source: bytes) -> frozenset[str]:
    """Names written as a binding's key (``x = ...``) or inherited anywhere."""
    found = set(_BOUND.findall(source))
    for names in _INHERIT.findall(source):
        found.update(_WORD.findall(names))
    return frozenset(n.decode("utf-8", "replace") for n in found)


def declared_api(source: bytes) -> frozenset[str]:
    if b"options" not in source:
        return frozenset()
    return frozenset(api for pattern, api in _DECLARATIONS if pattern.search(source))


def scan(path: str, tree: SyntaxTree, index: LineIndex) -> Scan:
    """Run the references query over the file. Never raises on odd input."""
    found = Scan()
    source = tree.source
    findfile = b"__findFile" in source

    def span(node: Node):
        return index.span(path, node.start_byte, node.end_byte)

    def text(node: Node) -> str:
        return source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    harness = (
        _harness_ranges(tree, text)
        if b"denTest" in source or b"evalPure" in source
        else []
    )
    cursor = bounded_cursor("den-references")
    for _, captures in cursor.matches(tree.root):
        first = next(iter(captures.values()))[0]
        if any(start <= first.start_byte < end for start, end in harness):
            continue  # a den CI test universe, not part of this configuration
        if "reference" in captures:
            node = captures["reference"][0]
            root = text(captures["reference.root"][0])
            names = _attr_names(captures["reference.path"][0], text)
            if root == "config":
                if names[:1] != ("den",):
                    continue
                root, names = "den", names[1:]
            if not names:
                continue
            found.references.append(Reference(root, names, span(node)))
            if root == "den":
                _api_use(found, names, span(node))
        elif "inherit" in captures:
            source_names = _select_path(captures["inherit.source"][0], text)
            if source_names is None:
                continue
            for attr in captures["inherit.attrs"][0].named_children:
                if attr.type != "identifier":
                    continue
                names = source_names + (text(attr),)
                found.references.append(Reference("den", names, span(attr)))
                _api_use(found, names, span(attr))
        elif "bracket" in captures:
            node = captures["bracket"][0]
            inner = text(node).strip()[1:-1]
            segments = tuple(s for s in re.split(r"[/.]", inner) if s)
            found.references.append(
                Reference("", segments, span(node), bracket=inner, findfile=findfile)
            )
        elif "forward" in captures:
            function = _select_path(captures["forward.function"][0], text)
            if function is None or not _is_forward(function):
                continue
            spec = _strip(captures["forward.spec"][0])
            if spec.type != "attrset_expression":
                continue
            fields = _literal_fields(spec, text)
            from_class, from_span = fields.get("fromClass", (UNKNOWN, None))
            into_class, _ = fields.get("intoClass", (UNKNOWN, None))
            found.forwards.append(
                Forward(
                    from_class,
                    into_class,
                    span(captures["forward"][0]),
                    span(from_span) if from_span is not None else None,
                )
            )
        elif "namespace" in captures:
            attrpath = captures["namespace.fn"][0].parent
            select = attrpath.parent if attrpath is not None else None
            function = _select_path(select, text) if select is not None else None
            if function is None or function[-2:] != ("den", "namespace"):
                continue
            name = _string(captures["namespace.name"][0], text)
            if not isinstance(name, str):
                continue
            sources = _strip(captures["namespace.sources"][0])
            found.namespaces.append(
                Namespace(name, span(captures["namespace.name"][0]), _external(sources, text))
            )
    return found


# den's CI harness functions: each evaluates its argument as a configuration
# of its own.
_HARNESS = frozenset({"denTest", "evalPure"})


def _harness_ranges(tree: SyntaxTree, text) -> list[tuple[int, int]]:
    """Byte ranges of ``denTest ( ... )`` calls: den's CI test harness.

    Each call's argument is an independent den configuration that the
    extractor does not read as part of the workspace; references in it are
    left out the same way.
    """
    ranges: list[tuple[int, int]] = []
    stack = [tree.root]
    while stack:
        node = stack.pop()
        if node.type == "apply_expression":
            function = node.child_by_field_name("function")
            if function is not None and text(function) in _HARNESS:
                ranges.append((node.start_byte, node.end_byte))
                continue
        stack.extend(node.named_children)
    return ranges


def _api_use(found: Scan, names: tuple[str, ...], span) -> None:
    for prefix, api in _API_PATHS.items():
        if names[: len(prefix)] == prefix:
            detail = ".".join(names[len(prefix) : len(prefix) + 1])
            found.api_uses.append(ApiUse(api, span, detail))
            return


def _is_forward(names: tuple[str, ...]) -> bool:
    if names[:1] == ("config",):
        names = names[1:]
    return names in (
        ("den", "batteries", "forward"),
        ("den", "provides", "forward"),
        ("den", "_", "forward"),
        ("den", "lib", "forward"),
    )


def _attr_names(attrpath: Node, text) -> tuple[str, ...]:
    """The literal names of an attribute path, up to the first computed one."""
    names: list[str] = []
    for attr in attrpath.children_by_field_name("attr"):
        if attr.type == "identifier":
            names.append(text(attr))
        elif attr.type == "string_expression":
            value = _string(attr, text)
            if not isinstance(value, str):
                break
            names.append(value)
        else:
            break
    return tuple(names)


def _select_path(node: Node, text) -> tuple[str, ...] | None:
    """``den.lib`` -> ("den", "lib"); None for anything but a plain path."""
    node = _strip(node)
    if node.type == "variable_expression":
        name = node.child_by_field_name("name")
        return (text(name),) if name is not None else None
    if node.type != "select_expression":
        return None
    base = _select_path(node.child_by_field_name("expression"), text)
    attrpath = node.child_by_field_name("attrpath")
    if base is None or attrpath is None:
        return None
    return base + _attr_names(attrpath, text)


def _strip(node: Node) -> Node:
    while node.type == "parenthesized_expression":
        inner = node.child_by_field_name("expression")
        if inner is None:
            break
        node = inner
    return node


def _string(node: Node, text) -> Literal:
    """A string literal without interpolation, else UNKNOWN."""
    node = _strip(node)
    if node.type != "string_expression":
        return UNKNOWN
    parts = []
    for child in node.named_children:
        if child.type == "string_fragment":
            parts.append(text(child))
        else:
            return UNKNOWN
    return "".join(parts)


def _class_value(node: Node, text) -> Literal:
    """A forward's class: a string, or a function returning one (``_: "hm"``)."""
    node = _strip(node)
    if node.type == "function_expression":
        body = node.child_by_field_name("body")
        return _string(body, text) if body is not None else UNKNOWN
    return _string(node, text)


def _literal_fields(spec: Node, text) -> dict[str, tuple[Literal, Node]]:
    fields: dict[str, tuple[Literal, Node]] = {}
    for binding_set in spec.named_children:
        if binding_set.type != "binding_set":
            continue
        for binding in binding_set.named_children:
            if binding.type != "binding":
                continue
            attrpath = binding.child_by_field_name("attrpath")
            expr = binding.child_by_field_name("expression")
            if attrpath is None or expr is None:
                continue
            names = _attr_names(attrpath, text)
            if len(names) == 1:
                fields[names[0]] = (_class_value(expr, text), expr)
    return fields


def _external(sources: Node, text) -> bool | None:
    """Whether a namespace's sources are other flakes (outside the workspace)."""
    if sources.type == "variable_expression" and text(sources) in ("true", "false"):
        return False
    if sources.type == "list_expression":
        return bool(sources.named_children)
    return None
