"""Extract den facts from one parsed Nix file.

Every ``.nix`` file of a den configuration is a module: a function of module
arguments returning an attribute set of option definitions. The extractor
walks those definitions the way the module system would see them (dotted and
nested paths alike, through ``config.``, ``lib.mkMerge``, ``lib.mkIf`` and
friends), and reads policy bodies for their effects with the partial
evaluator.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

from den_lsp.facts.constructors import EFFECT_CONSTRUCTORS
from den_lsp.facts.evaluate import (
    AttrsValue,
    Env,
    Evaluator,
    Lambda,
    ListValue,
    Node,
    Partial,
    Ref,
    Thunk,
    WorkLimit,
)
from den_lsp.facts.scan import bound_names, declared_api, scan, words
from den_lsp.facts.types import (
    OPAQUE,
    UNKNOWN,
    ApiUse,
    Aspect,
    AspectKey,
    ClassDecl,
    Effect,
    Field,
    FileFacts,
    Home,
    Host,
    Include,
    InsertionPoint,
    KindField,
    KindSite,
    Literal,
    Named,
    Policy,
    PolicyRef,
)
from den_lsp.syntax.parse import SyntaxTree
from den_lsp.syntax.positions import LineIndex
from den_lsp.syntax.queries import bounded_cursor
from den_lsp.syntax.span import Span

log = logging.getLogger(__name__)

POLICY_LIB = ("den", "lib", "policy")

_POLICY_NAMES = frozenset(
    {"route", "deliver", "provide", "include", "exclude", "instantiate", "spawn"}
    | {"resolve", "mkPolicy", "for", "when", "pipe", "pipelineOnly"}
)

# Library functions whose argument lists are walked for effects or includes:
# name -> index of the argument holding the list or element, and whether the
# result is conditional.
_LIST_FUNCTIONS = {
    "optional": (1, True),
    "optionals": (1, True),
    "mkIf": (1, True),
    "flatten": (0, False),
    "concatLists": (0, False),
    "mkMerge": (0, False),
    "mkBefore": (0, False),
    "mkAfter": (0, False),
    "mkDefault": (0, False),
    "mkForce": (0, False),
    "mkOverride": (1, False),
}
# name -> (index of the function argument, index of the list argument).
_MAP_FUNCTIONS = {
    "map": (0, 1),
    "concatMap": (0, 1),
    "mapAttrsToList": (0, 1),
    "forEach": (1, 0),
    "concatMapAttrs": (0, 1),
    "flip": (0, None),
}
# den.lib.policy combinators that wrap a policy: name -> index of the policy.
_POLICY_WRAPPERS = {"for": 1, "when": 1}

# Systems that den treats as group keys of `den.hosts` (lib.systems.flakeExposed).
FLAKE_SYSTEMS = frozenset(
    {
        "x86_64-linux",
        "aarch64-linux",
        "x86_64-darwin",
        "aarch64-darwin",
        "armv6l-linux",
        "armv7l-linux",
        "i686-linux",
        "powerpc64le-linux",
        "riscv64-linux",
        "x86_64-freebsd",
    }
)


# Names Nix resolves lexically before any `with` scope: builtins in the base
# environment and the constants.
_LEXICAL_NAMES = frozenset(
    {"true", "false", "null", "builtins", "map", "toString", "import", "throw"}
    | {"abort", "baseNameOf", "dirOf", "isNull", "removeAttrs", "derivation"}
    | {"placeholder", "scopedImport", "fetchTarball", "fetchGit", "__findFile"}
)


def _known_with_name(scope: Ref, name: str) -> bool:
    """Whether ``with <scope>;`` plausibly provides ``name``.

    A ``with`` over a module argument hides nothing we could check, so only
    names the model cares about are resolved through it: effect
    constructors, list functions, and aspects (``with den.aspects; [ base ]``,
    where every name not bound lexically is an aspect).
    """
    if scope.path == POLICY_LIB:
        return name in _POLICY_NAMES
    if _aspect_scope(scope.path):
        return name not in _LEXICAL_NAMES
    if scope.path in (("lib",), ("builtins",), ("lib", "lists"), ("lib", "attrsets")):
        return (
            name in _LIST_FUNCTIONS
            or name in _MAP_FUNCTIONS
            or name
            in (
                "optionalAttrs",
                "mkDefault",
                "mkForce",
            )
        )
    if scope.path == ("den", "lib"):
        return name == "policy"
    return False


def _aspect_scope(path: tuple) -> bool:
    """``den.aspects``, ``den.ful.<ns>`` and the batteries: sets of aspects."""
    if path[:1] == ("config",):
        path = path[1:]
    return path in (
        ("den", "aspects"),
        ("den", "batteries"),
        ("den", "provides"),
        ("den", "_"),
    ) or (len(path) == 3 and path[:2] == ("den", "ful"))


def _lib_name(value: Any) -> str | None:
    """The function name if ``value`` is a nixpkgs lib or builtins function."""
    if isinstance(value, Ref) and len(value.path) >= 2:
        if value.path[0] in ("lib", "builtins"):
            return value.path[-1]
    return None


def policy_constructor(value: Any) -> str | None:
    """``resolve.to`` for ``den.lib.policy.resolve.to``; None otherwise."""
    if isinstance(value, Ref) and value.starts_with(*POLICY_LIB):
        return ".".join(value.path[len(POLICY_LIB) :]) or None
    return None


# The den sections a file the extractor gave up on may define: all of them.
_ALL_SECTIONS = frozenset(
    {"den", "schema", "aspects", "default", "batteries", "ctx", "policies"}
    | {"classes", "hosts", "homes", "ful", "reservedKeys"}
)

# How deep den values may nest (a set in a set, a module in an imports list)
# before the walk stops. Real modules nest a few levels; the bound keeps the
# stack a walk needs far below Python's recursion limit, whatever the input.
MAX_WALK_DEPTH = 64


@dataclass
class _Context:
    path: str
    tree: SyntaxTree
    index: LineIndex
    evaluator: Evaluator
    policies: dict[int, Policy] = field(default_factory=dict)
    named_policies: list[Policy] = field(default_factory=list)
    kind_sites: list[KindSite] = field(default_factory=list)
    kind_fields: list[KindField] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    classes: list[ClassDecl] = field(default_factory=list)
    hosts: list[Host] = field(default_factory=list)
    homes: list[Home] = field(default_factory=list)
    aspects: list[Aspect] = field(default_factory=list)
    aspect_keys: list[AspectKey] = field(default_factory=list)
    quirks: list[Named] = field(default_factory=list)
    reserved_keys: list[Named] = field(default_factory=list)
    external_imports: list[Named] = field(default_factory=list)
    api_uses: list[ApiUse] = field(default_factory=list)
    uses: set[str] = field(default_factory=set)
    open_sections: set[str] = field(default_factory=set)
    visiting: set[int] = field(default_factory=set)
    # Depth of walks into aspect values that only the aspect-key facts need
    # (custom class content, say); `Aspect` facts are not made inside them.
    key_walk: int = 0
    # Nesting of value walks (sets in sets, modules in imports), bounded by
    # MAX_WALK_DEPTH; and whether the bound was reached in this file.
    walk_depth: int = 0
    too_deep: bool = False

    def span(self, node: Node):
        return self.index.span(self.path, node.start_byte, node.end_byte)

    def empty_span(self, offset: int):
        return self.index.span(self.path, offset, offset)

    def text(self, node: Node) -> str:
        return self.evaluator.text(node)


# The anchors' identifiers as whole words. An identifier cannot follow a
# letter or `_` (they would belong to it), nor be followed by a character
# that may continue an identifier, so a file without a match has no anchor:
# `stdenv` and `hidden` in a package collection need no query.
_ANCHOR_WORD = re.compile(rb"(?<![A-Za-z_])(?:den|config)(?![A-Za-z0-9_'-])")


# Words looked at one by one before the query runs instead.
_ANCHOR_CANDIDATES = 64


def has_den_anchor(tree: SyntaxTree) -> bool:
    """Cheap test run before extraction: does the file mention den at all?

    The first words that could be anchors are looked at where they stand,
    as the query in ``den-anchors.scm`` would match them: the query walks the
    whole tree and collects every anchor, where one is enough. A file with
    many such words and none of them an anchor gets the query.
    """
    if b"den" not in tree.source:
        return False
    root = tree.root
    for number, match in enumerate(_ANCHOR_WORD.finditer(tree.source)):
        if number == _ANCHOR_CANDIDATES:
            break
        if _is_anchor(root, match.start(), match.end(), match.group()):
            return True
    else:
        return False
    captures = bounded_cursor("den-anchors").captures(tree.root)
    return bool(captures)


def _is_anchor(root: Node, start: int, end: int, word: bytes) -> bool:
    """Whether the identifier at ``start``..``end`` is a den-anchors capture."""
    node = root.descendant_for_byte_range(start, end)
    if (
        node is None
        or node.type != "identifier"
        or node.start_byte != start
        or node.end_byte != end
    ):
        return False
    parent = node.parent
    if parent is None:
        return False
    if parent.type == "variable_expression":
        return word == b"den" and parent.child_by_field_name("name") == node
    if parent.type != "attrpath" or parent.named_child(0) != node:
        return False
    attrs = parent.children_by_field_name("attr")
    binding = parent.parent
    return (
        bool(attrs)
        and attrs[0] == node
        and binding is not None
        and binding.type == "binding"
        and binding.child_by_field_name("attrpath") == parent
    )


def extract(path: str, tree: SyntaxTree, index: LineIndex) -> FileFacts:
    """All den facts of one file. Never raises on odd input."""
    counts = words(tree.source)
    top = next((n for n in tree.root.named_children if n.type != "comment"), None)
    # A flake-parts module that only imports other flakes' modules names no
    # den option, yet those modules may add aspects, classes and policies.
    if top is None or not (
        has_den_anchor(tree)
        or _may_define_namespace(tree.source, top)
        or b"flakeModule" in tree.source
    ):
        return FileFacts(path, words=counts)
    ctx = _Context(path, tree, index, Evaluator(tree.source, _known_with_name))
    try:
        _walk_module(ctx, top)
    except RecursionError:
        log.warning("%s: expression nested too deeply; facts are incomplete", path)
    except WorkLimit:
        # Definitions that multiply each other's work. Half-read facts could
        # make rules report what the rest of the file fixes, so none are
        # kept, and the sections the file may define count as unknown.
        log.warning(
            "%s: too complex to read (more than %d steps); its den facts are left out",
            path,
            ctx.evaluator.max_steps,
        )
        return FileFacts(path, open_sections=_ALL_SECTIONS, words=counts)
    found = scan(path, tree, index)
    _generation_signs(ctx, found)
    return FileFacts(
        path=path,
        policies=tuple(ctx.named_policies) + tuple(ctx.policies.values()),
        kind_sites=tuple(ctx.kind_sites),
        kind_fields=tuple(ctx.kind_fields),
        includes=tuple(ctx.includes),
        classes=tuple(ctx.classes),
        hosts=tuple(ctx.hosts),
        homes=tuple(ctx.homes),
        aspects=tuple(ctx.aspects),
        uses=frozenset(ctx.uses),
        open_sections=frozenset(ctx.open_sections),
        aspect_keys=tuple(ctx.aspect_keys),
        references=tuple(found.references),
        quirks=tuple(ctx.quirks),
        reserved_keys=tuple(ctx.reserved_keys),
        namespaces=tuple(found.namespaces),
        forwards=tuple(found.forwards),
        api_uses=tuple(ctx.api_uses) + tuple(found.api_uses),
        declared_api=declared_api(tree.source),
        bound_names=bound_names(tree.source),
        external_imports=tuple(ctx.external_imports),
        words=counts,
    )


def _generation_signs(ctx: _Context, found) -> None:
    """Record in ``uses`` which den generation's API the file writes."""
    for use in list(ctx.api_uses) + list(found.api_uses):
        if use.api.startswith("den.ctx"):
            ctx.uses.add("ctx")
        elif use.api in ("den.lib.parametric", "den.lib.take"):
            ctx.uses.add("parametric")
    for ref in found.references:
        if ref.root != "den" or not ref.path:
            continue
        if ref.path[0] in ("policies", "classes", "quirks", "batteries"):
            ctx.uses.add(ref.path[0])
        elif ref.path[:2] == ("lib", "policy"):
            ctx.uses.add("lib.policy")
    if ctx.named_policies:
        ctx.uses.add("policies")
    if ctx.classes:
        ctx.uses.add("classes")
    if ctx.quirks:
        ctx.uses.add("quirks")


