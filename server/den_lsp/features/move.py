"""The refactor "Move this route into the delivered kind's includes".

A delivery route whose policy fires at host scope collects the host's own
content (den-reference §3.3, §3.11): to deliver a child's configuration, the
route has to fire inside the child's scope, with ``appendToParent = true`` so
that its result lands back at the host. The refactor moves the policy's
activation, not its code: it takes the policy out of
``den.schema.<host kind>.includes`` and lists it in the ``withIncludes`` of
the resolve that creates the child (or in ``den.schema.<child>.includes``).

It is offered only where the edit is certain, and the shapes it refuses are
the reason for each check below. Moving where a policy fires changes what its
body sees, so it is offered only when every argument the policy reads means
the same inside the child; and a route or resolve written inside a function
of its own (``map (name: route { ... }) host.guestNames``) runs once per
element, so moving such a route would fire every copy in every child, and
filling the child's name into the path is a rewrite den-lsp does not guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import tree_sitter

from den_lsp.analysis.common import field_value, route_path
from den_lsp.analysis.findings import TextEdit
from den_lsp.facts.types import OPAQUE, Effect, Include, Policy
from den_lsp.features.index import Syntax
from den_lsp.features.project import Project
from den_lsp.model.builtins import COMPOSE_KINDS, SYSTEM_CLASSES, is_delivery_slot
from den_lsp.model.model import Model, ResolveEdge

Node = tree_sitter.Node

TITLE = "Move this route into the delivered kind's includes (`{kind}`)"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*")


@dataclass(frozen=True)
class Move:
    title: str
    edits: tuple[TextEdit, ...]


def move_into_delivered_kind(
    project: Project, model: Model, effect: Effect, policy: Policy
) -> Move | None:
    """The edits that make ``effect`` fire inside the kind it delivers, if certain."""
    # In the isolation design the route stays where it fires and names the
    # child's scope with `collectScopeId` instead (a refactor of its own).
    if model.profile.decouple_field != "appendToParent":
        return None
    if not _is_delivery(effect):
        return None
    if not policy.registered or not policy.name or policy.effects != (effect,):
        return None
    if "." in policy.policy_id:
        return None  # an aspect's own policy, named through its aspect
    if policy.policy_id in model.fires_elsewhere:
        return None
    fires = model.fires_at(policy.policy_id)
    if len(fires) != 1:
        return None
    [scope] = fires
    activated = _schema_include(model, policy, scope)
    if activated is None:
        return None
    edge = _child_resolve(model, scope)
    if edge is None or not _context_unchanged(edge, policy):
        return None

    syntax = Syntax(project)
    if not _once_per_firing(syntax, effect, policy):
        return None
    if not _once_per_firing(syntax, edge.effect, edge.policy):
        return None
    append = _append_to_parent(effect)
    if append is None:
        return None
    removal = _removal(syntax, project, activated)
    if removal is None:
        return None
    addition = _addition(syntax, project, model, edge, policy.policy_id)
    if addition is None:
        return None
    edits = (removal, addition, *append)
    return Move(TITLE.format(kind=edge.target), edits)


def _is_delivery(effect: Effect) -> bool:
    """A route that hands a system class's content to a child system's slot."""
    if effect.family != "route":
        return False
    source = field_value(effect, "fromClass")
    into = field_value(effect, "intoClass")
    path = route_path(effect)
    return (
        source in SYSTEM_CLASSES
        and isinstance(into, str)
        and isinstance(path, tuple)
        and is_delivery_slot(path)
    )


def _schema_include(model: Model, policy: Policy, scope: str) -> Include | None:
    """The one place that activates the policy: ``den.schema.<scope>.includes``."""
    activations = model.activations.get(policy.policy_id, [])
    if len(activations) != 1 or activations[0].via != "schema":
        return None
    naming = [
        inc for inc in model.includes if inc.item.target == ("policy", policy.policy_id)
    ]
    if len(naming) != 1:
        return None  # also listed, or excluded, somewhere else
    [inc] = naming
    if inc.owner != ("schema", scope) or inc.relation != "includes":
        return None
    return inc


def _child_resolve(model: Model, scope: str) -> ResolveEdge | None:
    """The one resolve that creates a child scope under ``scope``'s scopes.

    Compose kinds (users, homes) are not delivered, so their resolves do not
    count; with two delivered kinds, or two resolves, which child the route
    meant is not certain.
    """
    found = {
        id(edge.effect): edge
        for edge in model.resolve_edges
        if edge.source == scope and edge.target not in COMPOSE_KINDS
    }
    if len(found) != 1:
        return None
    [edge] = found.values()
    kind = model.kinds.get(edge.target)
    if kind is None or kind.builtin or edge.target == scope:
        return None
    if model.fires_at(edge.policy.policy_id) != {scope}:
        return None
    # A policy listed for the child also reaches the scopes the child creates
    # (den gates its delivery policies on `!(args ? user)` for that reason);
    # below a childless kind the move cannot fire anywhere else.
    if model.children(edge.target):
        return None
    return edge


def _context_unchanged(edge: ResolveEdge, policy: Policy) -> bool:
    """Whether the policy's arguments mean the same inside the child.

    The child's context is the parent's plus the resolve's bindings, so an
    argument the resolve binds again (`host` for a guest that is a host of
    its own) would change under the moved policy.
    """
    if not edge.effect.bindings_known:
        return False
    return not set(edge.effect.binding_keys) & set(policy.args)


def _once_per_firing(syntax: Syntax, effect: Effect, policy: Policy) -> bool:
    """Whether the effect is written in the policy's body outside any other function."""
    if policy.formals_span is None:
        return False
    node = syntax.call(effect.span)
    while node is not None and node.type != "function_expression":
        node = node.parent
    if node is None:
        return False
    formals = node.child_by_field_name("formals")
    return formals is not None and (formals.start_byte, formals.end_byte) == (
        policy.formals_span.start_byte,
        policy.formals_span.end_byte,
    )


