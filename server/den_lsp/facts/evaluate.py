"""A small partial evaluator over the tree-sitter Nix tree.

It knows literals, ``let``, ``rec``, ``inherit``, ``with``, attribute
selection, string interpolation of known values, list concatenation and
attribute-set update. Module arguments such as ``den`` and ``lib`` evaluate
to symbolic references (``Ref(("den", "lib", "policy"))``), which is how an
alias like ``route = den.lib.policy.route;`` is recognised. Anything else
evaluates to ``UNKNOWN``; the evaluator never guesses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import tree_sitter

from den_lsp.facts.types import UNKNOWN

Node = tree_sitter.Node

# Bound recursion through user code: a let-bound helper applied to a helper
# applied to ... Deeper chains are treated as unknown.
MAX_DEPTH = 40

# Steps (expressions evaluated, values walked) one file may take: far more
# than any real module needs, and a bound on definitions that multiply work,
# such as `x1 = if c then x0 else x0; x2 = if c then x1 else x1; ...`, where
# each line doubles what a walk of the last one has to read.
BASE_STEPS = 200_000
STEPS_PER_BYTE = 20
# Values larger than these are unknown: `x1 = x0 ++ x0; x2 = x1 ++ x1; ...`
# doubles a list, or a string, with every line.
MAX_LIST_ITEMS = 10_000
MAX_STRING_CHARS = 100_000


class WorkLimit(Exception):
    """Reading a file took more steps than its size can justify."""


@dataclass(frozen=True)
class Ref:
    """A symbolic path into a module argument: ``den.lib.policy.route``."""

    path: tuple[str, ...]

    def child(self, name: str) -> "Ref":
        return Ref(self.path + (name,))

    def starts_with(self, *prefix: str) -> bool:
        return self.path[: len(prefix)] == prefix


@dataclass(eq=False)
class Thunk:
    """A lazily evaluated expression in its environment."""

    node: Node | None
    env: "Env | None"
    value: Any = None
    state: int = 0  # 0 = not evaluated, 1 = evaluating, 2 = done
    # Used instead of (node, env) for values that are not an expression of
    # their own, such as `inherit (src) name;`.
    compute: Callable[[], Any] | None = None

    @staticmethod
    def of(value: Any) -> "Thunk":
        return Thunk(None, None, value, 2)


@dataclass(eq=False)
class Lambda:
    node: Node
    env: "Env"


@dataclass(eq=False)
class ListValue:
    node: Node | None
    items: list[Thunk]


@dataclass(eq=False)
class AttrsValue:
    """An attribute set. ``keys`` maps a name to the node of its key."""

    node: Node | None
    values: dict[str, Thunk] = field(default_factory=dict)
    keys: dict[str, Node] = field(default_factory=dict)


@dataclass(frozen=True)
class Partial:
    """A known function applied to some arguments, e.g. ``resolve.to "guest"``."""

    head: Ref
    args: tuple[Thunk, ...]


@dataclass(eq=False)
class Env:
    """Lexical scope: names bound here, ``with`` scopes, then the parent."""

    names: dict[str, Thunk]
    parent: "Env | None" = None
    with_scope: Thunk | None = None

    def lookup(self, name: str, resolve_with: Callable[[Any, str], Any]) -> Any:
        env: Env | None = self
        # Lexical names always win over `with`, as in Nix.
        while env is not None:
            if name in env.names:
                return env.names[name]
            env = env.parent
        env = self
        while env is not None:
            if env.with_scope is not None:
                found = resolve_with(env.with_scope, name)
                if found is not UNKNOWN:
                    return found
            env = env.parent
        return UNKNOWN


_BUILTIN_CONSTANTS = {"true": True, "false": False, "null": None}
# Builtins Nix puts in scope without `builtins.`.
_GLOBAL_BUILTINS = frozenset(
    {"map", "toString", "import", "throw", "abort", "baseNameOf", "dirOf"}
    | {"isNull", "removeAttrs", "derivation", "placeholder", "scopedImport"}
)


class Evaluator:
    """Evaluates expressions of one file."""

    def __init__(self, source: bytes, known_with_names: Callable[[Ref, str], bool]):
        self.source = source
        self._known_with_names = known_with_names
        self.depth = 0
        self.steps = 0
        self.max_steps = BASE_STEPS + STEPS_PER_BYTE * len(source)

    def tick(self) -> None:
        """Count one step of work on this file; raise ``WorkLimit`` past the bound."""
        self.steps += 1
        if self.steps > self.max_steps:
            raise WorkLimit(self.steps)

    # -- helpers -------------------------------------------------------------

    def text(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def force(self, value: Any) -> Any:
        if isinstance(value, Thunk):
            return self.force_thunk(value)
        return value

    def force_thunk(self, thunk: Thunk) -> Any:
        if thunk.state == 2:
            return thunk.value
        if thunk.state == 1:  # an infinite loop in the source, or `rec` self-use
            return UNKNOWN
        thunk.state = 1
        try:
            if thunk.compute is not None:
                thunk.value = thunk.compute()
            else:
                thunk.value = self.eval(thunk.node, thunk.env)
        finally:
            thunk.state = 2
        return thunk.value

    def _resolve_with(self, scope: Thunk, name: str) -> Any:
        value = self.force(scope)
        if isinstance(value, AttrsValue):
            return value.values.get(name, UNKNOWN)
        if isinstance(value, Ref) and self._known_with_names(value, name):
            return Thunk.of(value.child(name))
        return UNKNOWN

    def lookup(self, env: Env, name: str) -> Any:
        if name in _BUILTIN_CONSTANTS:
            found = env.lookup(name, self._resolve_with)
            return _BUILTIN_CONSTANTS[name] if found is UNKNOWN else self.force(found)
        if name == "builtins" or name in _GLOBAL_BUILTINS:
            found = env.lookup(name, self._resolve_with)
            if found is UNKNOWN:
                return Ref(("builtins",) if name == "builtins" else ("builtins", name))
            return self.force(found)
        return self.force(env.lookup(name, self._resolve_with))

    # -- attribute paths ----------------------------------------------------

    def attr_name(self, node: Node, env: Env) -> Any:
        """The name of one attrpath element, or UNKNOWN if computed."""
        if node.type == "identifier":
            return self.text(node)
        if node.type == "string_expression":
            value = self.eval(node, env)
            return value if isinstance(value, str) else UNKNOWN
        if node.type == "interpolation":
            expr = node.child_by_field_name("expression")
            value = self.eval(expr, env) if expr is not None else UNKNOWN
            return value if isinstance(value, str) else UNKNOWN
        return UNKNOWN

    def attrpath(self, node: Node, env: Env) -> list[tuple[Any, Node]]:
        return [
            (self.attr_name(a, env), a) for a in node.children_by_field_name("attr")
        ]

    # -- bindings -------------------------------------------------------------

    def bind_set(self, binding_set: Node | None, env: Env, into: AttrsValue) -> None:
        """Add the bindings of a binding_set to ``into``; nested paths nest."""
        if binding_set is None:
            return
        for binding in binding_set.named_children:
            if binding.type == "binding":
                path_node = binding.child_by_field_name("attrpath")
                expr = binding.child_by_field_name("expression")
                if path_node is None or expr is None:
                    continue
                path = self.attrpath(path_node, env)
                self._bind_path(into, path, Thunk(expr, env))
            elif binding.type in ("inherit", "inherit_from"):
                source = binding.child_by_field_name("expression")
                attrs = binding.child_by_field_name("attrs")
                if attrs is None:
                    continue
                source_thunk = Thunk(source, env) if source is not None else None
                for attr in attrs.children_by_field_name("attr"):
                    name = self.attr_name(attr, env)
                    if not isinstance(name, str):
                        continue
                    into.values[name] = Thunk(
                        None,
                        None,
                        compute=self._inherited(env, into, source_thunk, name),
                    )
                    into.keys[name] = attr

    def _inherited(
        self, env: Env, into: AttrsValue, source: Thunk | None, name: str
    ) -> Callable[[], Any]:
        if source is not None:
            return lambda: self.select(self.force(source), name)
        # `inherit x;` inside a let or rec set refers to the x *outside* it.
        outer = env.parent if env.names is into.values and env.parent else env
        return lambda: self.lookup(outer, name)

    def _bind_path(
        self, into: AttrsValue, path: list[tuple[Any, Node]], thunk: Thunk
    ) -> None:
        name, key_node = path[0]
        if not isinstance(name, str):
            return
        if len(path) == 1:
            into.values[name] = thunk
            into.keys[name] = key_node
            return
        existing = into.values.get(name)
        nested = self.force(existing) if existing is not None else None
        if not isinstance(nested, AttrsValue):
            nested = AttrsValue(None)
            into.values[name] = Thunk.of(nested)
            into.keys[name] = key_node
        self._bind_path(nested, path[1:], thunk)

    def let_env(self, node: Node, env: Env) -> Env:
        """The environment inside ``let ... in``: bindings see each other."""
        scope = AttrsValue(None)
        inner = Env(scope.values, env)
        for child in node.named_children:
            if child.type == "binding_set":
                self.bind_set(child, inner, scope)
        return inner

    def lambda_env(self, lam: Lambda, argument: Any) -> Env:
        """Bind a function's parameters to ``argument`` (may be UNKNOWN)."""
        node = lam.node
        names: dict[str, Thunk] = {}
        universal = node.child_by_field_name("universal")
        arg_thunk = argument if isinstance(argument, Thunk) else Thunk.of(argument)
        if universal is not None:
            names[self.text(universal)] = arg_thunk
        formals = node.child_by_field_name("formals")
        if formals is not None:
            value = self.force(arg_thunk)
            for formal in formals.children_by_field_name("formal"):
                name_node = formal.child_by_field_name("name")
                if name_node is None:
                    continue
                name = self.text(name_node)
                if isinstance(value, AttrsValue) and name in value.values:
                    names[name] = value.values[name]
                else:
                    default = formal.child_by_field_name("default")
                    names[name] = (
                        Thunk(default, lam.env)
                        if default is not None
                        else Thunk.of(UNKNOWN)
                    )
        return Env(names, lam.env)

    # -- evaluation -----------------------------------------------------------

    def eval(self, node: Node | None, env: Env | None) -> Any:
        if node is None or env is None:
            return UNKNOWN
        if self.depth > MAX_DEPTH:
            return UNKNOWN
        self.tick()
        self.depth += 1
        try:
            return self._eval(node, env)
        finally:
            self.depth -= 1

    def _eval(self, node: Node, env: Env) -> Any:
        kind = node.type
        if kind == "parenthesized_expression":
            return self.eval(node.child_by_field_name("expression"), env)
        if kind == "variable_expression":
            name = node.child_by_field_name("name")
            return self.lookup(env, self.text(name)) if name is not None else UNKNOWN
        if kind == "string_expression":
            return self._string(node, env)
        if kind == "integer_expression":
            try:
                return int(self.text(node))
            except ValueError:
                return UNKNOWN
        if kind == "float_expression":
            try:
                return float(self.text(node))
            except ValueError:
                return UNKNOWN
        if kind == "list_expression":
            return ListValue(
                node, [Thunk(e, env) for e in node.children_by_field_name("element")]
            )
        if kind in ("attrset_expression", "rec_attrset_expression"):
            attrs = AttrsValue(node)
            inner = Env(attrs.values, env) if kind == "rec_attrset_expression" else env
            for child in node.named_children:
                if child.type == "binding_set":
                    self.bind_set(child, inner, attrs)
            return attrs
        if kind == "let_expression":
            return self.eval(node.child_by_field_name("body"), self.let_env(node, env))
        if kind == "with_expression":
            scope = Thunk(node.child_by_field_name("environment"), env)
            return self.eval(node.child_by_field_name("body"), Env({}, env, scope))
        if kind == "assert_expression":
            return self.eval(node.child_by_field_name("body"), env)
        if kind == "function_expression":
            return Lambda(node, env)
        if kind == "select_expression":
            return self._select(node, env)
        if kind == "binary_expression":
            return self._binary(node, env)
        if kind == "apply_expression":
            return self.apply_chain(node, env)
        return UNKNOWN

    def _string(self, node: Node, env: Env) -> Any:
        parts: list[str] = []
        for child in node.named_children:
            if child.type == "string_fragment":
                parts.append(self.text(child))
            elif child.type == "escape_sequence":
                escaped = self.text(child)[1:]
                parts.append({"n": "\n", "t": "\t", "r": "\r"}.get(escaped, escaped))
            elif child.type == "interpolation":
                value = self.eval(child.child_by_field_name("expression"), env)
                if not isinstance(value, str):
                    return UNKNOWN
                parts.append(value)
            else:
                return UNKNOWN
        if sum(len(part) for part in parts) > MAX_STRING_CHARS:
            return UNKNOWN
        return "".join(parts)

    def _select(self, node: Node, env: Env) -> Any:
        value = self.eval(node.child_by_field_name("expression"), env)
        path_node = node.child_by_field_name("attrpath")
        default = node.child_by_field_name("default")
        if path_node is None:
            return UNKNOWN
        for name, _ in self.attrpath(path_node, env):
            value = self.select(value, name)
            if value is UNKNOWN:
                break
        if value is UNKNOWN and default is not None:
            return self.eval(default, env)
        return value

    def select(self, value: Any, name: Any) -> Any:
        if not isinstance(name, str):
            return UNKNOWN
        if isinstance(value, Ref):
            return value.child(name)
        if isinstance(value, AttrsValue):
            thunk = value.values.get(name)
            return self.force(thunk) if thunk is not None else UNKNOWN
        return UNKNOWN

    def _binary(self, node: Node, env: Env) -> Any:
        operator = node.child_by_field_name("operator")
        op = self.text(operator) if operator is not None else ""
        if op not in ("++", "//", "+"):
            return UNKNOWN
        left = self.eval(node.child_by_field_name("left"), env)
        right = self.eval(node.child_by_field_name("right"), env)
        if op == "++" and isinstance(left, ListValue) and isinstance(right, ListValue):
            if len(left.items) + len(right.items) > MAX_LIST_ITEMS:
                return UNKNOWN
            return ListValue(None, left.items + right.items)
        if (
            op == "//"
            and isinstance(left, AttrsValue)
            and isinstance(right, AttrsValue)
        ):
            merged = AttrsValue(None, dict(left.values), dict(left.keys))
            merged.values.update(right.values)
            merged.keys.update(right.keys)
            return merged
        if op == "+" and isinstance(left, str) and isinstance(right, str):
            if len(left) + len(right) > MAX_STRING_CHARS:
                return UNKNOWN
            return left + right
        return UNKNOWN

    def flatten_apply(self, node: Node) -> tuple[Node, list[Node]]:
        """``f a b c`` -> (f, [a, b, c])."""
        args: list[Node] = []
        while node.type == "apply_expression":
            argument = node.child_by_field_name("argument")
            if argument is not None:
                args.append(argument)
            function = node.child_by_field_name("function")
            if function is None:
                break
            node = function
        args.reverse()
        return node, args

    def apply_chain(self, node: Node, env: Env) -> Any:
        head_node, arg_nodes = self.flatten_apply(node)
        value = self.eval(head_node, env)
        for arg in arg_nodes:
            value = self.apply(value, Thunk(arg, env))
            if value is UNKNOWN:
                return UNKNOWN
        return value

    def apply(self, function: Any, argument: Thunk) -> Any:
        if isinstance(function, Lambda):
            body = function.node.child_by_field_name("body")
            return self.eval(body, self.lambda_env(function, argument))
        if isinstance(function, Ref):
            return self._apply_known(Partial(function, (argument,)))
        if isinstance(function, Partial):
            return self._apply_known(
                Partial(function.head, function.args + (argument,))
            )
        return UNKNOWN

    def _apply_known(self, call: Partial) -> Any:
        """Library functions whose result the static model needs to see through."""
        path = call.head.path
        name = path[-1] if path else ""
        is_lib = (
            path[:1] == ("lib",) or path[:2] == ("den", "lib") and name.startswith("mk")
        )
        if is_lib and name in (
            "mkDefault",
            "mkForce",
            "mkOverride",
            "mkBefore",
            "mkAfter",
        ):
            wanted = 2 if name == "mkOverride" else 1
            if len(call.args) == wanted:
                return self.force(call.args[-1])
            return call
        return call