def _module_body(top: Node) -> Node | None:
    """The attribute set a module returns, through its function and ``let``."""
    node: Node | None = top
    for _ in range(4):
        if node is None:
            return None
        node = _strip_parens(node)
        if node.type == "function_expression":
            node = node.child_by_field_name("body")
        elif node.type == "let_expression":
            node = node.child_by_field_name("body")
        else:
            break
    return node


def _may_define_namespace(source: bytes, top: Node) -> bool:
    """Whether a file without den anchors defines top-level namespace aspects.

    A namespace module (``eg.vm = { ... };``) need not mention den at all.
    Only its top-level binding names are looked at, so plain NixOS modules
    and package files cost no walk.
    """
    body = _module_body(top)
    if body is None or body.type not in ("attrset_expression", "rec_attrset_expression"):
        return False
    for binding_set in body.named_children:
        for binding in binding_set.named_children:
            if binding.type != "binding":
                continue
            attrpath = binding.child_by_field_name("attrpath")
            attrs = attrpath.children_by_field_name("attr") if attrpath else []
            if len(attrs) >= 2 and attrs[0].type == "identifier":
                name = source[attrs[0].start_byte : attrs[0].end_byte].decode(
                    "utf-8", "replace"
                )
                if _namespace_candidate(name):
                    return True
    return False


# Top-level module keys that belong to flake-parts or the module system, not
# to a namespace of aspects.
_MODULE_KEYS = frozenset(
    {
        "den",
        "config",
        "options",
        "imports",
        "_module",
        "_file",
        "key",
        "disabledModules",
        "freeformType",
        "meta",
        "flake",
        "perSystem",
        "systems",
        "flake-file",
        "partitions",
        "partitionedAttrs",
        "transposition",
        "debug",
        "allSystems",
        "text",
        "files",
        "nixpkgs",
    }
)

NAMESPACE_SECTION = "<namespace>"


def _namespace_candidate(name: str) -> bool:
    return name not in _MODULE_KEYS and not name.startswith("_")


# -- module structure ---------------------------------------------------------


def _module_env(ctx: _Context, function: Node | None) -> Env:
    """Module arguments evaluate to references named after themselves."""
    names: dict[str, Thunk] = {}
    if function is not None:
        formals = function.child_by_field_name("formals")
        if formals is not None:
            for formal in formals.children_by_field_name("formal"):
                name = formal.child_by_field_name("name")
                if name is not None:
                    text = ctx.text(name)
                    names[text] = Thunk.of(Ref((text,)))
        universal = function.child_by_field_name("universal")
        if universal is not None:
            names[ctx.text(universal)] = Thunk.of(Ref(("args",)))
    return Env(names)


def _walk_module(ctx: _Context, top: Node) -> None:
    # `( { den, ... }: { ... } )` is the same module as without the parentheses.
    top = _strip_parens(top)
    if top.type == "function_expression":
        env = _module_env(ctx, top)
        body = top.child_by_field_name("body")
        if body is not None:
            _walk_value(ctx, body, env, (), False)
    else:
        _walk_value(ctx, top, Env({}), (), False)


def _normal_path(path: tuple) -> tuple | None:
    """Strip a leading ``config``; None when the path cannot lead into den."""
    if path[:1] == ("config",):
        path = path[1:]
    if not path:
        return ()
    if path[0] != "den":
        return None
    return path


@dataclass(frozen=True)
class _Leave:
    """Marks the end of a walk through a variable's definition."""

    target: int


def _walk_value(ctx: _Context, node: Node, env: Env, path: tuple, maybe: bool) -> None:
    """Walk a module value at ``path``, looking through wrappers.

    Wrappers (parentheses, ``let``, ``with``, ``if``, ``lib.mk*``, ...) are
    looked through with a list of pending values rather than by recursion, so
    a chain of them as long as the file allows costs no stack. Nested sets
    do recurse, through ``_walk_set``; past ``MAX_WALK_DEPTH`` of them the
    walk stops, the section is marked as not fully read (rules about it stay
    quiet), and the file's log says so.
    """
    if ctx.walk_depth >= MAX_WALK_DEPTH:
        if not ctx.too_deep:
            ctx.too_deep = True
            log.info(
                "%s: den values nested more than %d deep; deeper ones are not read",
                ctx.path,
                MAX_WALK_DEPTH,
            )
        normal = _normal_path(path)
        if normal:
            _open(ctx, normal)
        return
    ctx.walk_depth += 1
    try:
        _walk_pending(ctx, [(node, env, path, maybe)])
    finally:
        ctx.walk_depth -= 1