def _append_to_parent(effect: Effect) -> tuple[TextEdit, ...] | None:
    """The edit that appends the route's result at the parent, if it needs one."""
    written = effect.field("appendToParent")
    if written is not None:
        return () if written.value is True else None
    point = effect.insertion
    if point is None:
        return None
    return (TextEdit(point.span, point.binding("appendToParent", "true")),)


def _removal(syntax: Syntax, project: Project, include: Include) -> TextEdit | None:
    """Take the item out of its includes list, with the space in front of it."""
    path = include.item.span.path
    item = syntax.node(include.item.span)
    if item is None or not _in_includes_list(item, project.files[path].source):
        return None
    before = item.prev_sibling
    if before is None:
        return None
    span = project.files[path].index.span(path, before.end_byte, item.end_byte)
    return TextEdit(span, "")


def _in_includes_list(item: Node, source: bytes) -> bool:
    """An element of a list written as the value of an ``includes`` binding.

    Anything else around the list (`lib.mkIf`, `++`) could make the
    activation conditional or computed.
    """
    listed = item.parent
    if listed is None or listed.type != "list_expression":
        return False
    binding = listed.parent
    if binding is None or binding.type != "binding":
        return False
    attrpath = binding.child_by_field_name("attrpath")
    attrs = attrpath.children_by_field_name("attr") if attrpath else []
    return (
        bool(attrs)
        and attrs[-1].type == "identifier"
        and _text(attrs[-1], source) == "includes"
    )


def _addition(
    syntax: Syntax, project: Project, model: Model, edge: ResolveEdge, policy_id: str
) -> TextEdit | None:
    """List the policy where the child scope is created, or in the child's schema."""
    listed = _with_includes_list(syntax, edge.effect)
    if listed is not None:
        return _append_item(syntax, project, listed, edge.effect.span.path, policy_id)
    if edge.effect.constructor.endswith("withIncludes"):
        return None  # a list the reader cannot write into (a variable, say)
    return _schema_addition(syntax, project, model, edge, policy_id)