def _walk_pending(ctx: _Context, pending: list) -> None:
    while pending:
        ctx.evaluator.tick()
        item = pending.pop()
        if isinstance(item, _Leave):
            ctx.visiting.discard(item.target)
            continue
        node, env, path, maybe = item
        kind = node.type
        if kind == "parenthesized_expression":
            inner = node.child_by_field_name("expression")
            if inner is not None:
                pending.append((inner, env, path, maybe))
            continue
        if kind in ("attrset_expression", "rec_attrset_expression"):
            if kind == "rec_attrset_expression":
                env = Env(ctx.evaluator.eval(node, env).values, env)
            _walk_set(ctx, node, env, path, maybe)
            continue
        if kind == "let_expression":
            body = node.child_by_field_name("body")
            if body is not None:
                pending.append((body, ctx.evaluator.let_env(node, env), path, maybe))
            continue
        if kind == "with_expression":
            body = node.child_by_field_name("body")
            scope = Thunk(node.child_by_field_name("environment"), env)
            if body is not None:
                pending.append((body, Env({}, env, scope), path, maybe))
            continue
        if kind == "if_expression":
            # Pushed in reverse, so the consequence is walked first.
            for branch in ("alternative", "consequence"):
                child = node.child_by_field_name(branch)
                if child is not None:
                    pending.append((child, env, path, True))
            continue
        if kind == "list_expression" and path == ():
            continue
        if kind == "apply_expression":
            head, args = ctx.evaluator.flatten_apply(node)
            name = _lib_name(ctx.evaluator.eval(head, env))
            if name == "mkMerge" and args:
                items = list(_elements(ctx, args[0], env, maybe))
                for item, item_env, item_maybe in reversed(items):
                    pending.append((item, item_env, path, item_maybe))
                continue
            if name in ("mkIf", "optionalAttrs") and len(args) == 2:
                pending.append((args[1], env, path, True))
                continue
            if (
                name in ("mkDefault", "mkForce", "mkBefore", "mkAfter")
                and len(args) == 1
            ):
                pending.append((args[0], env, path, maybe))
                continue
            if name == "mkOverride" and len(args) == 2:
                pending.append((args[1], env, path, maybe))
                continue
        if kind == "function_expression" and _in_aspect_tree(path):
            # A parametric aspect: its body is the aspect, parameters unknown.
            body = node.child_by_field_name("body")
            if body is not None:
                lam_env = ctx.evaluator.lambda_env(Lambda(node, env), UNKNOWN)
                pending.append((body, lam_env, path, maybe))
            continue
        if kind == "variable_expression" and path != ():
            target = _same_file_definition(ctx, node, env)
            if target is not None and id(target[0]) not in ctx.visiting:
                # The variable's definition is walked in its place, once:
                # it stays in `visiting` until its walk is done.
                ctx.visiting.add(id(target[0]))
                pending.append(_Leave(id(target[0])))
                pending.append((target[0], target[1], path, maybe))
                continue
        _define(ctx, path, node, env, maybe, None)


def _in_aspect_tree(path: tuple) -> bool:
    normal = _normal_path(path)
    return bool(normal) and _aspect_tree(normal) is not None


def _same_file_definition(
    ctx: _Context, node: Node, env: Env
) -> tuple[Node, Env] | None:
    """The expression a variable is bound to in this file, if it is one."""
    name = node.child_by_field_name("name")
    if name is None:
        return None
    found = env.lookup(ctx.text(name), lambda scope, n: UNKNOWN)
    if isinstance(found, Thunk) and found.node is not None and found.env is not None:
        return found.node, found.env
    return None


@dataclass(frozen=True)
class _Binding:
    """The syntax of the binding that wrote a definition, for insertions."""

    node: Node
    attrs: tuple[Node, ...]
    first_index: int  # index in the full path of the binding's first attr


def _walk_set(ctx: _Context, node: Node, env: Env, path: tuple, maybe: bool) -> None:
    for binding_set in node.named_children:
        if binding_set.type != "binding_set":
            continue
        for binding in binding_set.named_children:
            if binding.type != "binding":
                if binding.type in ("inherit", "inherit_from") and path:
                    _walk_inherit(ctx, binding, env, path, maybe)
                continue
            attrpath = binding.child_by_field_name("attrpath")
            expr = binding.child_by_field_name("expression")
            if attrpath is None or expr is None:
                continue
            attrs = tuple(attrpath.children_by_field_name("attr"))
            names = tuple(ctx.evaluator.attr_name(a, env) for a in attrs)
            full = path + names
            first_index = len(path)
            if path == () and names == ("imports",):
                _record_imports(ctx, expr, env)
                continue
            if path == () and isinstance(names[0], str) and len(names) >= 1:
                if _namespace_candidate(names[0]):
                    # `eg.vm = { ... };` defines aspect `vm` of namespace `eg`
                    # if the workspace declares one: read it like den.ful.eg.
                    full = ("den", NAMESPACE_SECTION) + names
                    first_index = 2
            unknown_at = next((i for i, n in enumerate(full) if n is UNKNOWN), None)
            if unknown_at is not None:
                known = _normal_path(full[:unknown_at])
                if known is None:
                    continue
                tree = _aspect_tree(known)
                if tree is not None and _records_keys(tree, known):
                    # A computed name inside an aspect tree: the set at the
                    # known prefix has children the model cannot list.
                    index = unknown_at - first_index - 1
                    key = attrs[index] if 0 <= index < len(attrs) else attrs[0]
                    ctx.aspect_keys.append(
                        AspectKey(
                            tree[0], known[tree[1] :], ctx.span(key), "open", maybe
                        )
                    )
                    if len(known) < 3:
                        _open(ctx, known)
                    continue
                if len(known) < 4:
                    # A computed name where a kind, policy or class name goes:
                    # that section holds names the model cannot list.
                    _open(ctx, known)
                    continue
                if known[1] == "schema":
                    _define_kind(ctx, known[:3], expr, env, maybe, None)
                    continue
            normal = _normal_path(full)
            if normal is None:
                continue
            binding_info = _Binding(binding, attrs, first_index)
            _descend(ctx, full, expr, env, maybe, binding_info)


# Inputs whose flake modules are known not to define den aspects, classes,
# policies or namespaces. A top-level import of any other input's module may
# add names the workspace cannot see.
SAFE_INPUTS = frozenset(
    {
        "den",
        "flake-parts",
        "flake-file",
        "import-tree",
        "home-manager",
        "nix-darwin",
        "treefmt-nix",
        "git-hooks",
        "git-hooks-nix",
        "pre-commit-hooks",
        "pre-commit-hooks-nix",
        "devshell",
        "make-shell",
        "nix-unit",
        "files",
        "pkgs-by-name-for-flake-parts",
        "flake-root",
        "terranix",
        "agenix-rekey",
        "agenix-rekey-to-sops",
        "disko",
        "sops-nix",
        "nixos-hardware",
        "nix-index-database",
        "process-compose-flake",
        "services-flake",
        "hercules-ci-effects",
        "devenv",
        "nixvim",
        "nvf",
        "nixpkgs",
    }
)


def _record_imports(ctx: _Context, node: Node, env: Env) -> None:
    """Top-level ``imports``: read modules written in place, note outside ones."""
    for element, element_env, maybe in _elements(ctx, node, env, False):
        element = _strip_parens(element)
        if _walk_module_in_place(ctx, element, element_env, maybe):
            continue
        if element.type == "path_expression":
            if not ctx.text(element).startswith("./"):
                ctx.external_imports.append(
                    Named(ctx.text(element), ctx.span(element))
                )
            continue
        value = ctx.evaluator.eval(element, element_env)
        if isinstance(value, Partial):
            head = value.head.path
            if head[-2:] == ("den", "namespace"):
                continue  # a namespace declaration, read by the scan
            if head in (("builtins", "import"),) or head[:2] == ("inputs", "import-tree"):
                arg = value.args[0].node if value.args else None
                if arg is not None and ctx.text(arg).startswith("./"):
                    continue
            value = value.head
        if isinstance(value, (AttrsValue, Lambda)):
            continue  # a module written in place
        if isinstance(value, Ref):
            root = value.path[0]
            if root in ("self", "config"):
                continue
            if root == "inputs" and len(value.path) > 1 and value.path[1] in SAFE_INPUTS:
                continue
        ctx.external_imports.append(Named(ctx.text(element), ctx.span(element)))


def _walk_module_in_place(ctx: _Context, node: Node, env: Env, maybe: bool) -> bool:
    """Walk a module listed in ``imports`` that this file writes itself.

    ``imports = [ { den.aspects.a = ...; } ]``, or a ``let``-bound module
    listed by name, defines den names exactly as the importing module does.
    Returns whether ``node`` was such a module.
    """
    if node.type == "variable_expression":
        target = _same_file_definition(ctx, node, env)
        if target is None or id(target[0]) in ctx.visiting:
            return False
        node, env = _strip_parens(target[0]), target[1]
    if node.type == "function_expression":
        body = node.child_by_field_name("body")
        if body is None:
            return True
        # The module's own arguments shadow the importing module's names.
        env = Env(_module_env(ctx, node).names, parent=env)
        node = body
    if node.type not in ("attrset_expression", "rec_attrset_expression", "let_expression"):
        return False
    ctx.visiting.add(id(node))
    try:
        _walk_value(ctx, node, env, (), maybe)
    finally:
        ctx.visiting.discard(id(node))
    return True


def _walk_inherit(
    ctx: _Context, node: Node, env: Env, path: tuple, maybe: bool
) -> None:
    attrs = node.child_by_field_name("attrs")
    if attrs is None:
        return
    for attr in attrs.children_by_field_name("attr"):
        name = ctx.evaluator.attr_name(attr, env)
        normal = _normal_path(path + (name,)) if isinstance(name, str) else None
        if normal is None:
            continue
        tree = _aspect_tree(normal)
        if tree is not None and len(normal) > tree[1]:
            ctx.aspect_keys.append(
                AspectKey(tree[0], normal[tree[1] :], ctx.span(attr), "opaque", maybe)
            )
        _define(ctx, normal, attr, env, maybe, None)


def _descend(
    ctx: _Context, full: tuple, expr: Node, env: Env, maybe: bool, binding: _Binding
) -> None:
    normal = _normal_path(full)
    if normal is None:
        return
    if (
        len(normal) >= 3
        and normal[:2] == ("den", "schema")
        and isinstance(normal[2], str)
    ):
        _record_kind_site(ctx, normal[2], full, binding, expr, env)
    _record_aspect_keys(ctx, normal, full, expr, env, maybe, binding)
    _record_api_section(ctx, normal, full, binding)
    if _is_leaf_path(normal):
        _define(ctx, normal, expr, env, maybe, binding)
        return
    _walk_value(ctx, expr, env, full, maybe)


def _is_leaf_path(path: tuple) -> bool:
    """Paths whose value is read as a whole rather than walked further."""
    if len(path) < 2:
        return False
    section = path[1]
    if section == "schema":
        return len(path) >= 4
    if section == "policies":
        return len(path) >= 3
    if section == "classes":
        return len(path) >= 3
    if section == "hosts":
        if len(path) >= 3 and path[2] in FLAKE_SYSTEMS:
            return len(path) >= 4
        return len(path) >= 3
    if section == "homes":
        if len(path) >= 3 and path[2] in FLAKE_SYSTEMS:
            return len(path) >= 4
        return len(path) >= 3
    if section in ("aspects", "batteries", "provides", "_", "ctx"):
        return len(path) >= 4
    if section in ("ful", NAMESPACE_SECTION):
        return len(path) >= 5
    if section in ("default", "quirks"):
        return len(path) >= 3
    if section == "reservedKeys":
        return True
    return False


def _aspect_tree(path: tuple) -> tuple[tuple[str, ...], int] | None:
    """Which aspect tree a den path is in, and how long the tree's root path is."""
    if len(path) < 2 or path[0] != "den":
        return None
    section = path[1]
    if section == "aspects":
        return ("aspects",), 2
    if section == "default":
        return ("default",), 2
    if section in ("batteries", "provides", "_"):
        return ("batteries",), 2
    if section == "ctx":
        return ("ctx",), 2
    if section in ("ful", NAMESPACE_SECTION) and len(path) >= 3:
        if isinstance(path[2], str):
            return ("ful" if section == "ful" else "ns", path[2]), 3
    return None


def _records_keys(tree: tuple[tuple[str, ...], int], path: tuple) -> bool:
    """Whether keys at ``path`` are aspect keys (not below class content)."""
    name, root_len = tree
    rel = path[root_len:]
    if len(path) < root_len or len(rel) >= MAX_ASPECT_DEPTH:
        return False
    return not any(_stops_aspect(k) for k in rel[_first_key(name) :])


def _tree_prefix(tree: tuple[str, ...]) -> tuple[str, ...]:
    """The den path of a tree's root, for walking values below it."""
    if tree[0] == "ful":
        return ("den", "ful", tree[1])
    if tree[0] == "ns":
        return ("den", NAMESPACE_SECTION, tree[1])
    return ("den", tree[0])


def _owner(tree: tuple[str, ...], rel: tuple) -> tuple:
    """The owner of an includes list written at ``rel`` in ``tree``."""
    if tree == ("aspects",):
        return ("aspect", *rel)
    if tree == ("default",):
        return ("default", *rel)
    if tree[0] in ("ful", "ns"):
        return ("namespace", tree[1], *rel)
    if tree == ("batteries",):
        return ("battery", *rel)
    return ("ctx", *rel)


# Deepest aspect-key path recorded below a tree root. Nested aspects sit a
# few levels deep; beyond this the value is class content.
MAX_ASPECT_DEPTH = 8

# Keys whose value is never an aspect: class content and the structural keys
# other than provides. Aspect keys below them are not recorded.
_CONTENT_KEYS = frozenset(
    {"nixos", "darwin", "systemManager", "homeManager", "hjem", "maid", "user"}
    | {"os", "wsl", "packages", "apps", "checks", "devShells", "legacyPackages"}
    | {"flake", "flake-parts"}
    | {"name", "description", "meta", "includes", "excludes", "policies", "into"}
    | {"classes", "_module"}
)


def _stops_aspect(key: Any) -> bool:
    return not isinstance(key, str) or key in _CONTENT_KEYS or key.startswith("__")


def _first_key(tree: tuple[str, ...]) -> int:
    """Index of the first key in a tree path (den.default is itself an aspect)."""
    return 0 if tree == ("default",) else 1


def _record_aspect_keys(
    ctx: _Context,
    normal: tuple,
    full: tuple,
    expr: Node,
    env: Env,
    maybe: bool,
    binding: _Binding,
) -> None:
    """An AspectKey for every attribute of the binding inside an aspect tree."""
    tree = _aspect_tree(normal)
    if tree is None:
        return
    name, root_len = tree
    rel = normal[root_len:]
    offset = len(full) - len(normal)
    first_key = _first_key(name)
    for i, key in enumerate(rel):
        attr_index = offset + root_len + i - binding.first_index
        if attr_index < 0:
            continue  # written by an enclosing binding, recorded there
        if attr_index >= len(binding.attrs) or not isinstance(key, str):
            break
        shape = _shape(ctx, expr, env) if i == len(rel) - 1 else "attrs"
        ctx.aspect_keys.append(
            AspectKey(
                name, rel[: i + 1], ctx.span(binding.attrs[attr_index]), shape, maybe
            )
        )
        if (i >= first_key and _stops_aspect(key)) or i + 1 >= MAX_ASPECT_DEPTH:
            break


# den sections that some generation removed or deprecated: writing to them is
# a use of that API.
_API_SECTIONS = {
    "stages": "den.stages",
    "deliveredChild": "den.deliveredChild",
    "ctx": "den.ctx",
}


def _record_api_section(
    ctx: _Context, normal: tuple, full: tuple, binding: _Binding
) -> None:
    if len(normal) < 2 or normal[1] not in _API_SECTIONS:
        return
    offset = len(full) - len(normal)
    attr_index = offset + 1 - binding.first_index
    if not 0 <= attr_index < len(binding.attrs):
        return  # the section was named by an enclosing binding
    detail = normal[2] if len(normal) > 2 and isinstance(normal[2], str) else ""
    ctx.api_uses.append(
        ApiUse(_API_SECTIONS[normal[1]], ctx.span(binding.attrs[attr_index]), detail)
    )
    if normal[1] == "ctx" and len(normal) > 3 and normal[3] == "into":
        into_index = offset + 3 - binding.first_index
        if 0 <= into_index < len(binding.attrs):
            ctx.api_uses.append(
                ApiUse("den.ctx.into", ctx.span(binding.attrs[into_index]), detail)
            )


# Conditionals and functions looked into to tell an aspect's shape; deeper
# ones make it opaque.
_MAX_SHAPE_DEPTH = 32


def _shape(ctx: _Context, node: Node, env: Env, depth: int = 0) -> str:
    """What an aspect value is as written: attrs, function, data or opaque."""
    if depth > _MAX_SHAPE_DEPTH:
        return "opaque"
    seen: set[int] = set()
    for _ in range(16):
        ctx.evaluator.tick()
        node = _strip_parens(node)
        kind = node.type
        if kind in ("attrset_expression", "rec_attrset_expression"):
            return "attrs"
        if kind == "function_expression":
            # A parametric aspect or a class module: what matters is whether
            # its body could be read (`{ host, ... }: { nixos = ...; }`).
            body = node.child_by_field_name("body")
            while body is not None and _strip_parens(body).type == "function_expression":
                body = _strip_parens(body).child_by_field_name("body")
            if body is None:
                return "opaque"
            inner = _shape(
                ctx,
                body,
                ctx.evaluator.lambda_env(Lambda(node, env), UNKNOWN),
                depth + 1,
            )
            return "function" if inner == "attrs" else "opaque"
        if kind in _DATA_NODES:
            return "data"
        if kind in ("let_expression", "with_expression", "assert_expression"):
            body = node.child_by_field_name("body")
            if body is None:
                return "opaque"
            node = body
            continue
        if kind == "if_expression":
            branches = [
                node.child_by_field_name(b) for b in ("consequence", "alternative")
            ]
            shapes = {_shape(ctx, b, env, depth + 1) for b in branches if b is not None}
            return "attrs" if "attrs" in shapes else "opaque"
        if kind == "apply_expression":
            head, args = ctx.evaluator.flatten_apply(node)
            name = _lib_name(ctx.evaluator.eval(head, env))
            if name == "mkMerge":
                return "attrs"
            if name in ("mkIf", "optionalAttrs", "mkOverride") and len(args) == 2:
                node = args[1]
                continue
            if name in ("mkDefault", "mkForce", "mkBefore", "mkAfter") and args:
                node = args[0]
                continue
            return "opaque"
        if kind == "variable_expression":
            if ctx.text(node) in ("true", "false", "null"):
                return "data"
            target = _same_file_definition(ctx, node, env)
            if target is None or id(target[0]) in seen:
                return "opaque"
            seen.add(id(target[0]))
            node, env = target
            continue
        return "opaque"
    return "opaque"


_DATA_NODES = frozenset(
    {
        "string_expression",
        "indented_string_expression",
        "integer_expression",
        "float_expression",
        "path_expression",
        "hpath_expression",
        "list_expression",
        "uri_expression",
    }
)