def _with_includes_list(syntax: Syntax, effect: Effect) -> Node | None:
    if not effect.constructor.endswith("withIncludes"):
        return None
    node = syntax.call(effect.span)
    arguments = []
    while node is not None and node.type == "apply_expression":
        argument = node.child_by_field_name("argument")
        if argument is not None:
            arguments.insert(0, argument)
        node = node.child_by_field_name("function")
    lists = [a for a in arguments if a.type == "list_expression"]
    return lists[0] if len(lists) == 1 else None


def _schema_addition(
    syntax: Syntax, project: Project, model: Model, edge: ResolveEdge, policy_id: str
) -> TextEdit | None:
    """``den.schema.<child>.includes``, when that is the same as the resolve's list.

    It is only when this resolve is the one place the child kind is created;
    an existing literal list gets the item, otherwise a definition of the
    kind that sets no ``includes`` gets a new binding.
    """
    kind = edge.target
    creators = {id(e.effect) for e in model.resolve_edges if e.target == kind}
    if creators != {id(edge.effect)}:
        return None
    lists = {}
    for inc in model.includes:
        if inc.owner != ("schema", kind) or inc.relation != "includes":
            continue
        item = syntax.node(inc.item.span)
        source = project.files[inc.item.span.path].source
        if item is None or not _in_includes_list(item, source):
            return None
        lists[(inc.item.span.path, item.parent.start_byte)] = (
            inc.item.span.path,
            item.parent,
        )
    if len(lists) == 1:
        [(path, listed)] = lists.values()
        return _append_item(syntax, project, listed, path, policy_id)
    if lists:
        return None
    entry = model.kinds[kind]
    if entry.values("includes") or entry.values(OPAQUE) or entry.values("imports"):
        return None
    site = next((s for s in entry.sites if s.insertion is not None), None)
    if site is None:
        return None
    reference = _reference(project, site.span.path, policy_id)
    if reference is None:
        return None
    point = site.insertion
    return TextEdit(point.span, point.binding("includes", f"[ {reference} ]"))


def _append_item(
    syntax: Syntax, project: Project, listed: Node, path: str, policy_id: str
) -> TextEdit | None:
    """Add the policy at the end of a literal list, in the list's own layout."""
    reference = _reference(project, path, policy_id)
    if reference is None:
        return None
    state = project.files[path]
    items = [c for c in listed.named_children if c.type != "comment"]
    if not items:
        whole = state.index.span(path, listed.start_byte, listed.end_byte)
        return TextEdit(whole, f"[ {reference} ]")
    last = items[-1]
    if last.start_point[0] == listed.start_point[0]:
        text = f" {reference}"
    else:
        line = state.source.split(b"\n")[last.start_point[0]]
        indent = line[: len(line) - len(line.lstrip(b" \t"))].decode()
        text = f"\n{indent}{reference}"
    at = state.index.span(path, last.end_byte, last.end_byte)
    return TextEdit(at, text)


def _reference(project: Project, path: str, policy_id: str) -> str | None:
    """How ``path`` names the policy: through the module's ``den`` argument.

    A file whose module function does not take ``den`` gets no reference,
    since den-lsp does not add arguments to a module.
    """
    state = project.files.get(path)
    root = state.tree.root if state is not None and state.tree is not None else None
    module = (
        root.named_children[0] if root is not None and root.named_children else None
    )
    if module is None or module.type != "function_expression":
        return None
    formals = module.child_by_field_name("formals")
    names = [
        f.child_by_field_name("name")
        for f in (formals.named_children if formals is not None else ())
        if f.type == "formal"
    ]
    if not any(n is not None and _text(n, state.source) == "den" for n in names):
        return None
    name = policy_id if _IDENTIFIER.fullmatch(policy_id) else f'"{policy_id}"'
    return f"den.policies.{name}"


def _text(node: Node, source: bytes) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace")


__all__ = ["Move", "move_into_delivered_kind"]