def _open(ctx: _Context, path: tuple) -> None:
    """Record that a den section is (partly) computed: ``den.schema = f x;``."""
    section = path[1] if len(path) >= 2 else "den"
    ctx.open_sections.add(section)


def _define(
    ctx: _Context,
    path: tuple,
    node: Node,
    env: Env,
    maybe: bool,
    binding: _Binding | None,
) -> None:
    """Record the definition of ``path`` with value ``node``."""
    path = _normal_path(path) or ()
    if path == ("den", "reservedKeys"):
        _define_reserved_keys(ctx, node, env)
        return
    tree = _aspect_tree(path)
    if tree is not None and len(path) >= tree[1]:
        _define_in_tree(ctx, path, tree, node, env, maybe, binding)
        return
    if len(path) < 3 and path[:1] == ("den",):
        _open(ctx, path)  # a whole section written as an expression
        return
    if len(path) < 2 or not all(isinstance(p, str) for p in path[:3]):
        return
    section = path[1]
    if section == "schema" and len(path) >= 3:
        _define_kind(ctx, path, node, env, maybe, binding)
    elif section == "policies" and len(path) == 3:
        _define_policy(ctx, path[2], node, env, binding)
    elif section == "classes" and len(path) >= 3:
        key = (
            binding.attrs[2 - binding.first_index]
            if binding and binding.first_index <= 2
            else node
        )
        ctx.classes.append(ClassDecl(path[2], ctx.span(key)))
    elif section == "quirks" and len(path) >= 3:
        key = (
            binding.attrs[2 - binding.first_index]
            if binding and binding.first_index <= 2
            else node
        )
        ctx.quirks.append(Named(path[2], ctx.span(key)))
    elif section == "hosts":
        _define_host(ctx, path, node, env, binding)
    elif section == "homes":
        _define_home(ctx, path, node, binding)


def _define_reserved_keys(ctx: _Context, node: Node, env: Env) -> None:
    """``den.reservedKeys = [ "settings" ];``: extra structural aspect keys."""
    found = False
    for element, element_env, _ in _elements(ctx, node, env, False):
        value = ctx.evaluator.eval(element, element_env)
        if isinstance(value, str):
            ctx.reserved_keys.append(Named(value, ctx.span(element)))
            found = True
        else:
            ctx.open_sections.add("reservedKeys")
    if not found and _strip_parens(node).type != "list_expression":
        ctx.open_sections.add("reservedKeys")


def _define_in_tree(
    ctx: _Context,
    path: tuple,
    tree: tuple[tuple[str, ...], int],
    node: Node,
    env: Env,
    maybe: bool,
    binding: _Binding | None,
) -> None:
    """A definition inside an aspect tree: includes, policies, classes, nesting."""
    name, root_len = tree
    rel = path[root_len:]
    if not rel:
        # The whole tree as an expression (`eg = import ./eg;`): its aspects
        # are out of sight.
        ctx.aspect_keys.append(AspectKey(name, (), ctx.span(node), "opaque", maybe))
        return
    if not all(isinstance(p, str) for p in rel):
        return
    first_key = _first_key(name)
    stop = next(
        (i for i in range(first_key, len(rel)) if _stops_aspect(rel[i])), None
    )
    if stop is not None:
        key = rel[stop]
        if key in ("includes", "excludes") and stop == len(rel) - 1:
            _record_includes(ctx, _owner(name, rel[:stop]), key, node, env, maybe)
        elif key == "policies" and name in (("aspects",), ("batteries",)):
            prefix = ".".join(("den", name[0], *rel[:stop]))
            index = root_len + stop + 1
            _define_tree_policies(ctx, prefix, rel[stop + 1 :], node, env, binding, index)
        elif key == "classes" and len(rel) > stop:
            _define_aspect_classes(ctx, rel[stop + 1 :], node, env, binding)
    if name == ("aspects",) and ctx.key_walk == 0:
        _aspect_fact(ctx, rel, node, binding)
    if stop is not None or len(rel) >= MAX_ASPECT_DEPTH:
        return
    if _shape(ctx, node, env) not in ("attrs", "function"):
        return
    # den.aspects walks below a provides set or an aspect-looking value have
    # always produced `Aspect` facts; walks into other values (custom class
    # content, nested aspects spelled with custom class keys) only produce
    # aspect keys.
    value = _strip_parens(node)
    legacy = name == ("aspects",) and (
        rel[-1] in ("provides", "_") or _looks_like_aspect(ctx, value)
    )
    if not legacy:
        ctx.key_walk += 1
    try:
        _walk_value(ctx, value, env, _tree_prefix(name) + rel, maybe)
    finally:
        if not legacy:
            ctx.key_walk -= 1


def _define_aspect_classes(
    ctx: _Context, rest: tuple, node: Node, env: Env, binding: _Binding | None
) -> None:
    """``den.aspects.<a>.classes.<c> = { ... }`` registers class ``c``."""
    if rest:
        key = binding.attrs[-len(rest)] if binding and len(binding.attrs) >= len(rest) else node
        if isinstance(rest[0], str):
            ctx.classes.append(ClassDecl(rest[0], ctx.span(key)))
        return
    value = ctx.evaluator.eval(node, env)
    if isinstance(value, AttrsValue):
        for class_name, key_node in value.keys.items():
            ctx.classes.append(ClassDecl(class_name, ctx.span(key_node)))


# -- kinds ----------------------------------------------------------------------


def _record_kind_site(
    ctx: _Context, kind: str, full: tuple, binding: _Binding, expr: Node, env: Env
) -> None:
    """Remember where ``den.schema.<kind>`` is written, to add fields later."""
    offset = 1 if full[:1] == ("config",) else 0
    kind_index = 2 + offset  # index of the kind in `full`
    if binding.first_index > kind_index:
        return  # the binding is inside the kind's set; the set was recorded
    attrs_after_kind = len(binding.attrs) - (kind_index - binding.first_index) - 1
    key = binding.attrs[kind_index - binding.first_index]
    if attrs_after_kind == 0:
        value = _strip_parens(expr)
        insertion = (
            _set_insertion(ctx, value)
            if value.type
            in (
                "attrset_expression",
                "rec_attrset_expression",
            )
            else None
        )
    else:
        # Dotted style: `den.schema.guest.isEntity = true;` -> write a sibling
        # `den.schema.guest.isolated = true;` on the next line.
        first = binding.attrs[0]
        prefix = ctx.tree.source[first.start_byte : key.end_byte].decode(
            "utf-8", "replace"
        )
        offset, newline = _line_end(ctx, binding.node.end_byte)
        insertion = InsertionPoint(
            ctx.empty_span(offset),
            newline + _line_indent(ctx, binding.node),
            prefix + ".",
        )
    ctx.kind_sites.append(KindSite(kind, ctx.span(key), insertion))


def _define_kind(
    ctx: _Context,
    path: tuple,
    node: Node,
    env: Env,
    maybe: bool,
    binding: _Binding | None,
) -> None:
    kind = path[2]
    if len(path) == 3:
        # The whole kind written as something other than an attribute set (a
        # function module, `den.lib.strict`): it is module content.
        ctx.kind_fields.append(
            KindField(kind, OPAQUE, UNKNOWN, ctx.span(node), ctx.span(node), maybe)
        )
        return
    name = path[3]
    if name in ("includes", "excludes") and len(path) == 4:
        _record_includes(ctx, ("schema", kind), name, node, env, maybe)
        value: Literal = UNKNOWN
    elif len(path) == 4:
        value = _literal(ctx, ctx.evaluator.eval(node, env))
    else:
        value = UNKNOWN
    # The whole binding (`isolated = true;`) is the construct a user changes.
    field_span = ctx.span(binding.node) if binding is not None else ctx.span(node)
    ctx.kind_fields.append(
        KindField(kind, name, value, field_span, ctx.span(node), maybe)
    )
    if name == "isolated":
        ctx.uses.add("isolated")


# -- policies -------------------------------------------------------------------


def _define_policy(
    ctx: _Context,
    name: str,
    node: Node,
    env: Env,
    binding: _Binding | None,
    name_index: int = 2,
) -> None:
    value = _policy_function(ctx, ctx.evaluator.eval(node, env))
    if binding is not None and binding.first_index <= name_index:
        key = binding.attrs[name_index - binding.first_index]
    else:
        key = node
    binds = _record_binds(ctx, ctx.evaluator.eval(node, env))
    if not isinstance(value, Lambda):
        # A policy record or a computed value: registered, body unknown.
        ctx.named_policies.append(
            Policy(name, name, ctx.span(key), (), (), True, (), True, binds=binds)
        )
        return
    policy = _policy_from_lambda(ctx, value, name, name, ctx.span(key), True)
    if binds:
        policy = replace(policy, binds=binds)
    ctx.named_policies.append(policy)


def _record_binds(ctx: _Context, value: Any) -> tuple[str, ...]:
    """A policy record's ``binds``: context keys it says it provides."""
    if not isinstance(value, AttrsValue) or "binds" not in value.values:
        return ()
    names = ctx.evaluator.force(value.values["binds"])
    if not isinstance(names, ListValue):
        return ()
    found = (ctx.evaluator.force(t) for t in names.items)
    return tuple(n for n in found if isinstance(n, str))


def _policy_function(ctx: _Context, value: Any) -> Any:
    """The function of a policy value: a lambda, ``mkPolicy name fn`` or a record."""
    if isinstance(value, Partial) and policy_constructor(value.head) == "mkPolicy":
        return ctx.evaluator.force(value.args[-1]) if len(value.args) == 2 else UNKNOWN
    if isinstance(value, AttrsValue) and "fn" in value.values:
        # A policy record (`{ __isPolicy = true; fn = ...; }`); den reads `fn`.
        return ctx.evaluator.force(value.values["fn"])
    return value


def _policy_from_lambda(
    ctx: _Context, lam: Lambda, policy_id: str, name: str | None, span, registered: bool
) -> Policy:
    args, required, open_args = _formals(ctx, lam.node)
    body = lam.node.child_by_field_name("body")
    effects: list[Effect] = []
    if body is not None:
        env = ctx.evaluator.lambda_env(lam, UNKNOWN)
        effects = _effects(ctx, body, env, False)
    formals = lam.node.child_by_field_name("formals")
    return Policy(
        policy_id,
        name,
        span,
        args,
        required,
        open_args,
        tuple(effects),
        registered,
        _formal_spans(ctx, lam.node),
        formals_span=ctx.span(formals) if formals is not None else None,
        open_edit=_open_edit(ctx, formals) if formals is not None else None,
    )


def _open_edit(ctx: _Context, formals: Node) -> tuple[Span, str] | None:
    """Where and what to write to add ``...`` to a closed attribute set pattern."""
    children = formals.children
    if not children or children[-1].type != "}":
        return None
    named = [c for c in children[1:-1] if c.type != ","]
    if not named:
        return ctx.empty_span(children[0].end_byte), " ..."
    last = children[-2]
    if last.type == ",":
        return ctx.empty_span(last.end_byte), " ..."
    return ctx.empty_span(last.end_byte), ", ..."


def _formal_spans(ctx: _Context, node: Node) -> tuple[tuple[str, Span], ...]:
    formals = node.child_by_field_name("formals")
    if formals is None:
        return ()
    spans = []
    for formal in formals.children_by_field_name("formal"):
        name = formal.child_by_field_name("name")
        if name is not None:
            spans.append((ctx.text(name), ctx.span(name)))
    return tuple(spans)


def _formals(
    ctx: _Context, node: Node
) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    formals = node.child_by_field_name("formals")
    if formals is None:
        return (), (), True
    args: list[str] = []
    required: list[str] = []
    for formal in formals.children_by_field_name("formal"):
        name = formal.child_by_field_name("name")
        if name is None:
            continue
        args.append(ctx.text(name))
        if formal.child_by_field_name("default") is None:
            required.append(ctx.text(name))
    open_args = formals.child_by_field_name("ellipses") is not None
    return tuple(args), tuple(required), open_args


def _inline_policy(ctx: _Context, lam: Lambda, name: str | None = None) -> str | None:
    """Register a function written in an includes list as a policy.

    It counts as a policy only if its body yields effects; otherwise it is a
    parametric aspect, which this layer does not model.
    """
    key = id(lam.node)
    if key in ctx.policies:
        return ctx.policies[key].policy_id
    if key in ctx.visiting:
        return None
    ctx.visiting.add(key)
    try:
        policy_id = f"{ctx.path}:{lam.node.start_byte}"
        policy = _policy_from_lambda(
            ctx, lam, policy_id, name, ctx.span(lam.node), registered=False
        )
    finally:
        ctx.visiting.discard(key)
    if not policy.effects:
        return None
    ctx.policies[key] = policy
    return policy_id


# -- effects and list elements ------------------------------------------------


def _elements(
    ctx: _Context, node: Node, env: Env, maybe: bool, depth: int = 0
) -> Iterator[tuple[Node, Env, bool]]:
    """The leaves of a list-valued expression, looking through list plumbing.

    Yields each element expression with its environment and whether it is
    conditional. Effect constructor calls and anything unrecognised are
    leaves.
    """
    if depth > 60:
        return
    ctx.evaluator.tick()
    kind = node.type
    evaluator = ctx.evaluator
    if kind == "parenthesized_expression":
        inner = node.child_by_field_name("expression")
        if inner is not None:
            yield from _elements(ctx, inner, env, maybe, depth + 1)
        return
    if kind == "list_expression":
        for element in node.children_by_field_name("element"):
            yield from _elements(ctx, element, env, maybe, depth + 1)
        return
    if kind == "binary_expression":
        operator = node.child_by_field_name("operator")
        if operator is not None and ctx.text(operator) == "++":
            for side in ("left", "right"):
                child = node.child_by_field_name(side)
                if child is not None:
                    yield from _elements(ctx, child, env, maybe, depth + 1)
            return
    if kind == "if_expression":
        for branch in ("consequence", "alternative"):
            child = node.child_by_field_name(branch)
            if child is not None:
                yield from _elements(ctx, child, env, True, depth + 1)
        return
    if kind == "let_expression":
        body = node.child_by_field_name("body")
        if body is not None:
            yield from _elements(
                ctx, body, evaluator.let_env(node, env), maybe, depth + 1
            )
        return
    if kind == "with_expression":
        body = node.child_by_field_name("body")
        scope = Thunk(node.child_by_field_name("environment"), env)
        if body is not None:
            yield from _elements(ctx, body, Env({}, env, scope), maybe, depth + 1)
        return
    if kind == "assert_expression":
        body = node.child_by_field_name("body")
        if body is not None:
            yield from _elements(ctx, body, env, maybe, depth + 1)
        return
    if kind == "variable_expression":
        target = _same_file_definition(ctx, node, env)
        if target is not None and id(target[0]) not in ctx.visiting:
            ctx.visiting.add(id(target[0]))
            try:
                yield from _elements(ctx, target[0], target[1], maybe, depth + 1)
            finally:
                ctx.visiting.discard(id(target[0]))
            return
    if kind == "apply_expression":
        expanded = _expand_apply(ctx, node, env, maybe, depth)
        if expanded is not None:
            yield from expanded
            return
    yield node, env, maybe


def _expand_apply(
    ctx: _Context, node: Node, env: Env, maybe: bool, depth: int
) -> Iterator[tuple[Node, Env, bool]] | None:
    """Elements of a call to list plumbing or a user function; None for leaves."""
    evaluator = ctx.evaluator
    head, args = evaluator.flatten_apply(node)
    head_value = evaluator.eval(head, env)
    if isinstance(head_value, Partial):
        args = [a.node for a in head_value.args if a.node is not None] + args
        head_value = head_value.head
    constructor = policy_constructor(head_value)
    if constructor in _POLICY_WRAPPERS and len(args) > _POLICY_WRAPPERS[constructor]:
        return _elements(ctx, args[_POLICY_WRAPPERS[constructor]], env, True, depth + 1)
    name = _lib_name(head_value)
    if name in _LIST_FUNCTIONS:
        index, conditional = _LIST_FUNCTIONS[name]
        if len(args) > index:
            return _elements(ctx, args[index], env, maybe or conditional, depth + 1)
    if name in _MAP_FUNCTIONS:
        fn_index, _ = _MAP_FUNCTIONS[name]
        if len(args) > fn_index:
            return _function_body_elements(ctx, args[fn_index], env, maybe, depth)
    if isinstance(head_value, Lambda):
        return _lambda_elements(
            ctx, head_value, [Thunk(a, env) for a in args], maybe, depth
        )
    return None


def _function_body_elements(
    ctx: _Context, fn: Node, env: Env, maybe: bool, depth: int
) -> Iterator[tuple[Node, Env, bool]]:
    """Elements produced by a function passed to map & co, parameters unknown."""
    value = ctx.evaluator.eval(fn, env)
    if isinstance(value, Lambda):
        yield from _lambda_elements(ctx, value, [], maybe, depth)


def _lambda_elements(
    ctx: _Context, lam: Lambda, args: list[Thunk], maybe: bool, depth: int
) -> Iterator[tuple[Node, Env, bool]]:
    if id(lam.node) in ctx.visiting:
        return
    ctx.visiting.add(id(lam.node))
    try:
        evaluator = ctx.evaluator
        env = evaluator.lambda_env(lam, args[0] if args else UNKNOWN)
        body = lam.node.child_by_field_name("body")
        # Nested parameters (`a: b: ...`) consume further arguments.
        for arg in args[1:]:
            if body is None or body.type != "function_expression":
                break
            lam = Lambda(body, env)
            env = evaluator.lambda_env(lam, arg)
            body = body.child_by_field_name("body")
        while body is not None and body.type == "function_expression" and not args:
            env = evaluator.lambda_env(Lambda(body, env), UNKNOWN)
            body = body.child_by_field_name("body")
        if body is not None:
            yield from _elements(ctx, body, env, maybe, depth + 1)
    finally:
        ctx.visiting.discard(id(lam.node))


def _effects(ctx: _Context, body: Node, env: Env, maybe: bool) -> list[Effect]:
    effects: list[Effect] = []
    for node, node_env, node_maybe in _elements(ctx, body, env, maybe):
        effect = _effect(ctx, node, node_env, node_maybe)
        if effect is not None:
            effects.append(effect)
    return effects


def _effect(ctx: _Context, node: Node, env: Env, maybe: bool) -> Effect | None:
    if node.type != "apply_expression":
        return None
    evaluator = ctx.evaluator
    head, arg_nodes = evaluator.flatten_apply(node)
    head_value = evaluator.eval(head, env)
    args: list[Thunk] = [Thunk(a, env) for a in arg_nodes]
    if isinstance(head_value, Partial):
        args = list(head_value.args) + args
        head_value = head_value.head
    constructor = policy_constructor(head_value)
    if constructor not in EFFECT_CONSTRUCTORS:
        return None
    ctx.uses.add(constructor.split(".")[0])
    # The call's function (`route`, `den.lib.policy.resolve.to`) names the
    # effect; the whole call can span a dozen lines, too much to underline.
    span = ctx.span(head)
    if constructor.startswith("resolve"):
        return _resolve_effect(ctx, constructor, args, span, maybe)
    fields: tuple[Field, ...] = ()
    insertion = None
    if args and constructor in ("route", "deliver", "provide", "instantiate", "spawn"):
        spec = evaluator.force(args[0])
        if isinstance(spec, AttrsValue):
            fields = _fields(ctx, spec)
            if spec.node is not None:
                insertion = _set_insertion(ctx, spec.node)
            for f in fields:
                ctx.uses.add(f.name)
    return Effect(constructor, span, maybe, fields, insertion=insertion)


def _resolve_effect(
    ctx: _Context, constructor: str, args: list[Thunk], span, maybe: bool
) -> Effect:
    evaluator = ctx.evaluator
    rest = list(args)
    target: Literal = None
    target_span = None
    if ".to" in constructor:
        if not rest:
            return Effect(constructor, span, maybe, target_kind=UNKNOWN)
        kind_thunk = rest.pop(0)
        kind_value = evaluator.force(kind_thunk)
        target = kind_value if isinstance(kind_value, str) else UNKNOWN
        if kind_thunk.node is not None:
            target_span = ctx.span(kind_thunk.node)
    with_includes: tuple[PolicyRef, ...] = ()
    if constructor.endswith("withIncludes") and rest:
        includes = rest.pop(0)
        if includes.node is not None and includes.env is not None:
            with_includes = tuple(_policy_refs(ctx, includes.node, includes.env))
    keys: tuple[str, ...] = ()
    key_spans: tuple[tuple[str, Span], ...] = ()
    known = True
    if rest:
        bindings = evaluator.force(rest[0])
        if isinstance(bindings, AttrsValue):
            keys = tuple(bindings.values)
            key_spans = tuple(
                (name, ctx.span(node)) for name, node in bindings.keys.items()
            )
        else:
            known = False
    return Effect(
        constructor,
        span,
        maybe,
        target_kind=target,
        target_span=target_span,
        binding_keys=keys,
        with_includes=with_includes,
        binding_spans=key_spans,
        bindings_known=known,
    )


def _fields(ctx: _Context, spec: AttrsValue) -> tuple[Field, ...]:
    fields = []
    for name, thunk in spec.values.items():
        key = spec.keys.get(name)
        value_node = thunk.node if thunk.node is not None else key
        if key is None or value_node is None:
            continue
        value = _literal(ctx, ctx.evaluator.force(thunk))
        fields.append(Field(name, value, ctx.span(key), ctx.span(value_node)))
    return tuple(fields)


def _literal(ctx: _Context, value: Any, depth: int = 0) -> Literal:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, ListValue) and depth < 4:
        return tuple(
            _literal(ctx, ctx.evaluator.force(t), depth + 1) for t in value.items
        )
    return UNKNOWN


# -- includes -----------------------------------------------------------------------


def _policy_refs(ctx: _Context, node: Node, env: Env) -> Iterator[PolicyRef]:
    for element, element_env, _ in _elements(ctx, node, env, False):
        yield PolicyRef(_include_target(ctx, element, element_env), ctx.span(element))


def _include_target(ctx: _Context, node: Node, env: Env) -> tuple[str, ...]:
    bracket = _bracket_target(ctx, node, env)
    if bracket is not None:
        return bracket
    value = ctx.evaluator.eval(node, env)
    if isinstance(value, Partial):
        constructor = policy_constructor(value.head)
        if constructor == "mkPolicy" and len(value.args) == 2:
            name = ctx.evaluator.force(value.args[0])
            fn = ctx.evaluator.force(value.args[1])
            if isinstance(fn, Lambda):
                policy_id = _inline_policy(
                    ctx, fn, name if isinstance(name, str) else None
                )
                if policy_id is not None:
                    return ("inline", policy_id)
            return ("unknown",)
        if constructor is not None:
            return ("unknown",)
        # A parametric aspect applied in place, `(den.aspects.facter ./x)` or
        # a battery with arguments, `(den.batteries.unfree [ ... ])`: the
        # call's function names what is included.
        target = _ref_target(value.head.path)
        return target if target[0] in ("aspect", "battery", "namespace", "arg") else (
            "unknown",
        )
    if isinstance(value, Ref):
        return _ref_target(value.path)
    if isinstance(value, Lambda):
        policy_id = _inline_policy(ctx, value)
        if policy_id is not None:
            return ("inline", policy_id)
    return ("unknown",)


# Module arguments that are never a namespace of aspects.
_STANDARD_ARGS = frozenset(
    {"den", "config", "lib", "inputs", "self", "options", "pkgs", "withSystem"}
    | {"flake-parts-lib", "moduleWithSystem", "getSystem", "builtins", "args"}
    | {"__findFile", "modulesPath", "specialArgs", "self'", "inputs'", "system"}
)


def _ref_target(path: tuple[str, ...]) -> tuple[str, ...]:
    """What a reference in an includes list names, by its den path."""
    if path[:1] == ("config",):
        path = path[1:]
    if not path:
        return ("unknown",)
    if path[0] != "den":
        if path[0] in _STANDARD_ARGS or len(path) < 2:
            return ("unknown",)
        # `eg.vm`: an aspect of namespace `eg` if the workspace declares it.
        return ("arg", *path)
    section = path[1] if len(path) > 1 else ""
    if section == "policies" and len(path) == 3:
        return ("policy", path[2])
    if section in ("aspects", "batteries", "provides", "_") and len(path) >= 5:
        if path[-2] == "policies":
            root = "aspects" if section == "aspects" else "batteries"
            return ("policy", ".".join(("den", root, *path[2:])))
    if section == "aspects" and len(path) >= 3:
        return ("aspect",) + path[2:]
    if section in ("batteries", "provides", "_") and len(path) >= 3:
        return ("battery",) + path[2:]
    if section == "ful" and len(path) >= 4:
        return ("namespace",) + path[2:]
    if section == "ctx" and len(path) >= 3:
        return ("ctx",) + path[2:]
    return ("unknown",)


def _bracket_target(ctx: _Context, node: Node, env: Env) -> tuple[str, ...] | None:
    """``<den/hostname>`` or ``(<a/b> args)`` with den's ``__findFile`` in scope."""
    node = _strip_parens(node)
    if node.type == "apply_expression":
        node, _ = ctx.evaluator.flatten_apply(node)
        node = _strip_parens(node)
    if node.type != "spath_expression":
        return None
    # Without a lexical __findFile the brackets are a NIX_PATH lookup, not den.
    if env.lookup("__findFile", lambda scope, name: UNKNOWN) is UNKNOWN:
        return ("unknown",)
    inner = ctx.text(node).strip()[1:-1]
    segments = tuple(s for s in inner.replace("/", ".").split(".") if s)
    return ("bracket", *segments) if segments else ("unknown",)


def _record_includes(
    ctx: _Context, owner: tuple, relation: str, node: Node, env: Env, maybe: bool
) -> None:
    for ref in _policy_refs(ctx, node, env):
        ctx.includes.append(Include(owner, relation, ref))


# -- hosts, homes, aspects -----------------------------------------------------------


def _define_host(
    ctx: _Context, path: tuple, node: Node, env: Env, binding: _Binding | None
) -> None:
    if len(path) >= 4 and path[2] in FLAKE_SYSTEMS:
        system: Literal = path[2]
        name, depth = path[3], 3
    elif len(path) >= 3:
        system, name, depth = UNKNOWN, path[2], 2
    else:
        return
    if not isinstance(name, str):
        return
    key = node
    if binding is not None and binding.first_index <= depth:
        key = binding.attrs[depth - binding.first_index]
    value = ctx.evaluator.eval(node, env)
    rest = path[depth + 1 :]
    host = Host(name, system, ctx.span(key))
    if not rest and isinstance(value, AttrsValue):
        host = _host_from_set(ctx, host, value)
    elif rest:
        host = _host_from_path(ctx, host, rest, depth, value, node, binding)
    ctx.hosts.append(host)


def _attr_span(ctx: _Context, binding: _Binding | None, index: int, fallback: Node):
    """The span of the path element at ``index`` if the binding wrote it."""
    if binding is not None and 0 <= index - binding.first_index < len(binding.attrs):
        return ctx.span(binding.attrs[index - binding.first_index])
    return ctx.span(fallback)


def _host_from_set(ctx: _Context, host: Host, value: AttrsValue) -> Host:
    """A host written as one attribute set: ``den.hosts.x86_64-linux.igloo = { ... };``."""
    force = ctx.evaluator.force
    system = host.system
    if system is UNKNOWN and "system" in value.values:
        system = _literal(ctx, force(value.values["system"]))
    host_class = (
        _literal(ctx, force(value.values["class"])) if "class" in value.values else None
    )
    into_attr = (
        _literal(ctx, force(value.values["intoAttr"]))
        if "intoAttr" in value.values
        else None
    )
    if "deliveredChildren" in value.keys:
        _removed_host_attribute(ctx, value.keys["deliveredChildren"])
    users: tuple[str, ...] = ()
    user_spans: tuple = ()
    user_aspects: list[str] = []
    user_classes: list[tuple[str, Literal]] = []
    user_set = force(value.values.get("users", Thunk.of(None)))
    if isinstance(user_set, AttrsValue):
        users = tuple(user_set.values)
        user_spans = tuple((n, ctx.span(k)) for n, k in user_set.keys.items())
        for user, thunk in user_set.values.items():
            record = force(thunk)
            if not isinstance(record, AttrsValue):
                continue
            if "aspect" in record.values:
                user_aspects.append(user)
            if "classes" in record.values:
                user_classes.append(
                    (user, _literal(ctx, force(record.values["classes"])))
                )
    return replace(
        host,
        system=system,
        host_class=host_class,
        into_attr=into_attr,
        users=users,
        user_spans=user_spans,
        aspect_set="aspect" in value.values,
        user_aspects=tuple(user_aspects),
        user_classes=tuple(user_classes),
    )


def _host_from_path(
    ctx: _Context,
    host: Host,
    rest: tuple,
    depth: int,
    value: Any,
    node: Node,
    binding: _Binding | None,
) -> Host:
    """A host attribute written by a dotted path: ``den.hosts.<s>.igloo.users.tux = { };``."""
    field_name = rest[0]
    if field_name == "aspect":
        return replace(host, aspect_set=True)
    if field_name == "class" and len(rest) == 1:
        return replace(host, host_class=_literal(ctx, value))
    if field_name == "deliveredChildren":
        _removed_host_attribute_span(ctx, _attr_span(ctx, binding, depth + 1, node))
        return host
    if field_name != "users":
        return host
    if len(rest) == 1:
        if isinstance(value, AttrsValue):
            return replace(
                host,
                users=tuple(value.values),
                user_spans=tuple((n, ctx.span(k)) for n, k in value.keys.items()),
            )
        return host
    user = rest[1]
    if not isinstance(user, str):
        return host
    span = _attr_span(ctx, binding, depth + 2, node)
    host = replace(host, users=(user,), user_spans=((user, span),))
    if len(rest) == 2 and isinstance(value, AttrsValue):
        if "aspect" in value.values:
            host = replace(host, user_aspects=(user,))
        if "classes" in value.values:
            classes = _literal(ctx, ctx.evaluator.force(value.values["classes"]))
            host = replace(host, user_classes=((user, classes),))
    elif len(rest) >= 3 and rest[2] == "aspect":
        host = replace(host, user_aspects=(user,))
    elif len(rest) == 3 and rest[2] == "classes":
        host = replace(host, user_classes=((user, _literal(ctx, value)),))
    return host


def _removed_host_attribute(ctx: _Context, key: Node) -> None:
    _removed_host_attribute_span(ctx, ctx.span(key))


def _removed_host_attribute_span(ctx: _Context, span) -> None:
    ctx.api_uses.append(ApiUse("host.deliveredChildren", span))


def _define_home(
    ctx: _Context, path: tuple, node: Node, binding: _Binding | None
) -> None:
    if len(path) >= 4 and path[2] in FLAKE_SYSTEMS:
        system, name, depth = path[2], path[3], 3
    elif len(path) >= 3:
        system, name, depth = UNKNOWN, path[2], 2
    else:
        return
    key = node
    if binding is not None and binding.first_index <= depth:
        key = binding.attrs[depth - binding.first_index]
    if isinstance(name, str):
        ctx.homes.append(Home(name, system, ctx.span(key)))


def _aspect_fact(
    ctx: _Context, path: tuple, node: Node, binding: _Binding | None
) -> None:
    """The `Aspect` fact of a den.aspects definition: the aspect and its key."""
    # `den.aspects.igloo.homeManager.programs.git.enable = true;` defines key
    # `homeManager` of aspect `igloo`: the first structural or class key ends
    # the aspect's path. Without one, the last element is the key.
    cut = next(
        (i for i, p in enumerate(path) if i > 0 and p in _ASPECT_KEYS), len(path) - 1
    )
    aspect_path, key = list(path[:cut]), path[cut]
    if not aspect_path:
        return
    key_node = node
    if binding is not None and binding.attrs:
        key_node = binding.attrs[-1]
    ctx.aspects.append(
        Aspect(tuple(aspect_path), ctx.span(key_node), ((key, ctx.span(key_node)),))
    )


def _define_tree_policies(
    ctx: _Context,
    owner: str,
    rest: tuple,
    node: Node,
    env: Env,
    binding: _Binding | None,
    index: int,
) -> None:
    """``den.aspects.<a>.policies.<name> = fn``: registered under the aspect."""
    prefix = owner + ".policies."
    if rest:
        if isinstance(rest[0], str) and len(rest) == 1:
            _define_policy(ctx, prefix + rest[0], node, env, binding, index)
        return
    value = _strip_parens(node)
    if value.type not in ("attrset_expression", "rec_attrset_expression"):
        return
    for name, thunk in ctx.evaluator.eval(value, env).values.items():
        if thunk.node is not None and thunk.env is not None:
            _define_policy(ctx, prefix + name, thunk.node, thunk.env, None)


# Keys that only an aspect has; an attribute set holding one is an aspect,
# not class content.
_ASPECT_KEYS = frozenset(
    {
        "includes",
        "excludes",
        "provides",
        "_",
        "policies",
        "classes",
        "description",
        "meta",
    }
    | {"nixos", "darwin", "homeManager", "hjem", "maid", "user", "os", "wsl"}
)


def _looks_like_aspect(ctx: _Context, node: Node) -> bool:
    if node.type == "function_expression":
        node = _strip_parens(node.child_by_field_name("body") or node)
    if node.type not in ("attrset_expression", "rec_attrset_expression"):
        return False
    for binding_set in node.named_children:
        for binding in binding_set.named_children:
            attrpath = binding.child_by_field_name("attrpath")
            if attrpath is None:
                continue
            first = attrpath.children_by_field_name("attr")
            if first and ctx.text(first[0]) in _ASPECT_KEYS:
                return True
    return False


# -- insertion points ---------------------------------------------------------------


def _strip_parens(node: Node) -> Node:
    while node.type == "parenthesized_expression":
        inner = node.child_by_field_name("expression")
        if inner is None:
            break
        node = inner
    return node


def _line_indent(ctx: _Context, node: Node) -> str:
    source = ctx.tree.source
    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    prefix = source[line_start : node.start_byte]
    indent = prefix[: len(prefix) - len(prefix.lstrip(b" \t"))]
    return indent.decode("utf-8", "replace")


def _set_insertion(ctx: _Context, node: Node) -> InsertionPoint | None:
    """Where a new binding goes in an attribute set literal: after the last one."""
    bindings = [
        b
        for s in node.named_children
        if s.type == "binding_set"
        for b in s.named_children
        if b.type in ("binding", "inherit", "inherit_from")
    ]
    source = ctx.tree.source
    if not bindings:
        open_brace = (
            node.children[0] if node.type == "attrset_expression" else node.children[1]
        )
        return InsertionPoint(ctx.empty_span(open_brace.end_byte), " ")
    last = bindings[-1]
    multiline = source.count(b"\n", node.start_byte, node.end_byte) > 0
    starts_own_line = (
        source[source.rfind(b"\n", 0, last.start_byte) + 1 : last.start_byte].strip()
        == b""
    )
    if multiline and starts_own_line:
        offset, newline = _line_end(ctx, last.end_byte)
        return InsertionPoint(ctx.empty_span(offset), newline + _line_indent(ctx, last))
    return InsertionPoint(ctx.empty_span(last.end_byte), " ")


def _line_end(ctx: _Context, offset: int) -> tuple[int, str]:
    """Where a new line goes after the construct ending at ``offset``.

    After a trailing comment rather than before it, so the comment stays
    with the line it annotates; and with the file's own line ending.
    """
    source = ctx.tree.source
    end = source.find(b"\n", offset)
    end = len(source) if end == -1 else end
    newline = "\r\n" if end > 0 and source[end - 1 : end] == b"\r" else "\n"
    content_end = end - 1 if newline == "\r\n" else end
    rest = source[offset:content_end].strip()
    if rest == b"" or rest.startswith(b"#"):
        return content_end, newline
    return offset, newline
