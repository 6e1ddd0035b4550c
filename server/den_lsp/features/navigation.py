"""Go to definition, find references and rename, by den's own names.

den links files through attribute paths: ``den.schema.guest`` in one file is
the kind that ``resolve.to "guest"`` creates in another and that a policy
reads as its argument ``{ guest, ... }``. These requests answer from the
symbol index, across every file of the configuration.

A rename edits every place the name is written, or nothing: when one use is
computed, or written where den-lsp cannot tell whether it is the same name,
it refuses and says where.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from den_lsp.analysis.common import where
from den_lsp.analysis.findings import TextEdit
from den_lsp.features.diagnostics import to_range
from den_lsp.features.index import (
    Node,
    Occurrence,
    SymbolIndex,
    Syntax,
    den_path,
    index_for,
)
from den_lsp.features.project import Project, loaded_by_import_tree
from den_lsp.model.builtins import BUILTIN_CLASSES, BUILTIN_POLICIES
from den_lsp.model.model import Model
from den_lsp.syntax.span import Span

if TYPE_CHECKING:
    from den_lsp.server import DenLanguageServer

log = logging.getLogger(__name__)

RENAMEABLE = ("kind", "policy", "aspect", "class")
_SECTIONS = {"kind": "schema", "policy": "policies", "aspect": "aspects"}
_SECTIONS["class"] = "classes"

# A name den users write unquoted: an attribute name that is also usable as a
# function argument, which is how policies read kinds (`{ guest, ... }:`).
_DEN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*")
_NIX_KEYWORDS = frozenset(
    {"if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or"}
)
# Keys an aspect reads itself; an aspect or class cannot be called this.
_STRUCTURAL_KEYS = frozenset(
    {"name", "description", "meta", "includes", "excludes", "provides", "_"}
    | {"policies", "into", "classes", "_module"}
)


class RenameError(Exception):
    """A rename den-lsp refuses, with the reason in the user's terms."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# -- finding the symbol under the cursor ------------------------------------------


@dataclass(frozen=True)
class Target:
    """What the cursor names: a category and a name, with the index to look in."""

    index: SymbolIndex
    occurrence: Occurrence
    category: str
    name: str


def target_at(project: Project, rel: str, line: int, character: int) -> Target | None:
    state = project.files.get(rel)
    index = index_for(project, rel)
    if state is None or index is None:
        return None
    offset = state.index.offset(line, character)
    occurrence = index.at(rel, offset)
    if occurrence is None:
        return None
    name = occurrence.name
    if occurrence.category == "aspect" and occurrence.segments:
        # On `roles` of `den.aspects.roles.inference`, the cursor names the
        # aspect `roles`.
        for number, segment in enumerate(occurrence.segments):
            if segment is not None and (
                segment.start_byte <= offset <= segment.end_byte
            ):
                name = ".".join(name.split(".")[: number + 1])
                break
    return Target(index, occurrence, occurrence.category, name)


def _where(span: Span) -> str:
    return where(span)


def _location(occurrence: Occurrence) -> Span:
    return occurrence.name_span or occurrence.span


def _ordered(spans: Iterator[Span] | list[Span]) -> list[Span]:
    return sorted(set(spans), key=lambda s: (s.path, s.start_byte, s.end_byte))


# -- definition and references ------------------------------------------------------


def _owners(index: SymbolIndex, aspect: str) -> list[Occurrence]:
    """The host or user whose own aspect ``den.aspects.<aspect>`` is."""
    model = index.model
    parts = aspect.split(".")
    found: list[Occurrence] = []
    if len(parts) == 1:
        found += index.of("host", parts[0])
        found += index.of("user", parts[0])
    elif len(parts) == 2:
        for host in model.hosts:
            if host.name == parts[0] and parts[1] in host.users:
                found += [
                    o
                    for o in index.of("user", parts[1])
                    if any(span == o.span for _, span in host.user_spans)
                ]
    return found


def _own_aspects(index: SymbolIndex, category: str, name: str) -> list[str]:
    """Aspect paths that belong to host or user ``name``."""
    if category == "host":
        return [name]
    paths = [name]
    for host in index.model.hosts:
        if name in host.users:
            paths.append(f"{host.name}.{name}")
    return paths


def _aspect_occurrences(index: SymbolIndex, path: str) -> list[Occurrence]:
    return index.of("aspect", path)


def definitions(project: Project, rel: str, line: int, character: int) -> list[Span]:
    target = target_at(project, rel, line, character)
    if target is None:
        return []
    index, category, name = target.index, target.category, target.name
    if category in ("host", "user"):
        aspects = [
            o
            for path in _own_aspects(index, category, name)
            for o in _aspect_occurrences(index, path)
            if o.definition
        ]
        found = aspects or [o for o in index.of(category, name) if o.definition]
        return _ordered(_location(o) for o in found)
    found = [o for o in index.of(category, name) if o.definition]
    if category == "aspect":
        found += [o for o in _owners(index, name) if o.definition]
    return _ordered(_location(o) for o in found)


def references(
    project: Project,
    rel: str,
    line: int,
    character: int,
    include_declaration: bool = True,
) -> list[Span]:
    target = target_at(project, rel, line, character)
    if target is None:
        return []
    index, category, name = target.index, target.category, target.name
    found = list(index.of(category, name))
    if category == "kind":
        found += index.context_keys(name)
    if category in ("host", "user"):
        for path in _own_aspects(index, category, name):
            found += _aspect_occurrences(index, path)
    elif category == "aspect":
        found += _owners(index, name)
    if not include_declaration:
        found = [o for o in found if not o.definition]
    return _ordered(_location(o) for o in found)


# -- rename ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Edit:
    """One place a rename rewrites: ``span`` becomes ``text(new_name)``."""

    span: Span
    text: Callable[[str], str] = lambda new: new


@dataclass
class RenamePlan:
    """Everything a rename of one symbol rewrites, checked before any name is known."""

    category: str
    name: str
    # The element being renamed: the name itself, or an aspect path's last
    # element.
    written: str
    place: Span
    edits: list[_Edit] = field(default_factory=list)
    # Names that must stay free at each use of a renamed variable: a new name
    # bound between the use and the argument would capture it.
    bound_near: dict[Span, frozenset[str]] = field(default_factory=dict)
    # Names the new one must not take (existing kinds, sibling formals, ...).
    taken: set[str] = field(default_factory=set)

    def add(self, span: Span, text: Callable[[str], str] | None = None) -> None:
        self.edits.append(_Edit(span, text) if text else _Edit(span))


def prepare_rename(
    project: Project, rel: str, line: int, character: int
) -> tuple[Span, str] | None:
    """The range to rename and its current text; raises RenameError on a refusal."""
    plan = plan_rename(project, rel, line, character)
    if plan is None:
        return None
    return plan.place, plan.written


def rename(
    project: Project, rel: str, line: int, character: int, new_name: str
) -> list[TextEdit]:
    """Every edit of the rename, sorted; raises RenameError on a refusal."""
    plan = plan_rename(project, rel, line, character)
    if plan is None:
        raise RenameError("There is no den kind, policy, aspect or class here.")
    _check_new_name(plan, new_name)
    edits = {e.span: e.text(new_name) for e in plan.edits}
    return [
        TextEdit(span, text)
        for span, text in sorted(
            edits.items(), key=lambda item: (item[0].path, item[0].start_byte)
        )
    ]


def plan_rename(
    project: Project, rel: str, line: int, character: int
) -> RenamePlan | None:
    target = target_at(project, rel, line, character)
    if target is None:
        return None
    category, name = target.category, target.name
    if category not in RENAMEABLE:
        raise RenameError(
            f"`{name}` is a {category}, and den finds its aspect "
            f"`den.aspects.{name}` by the same name; den-lsp renames kinds, "
            "policies, aspects and classes only."
        )
    planner = _Planner(project, target)
    return planner.plan()


class _Planner:
    def __init__(self, project: Project, target: Target):
        self.project = project
        self.syntax = Syntax(project)
        self.index = target.index
        self.model = target.index.model
        self.target = target
        self.category = target.category
        self.name = target.name
        self.unit = target.index.unit
        self._spelling: list[str] | None = None

    # -- the common steps ------------------------------------------------------------

    def plan(self) -> RenamePlan:
        category, name = self.category, self.name
        occurrences = self._occurrences()
        self._refuse_foreign(occurrences)
        section = _SECTIONS[category]
        if section in self.model.open_sections:
            raise RenameError(
                f"Some `den.{section}` names in this configuration are computed, "
                f"so den-lsp cannot tell whether one of them is `{name}`; "
                "rename it by hand."
            )
        place = self._place(occurrences)
        written = name.rsplit(".", 1)[-1]
        plan = RenamePlan(category, name, written, place)
        for occ in occurrences:
            span = self._span_of(occ)
            if span is None:
                raise RenameError(
                    f"`{written}` is computed at {_where(occ.span)} "
                    f"(`{self._text(occ.span)}`), so den-lsp cannot rename it "
                    "safely. Write the name there plainly, then rename."
                )
            plan.add(span)
        getattr(self, f"_plan_{category}")(plan, occurrences)
        self._refuse_unread_mentions(plan)
        return plan

    def _occurrences(self) -> list[Occurrence]:
        if self.category == "kind":
            return self.index.of("kind", self.name) + self.index.context_keys(self.name)
        if self.category != "aspect":
            return self.index.of(self.category, self.name)
        return [
            o
            for name in self.index.aspects_under(self.name)
            for o in self.index.of("aspect", name)
        ]

    def _span_of(self, occ: Occurrence) -> Span | None:
        if self.category != "aspect":
            return occ.name_span
        depth = self.name.count(".")
        if len(occ.segments) <= depth:
            return None
        return occ.segments[depth]

    def _place(self, occurrences: list[Occurrence]) -> Span:
        span = self._span_of(self.target.occurrence)
        if span is None:
            span = self.target.occurrence.span
        return span

    def _text(self, span: Span) -> str:
        state = self.project.files.get(span.path)
        if state is None:
            return ""
        text = state.source[span.start_byte : span.end_byte].decode("utf-8", "replace")
        return text if len(text) <= 60 else text[:57] + "..."

    def _refuse_foreign(self, occurrences: list[Occurrence]) -> None:
        """Names den or another flake defines cannot be renamed here."""
        category, name = self.category, self.name
        defined = any(o.definition for o in occurrences)
        if category == "kind":
            kind = self.model.kinds.get(name)
            if kind is not None and kind.builtin:
                raise RenameError(
                    f"`{name}` is one of den's built-in kinds; renaming it would "
                    "break den's own policies."
                )
        if category == "class" and name in BUILTIN_CLASSES:
            raise RenameError(
                f"`{name}` is one of den's built-in classes; den and its batteries "
                "read it by this name."
            )
        if category == "policy" and name in BUILTIN_POLICIES and not defined:
            raise RenameError(
                f"`{name}` is one of den's built-in policies; it is defined by den, "
                "not in this workspace."
            )
        if not defined:
            what = {"kind": "den.schema.", "policy": "den.policies."}
            what.update({"aspect": "den.aspects.", "class": "den.classes."})
            raise RenameError(
                f"`{what[category]}{name}` is not defined in this workspace "
                "(it may come from den or another flake), so its definition "
                "cannot be renamed with it."
            )
        if category == "aspect":
            owners = _owners(self.index, name)
            if owners:
                owner = owners[0]
                raise RenameError(
                    f"`den.aspects.{name}` is the own aspect of {owner.category} "
                    f"`{owner.name}` ({_where(owner.span)}); den finds it by that "
                    "name, so renaming it would detach it."
                )

    # -- per category ---------------------------------------------------------------

    def _plan_kind(self, plan: RenamePlan, occurrences: list[Occurrence]) -> None:
        name = self.name
        plan.taken |= set(self.model.kinds)
        key_spans = set()
        unread = []
        for policy in self.model.policies.values():
            for effect in policy.effects:
                keys = {key for key, _ in effect.binding_spans}
                if name in keys:
                    plan.taken |= keys - {name}
                    key_spans |= {s for key, s in effect.binding_spans if key == name}
                elif effect.target_kind == name and not effect.binding_spans:
                    unread.append(effect)
        binding_keys = {o.name_span for o in occurrences if o.name_span in key_spans}
        functions = list(self._context_functions())
        if functions and unread:
            raise RenameError(
                f'The bindings of `{unread[0].constructor} "{name}"` at '
                f"{_where(unread[0].span)} are computed, so den-lsp cannot see "
                f"whether they bind the context key `{name}` that policies and "
                "aspects read; rename by hand."
            )
        for function in functions:
            self._rename_argument(plan, function, binding_keys)
        for span in sorted(binding_keys, key=lambda s: (s.path, s.start_byte)):
            self._rename_binding_key(plan, span)

    def _plan_policy(self, plan: RenamePlan, occurrences: list[Occurrence]) -> None:
        if "." in self.name:
            prefix = self.name.rsplit(".", 1)[0] + "."
            plan.taken |= {
                p.rsplit(".", 1)[-1]
                for p in self.model.policies
                if p.startswith(prefix)
            }
        else:
            plan.taken |= {p for p in self.model.policies if "." not in p}
            plan.taken |= BUILTIN_POLICIES

    def _plan_aspect(self, plan: RenamePlan, occurrences: list[Occurrence]) -> None:
        parent = self.name.rsplit(".", 1)[0] + "." if "." in self.name else ""
        plan.taken |= _aspect_names_at(self.model, parent)
        if not parent:
            plan.taken |= {h.name for h in self.model.hosts}
            plan.taken |= {u for h in self.model.hosts for u in h.users}
        plan.taken |= _STRUCTURAL_KEYS | set(self.model.classes) | BUILTIN_CLASSES

    def _plan_class(self, plan: RenamePlan, occurrences: list[Occurrence]) -> None:
        plan.taken |= set(self.model.classes) | BUILTIN_CLASSES | _STRUCTURAL_KEYS

    # -- kinds as context keys -------------------------------------------------------

    def _files(self) -> Iterator[tuple[str, Node]]:
        """The configuration's module files that spell the name, with their trees."""
        if self._spelling is None:
            # Read once per rename, and from the bytes: a tree not kept is
            # parsed again, so only the files that spell the name are parsed.
            needle = self.name.rsplit(".", 1)[-1].encode()
            self._spelling = sorted(
                rel
                for rel, state in self.project.files.items()
                if needle in state.source
                and loaded_by_import_tree(rel)
                and self.project.unit_of(rel) == self.unit
            )
        for rel in self._spelling:
            state = self.project.files[rel]
            if state.tree is not None:
                yield rel, state.tree.root

    def _context_functions(self) -> Iterator[tuple[str, Node]]:
        """Functions whose formals read the kind from den's context.

        Policies and parametric aspects receive den's context; a module
        function under `den.schema.<kind>` or a class key receives module
        arguments instead, and is left alone. A function the walk cannot
        place (bound in a `let` and used elsewhere) makes the rename refuse.
        """
        policy_formals = {
            span for p in self.model.policies.values() for _, span in p.arg_spans
        }
        for rel, root in self._files():
            for function, formal in _functions_with_formal(
                self.syntax, rel, root, self.name
            ):
                if self.syntax.span(rel, formal) in policy_formals:
                    yield rel, function
                    continue
                written = self.syntax.definition_path(rel, function)
                role = _function_role(written, self._class_names())
                if role == "context" and _inside_function(function):
                    # Written inside a policy or aspect function: a `guard`,
                    # an `adaptArgs` or a helper receives module arguments or
                    # whatever its caller passes, not necessarily den's
                    # context.
                    role = "unknown"
                if role == "context":
                    yield rel, function
                elif role == "unknown":
                    raise RenameError(
                        f"`{{ {self.name}, ... }}` at {rel}:{function.start_point[0] + 1}"
                        " is a function den-lsp cannot place (inside another "
                        "function, or bound in a `let`, and not read as a policy), "
                        f"so it cannot tell whether `{self.name}` there is den's "
                        "context. Rename it by hand first."
                    )

    def _class_names(self) -> set[str]:
        return set(self.model.classes) | BUILTIN_CLASSES

    def _rename_argument(
        self, plan: RenamePlan, function: tuple[str, Node], binding_keys: set[Span]
    ) -> None:
        rel, node = function
        name = self.name
        formals = node.child_by_field_name("formals")
        for formal in formals.children_by_field_name("formal") if formals else ():
            formal_name = formal.child_by_field_name("name")
            if formal_name is None:
                continue
            text = self.syntax.text(rel, formal_name)
            if text == name:
                plan.add(self.syntax.span(rel, formal_name))
            else:
                plan.taken.add(text)
        universal = node.child_by_field_name("universal")
        if universal is not None:
            plan.taken.add(self.syntax.text(rel, universal))
        scope = _Scope(self.syntax, rel)
        for formal in formals.children_by_field_name("formal") if formals else ():
            default = formal.child_by_field_name("default")
            if default is not None:
                scope.walk(default, name, frozenset())
        body = node.child_by_field_name("body")
        if body is not None:
            scope.walk(body, name, frozenset())
        for use, bound in scope.uses:
            span = self.syntax.span(rel, use)
            if use.parent is not None and use.parent.type == "inherited_attrs":
                if span not in binding_keys:
                    raise RenameError(
                        f"`inherit {name};` at {_where(span)} would change the "
                        f"name of the attribute it writes along with `{name}`; "
                        f"write it as `{name} = {name};` first."
                    )
                binding_keys.discard(span)
            plan.add(span)
            plan.bound_near[span] = bound
        if universal is not None:
            self._rename_through_universal(plan, rel, node, universal)

    def _rename_through_universal(
        self, plan: RenamePlan, rel: str, function: Node, universal: Node
    ) -> None:
        """``args.guest`` and ``args ? guest`` read the kind through ``{ ... }@args``."""
        name = self.name
        args = self.syntax.text(rel, universal)
        scope = _Scope(self.syntax, rel)
        body = function.child_by_field_name("body")
        if body is not None:
            scope.walk(body, args, frozenset())
        for use, _ in scope.uses:
            parent = use.parent.parent if use.parent is not None else None
            variable = use.parent
            if parent is not None and parent.type in (
                "select_expression",
                "has_attr_expression",
            ):
                if parent.child_by_field_name("expression") == variable:
                    attrpath = parent.child_by_field_name("attrpath")
                    first = attrpath.children_by_field_name("attr")[0]
                    found = self.syntax.written_name(rel, first)
                    if found is not None and found[0] == name:
                        plan.add(self.syntax.span(rel, found[1]))
                    continue
            if parent is not None and parent.type == "inherit_from":
                attrs = parent.child_by_field_name("attrs")
                names = [
                    self.syntax.text(rel, a)
                    for a in (attrs.children_by_field_name("attr") if attrs else ())
                ]
                if name not in names:
                    continue
            raise RenameError(
                f"The policy at {rel}:{function.start_point[0] + 1} hands its whole "
                f"argument set `{args}` on ({rel}:{use.start_point[0] + 1}), and "
                f"whatever receives it may read `{name}` by name; den-lsp cannot "
                "follow it. Rename by hand."
            )

    def _rename_binding_key(self, plan: RenamePlan, span: Span) -> None:
        """A resolve binding key whose value is not the renamed argument."""
        node = self.syntax.node(span)
        holder = node.parent if node is not None else None
        if holder is None or holder.type != "inherited_attrs":
            return  # `guest = ...;`: the key alone is renamed
        inherit = holder.parent
        attrs = holder.children_by_field_name("attr")
        if inherit is None or len(attrs) != 1:
            raise RenameError(
                f"`{self.name}` at {_where(span)} is inherited together with other "
                "names; renaming the binding key would change what it reads. "
                f"Write it as `{self.name} = ...;` first."
            )
        source = inherit.child_by_field_name("expression")
        old = self.name
        if source is None:
            value = old
        else:
            text = self.syntax.text(span.path, source)
            if source.type not in ("variable_expression", "select_expression"):
                text = f"({text})"
            value = f"{text}.{old}"
        plan.edits = [e for e in plan.edits if e.span != span]
        plan.add(self.syntax.span(span.path, inherit), lambda new: f"{new} = {value};")

    # -- safety net -----------------------------------------------------------------

    def _refuse_unread_mentions(self, plan: RenamePlan) -> None:
        """Refuse when the name is written somewhere the index does not read.

        A string spelling the kind or class (a forward's ``intoClass``, a
        host's ``class``) or a ``den.<section>.<name>`` path outside an
        includes list would keep the old name and break silently.
        """
        covered = {(e.span.path, e.span.start_byte) for e in plan.edits}
        for rel, root in self._files():
            for node, what in self._mentions(rel, root):
                if (rel, node.start_byte) in covered:
                    continue
                span = self.syntax.span(rel, node)
                raise RenameError(
                    f"`{self.name}` is also written at {_where(span)} ({what}), "
                    "where den-lsp cannot tell whether it names the same "
                    f"{self.category}. Change it by hand or make it a use "
                    "den-lsp reads, then rename."
                )

    def _mentions(self, rel: str, root: Node) -> Iterator[tuple[Node, str]]:
        written = self.name.rsplit(".", 1)[-1]
        if self.category in ("kind", "class", "policy"):
            for node in _strings(root):
                found = self.syntax.written_name(rel, node)
                if found is not None and found[0] == written:
                    yield found[1], "a string"
        section = _SECTIONS[self.category]
        path = self.name.split(".") if self.category == "aspect" else [self.name]
        if self.category == "policy" and "." in self.name:
            return
        for elements in _attribute_paths(self.syntax, rel, root):
            after = den_path(elements, section)
            if after is None or len(after) < len(path):
                continue
            if [n for n, _ in after[: len(path)]] == path:
                yield after[len(path) - 1][1], f"`den.{section}.{self.name}`"
        if self.category == "class":
            classes = self._class_names()
            for elements in _attribute_paths(self.syntax, rel, root, bindings=True):
                for section in ("aspects", "default"):
                    after = den_path(elements, section)
                    if not after:
                        continue
                    for name, node in after:
                        if name == self.name:
                            yield node, "an aspect key"
                            break
                        if name in classes:
                            break


def _aspect_names_at(model: Model, parent: str) -> set[str]:
    """The names aspects have right under ``parent`` (``""``: the top level).

    Read once per model and parent: the aspects of a large configuration
    number in the thousands.
    """
    names_at = model.cache.setdefault("rename: aspect names", {})
    if parent not in names_at:
        depth = parent.count(".")
        names = set()
        for aspect in model.aspects:
            if parent == "" or ".".join(aspect.path).startswith(parent):
                names.add(aspect.path[depth] if len(aspect.path) > depth else "")
        names_at[parent] = names
    return names_at[parent]


# -- rename checks -------------------------------------------------------------------------


def _check_new_name(plan: RenamePlan, new: str) -> None:
    what = {"kind": "kind", "policy": "policy", "aspect": "aspect", "class": "class"}
    label = what[plan.category]
    if "." in new and plan.category == "aspect":
        raise RenameError(
            f"`{new}`: renaming an aspect changes the last element of its path; "
            f"give one name (`{plan.written}`), not a path."
        )
    if not _DEN_NAME.fullmatch(new) or new in _NIX_KEYWORDS:
        raise RenameError(
            f"`{new}` is not a valid {label} name: use letters, digits, `_`, `-` "
            "and `'`, starting with a letter or `_`, and no Nix keyword."
        )
    if plan.category == "kind" and (
        new.startswith("_") or new in ("kind", "__functor")
    ):
        raise RenameError(
            f"`{new}` cannot name a kind: den.schema reserves names starting "
            "with `_`, and `kind` and `__functor`."
        )
    if new == plan.written:
        return
    if new in plan.taken:
        raise RenameError(
            f"`{new}` is already taken here (an existing {label}, a reserved key "
            "or another argument of a renamed function); choose another name."
        )
    for span, bound in plan.bound_near.items():
        if new in bound:
            raise RenameError(
                f"`{new}` is bound between the argument and its use at "
                f"{_where(span)}, which would then read that binding instead; "
                "choose another name."
            )


# -- syntax walks ----------------------------------------------------------------------------


def _descendants(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _strings(root: Node) -> Iterator[Node]:
    for node in _descendants(root):
        if node.type == "string_expression":
            yield node


def _functions_with_formal(
    syntax: Syntax, rel: str, root: Node, name: str
) -> Iterator[tuple[Node, Node]]:
    for node in _descendants(root):
        if node.type != "function_expression":
            continue
        formals = node.child_by_field_name("formals")
        if formals is None:
            continue
        for formal in formals.children_by_field_name("formal"):
            formal_name = formal.child_by_field_name("name")
            if formal_name is not None and syntax.text(rel, formal_name) == name:
                yield node, formal_name


def _inside_function(node: Node) -> bool:
    """Whether a function is written inside another one (not the module's own)."""
    current = node.parent
    while current is not None:
        if current.type == "function_expression" and current.parent is not None:
            if current.parent.type != "source_code":
                return True
        current = current.parent
    return False


def _function_role(written, class_names: set[str]) -> str:
    """``context``, ``module`` or ``unknown``: what a function's formals receive.

    den passes its context to policies, parametric aspects and the functions
    in includes lists; a function anywhere else under ``den`` (a kind's
    module, a class key's module) receives module arguments.
    """
    if written is None:
        return "unknown"
    names = [n for n, _ in written]
    if names[:1] == ["config"]:
        names = names[1:]
    if names[:1] != ["den"]:
        # Outside den's options (or the module's own function): module
        # arguments.
        return "module"
    section = names[1:2]
    rest = names[2:]
    if section == ["policies"]:
        return "context"
    if section in (["aspects"], ["default"]):
        return "module" if any(n in class_names for n in rest) else "context"
    if section == ["schema"] and len(rest) >= 2 and rest[1] in ("includes", "excludes"):
        return "context"
    return "module"


def _attribute_paths(
    syntax: Syntax, rel: str, root: Node, bindings: bool = True
) -> Iterator[list[tuple[str | None, Node]]]:
    """Every attribute path written in the file: selections and module bindings."""
    for node in _descendants(root):
        if node.type == "select_expression":
            parent = node.parent
            if parent is not None and parent.type == "select_expression":
                continue
            written = syntax.select_path(rel, node)
            if written:
                yield written
        elif bindings and node.type == "binding":
            attrpath = node.child_by_field_name("attrpath")
            attrs = attrpath.children_by_field_name("attr") if attrpath else []
            if attrs:
                written = syntax.definition_path(rel, attrs[-1])
                if written:
                    yield written


class _Scope:
    """Uses of a variable in an expression, skipping where a binding shadows it.

    Records each use with the names bound between it and the expression's
    top, which a new name must not take.
    """

    def __init__(self, syntax: Syntax, rel: str):
        self.syntax = syntax
        self.rel = rel
        self.uses: list[tuple[Node, frozenset[str]]] = []

    def walk(self, node: Node, name: str, bound: frozenset[str]) -> None:
        kind = node.type
        if kind == "variable_expression":
            variable = node.child_by_field_name("name")
            if variable is not None and self._text(variable) == name:
                self.uses.append((variable, bound))
            return
        if kind == "function_expression":
            binds = self._function_binds(node)
            if name in binds:
                return
            bound = bound | binds
        elif kind in ("let_expression", "rec_attrset_expression"):
            binds = self._set_binds(node)
            if name in binds:
                if self._inherits(node, name):
                    raise RenameError(
                        f"`inherit {name};` at {self.rel}:{node.start_point[0] + 1} "
                        f"binds `{name}` again from the argument; rename by hand."
                    )
                return
            bound = bound | binds
        elif kind == "inherit":
            # `inherit guest;` in a plain attribute set reads the variable.
            attrs = node.child_by_field_name("attrs")
            for attr in attrs.children_by_field_name("attr") if attrs else ():
                if self._text(attr) == name:
                    self.uses.append((attr, bound))
            return
        for child in node.children:
            if kind in ("binding", "select_expression", "has_attr_expression") and (
                child.type == "attrpath"
            ):
                # Attribute names are not variables; interpolations are.
                for inner in _descendants(child):
                    if inner.type == "interpolation":
                        self.walk(inner, name, bound)
                continue
            self.walk(child, name, bound)

    def _text(self, node: Node) -> str:
        return self.syntax.text(self.rel, node)

    def _function_binds(self, node: Node) -> frozenset[str]:
        names = set()
        universal = node.child_by_field_name("universal")
        if universal is not None:
            names.add(self._text(universal))
        formals = node.child_by_field_name("formals")
        for formal in formals.children_by_field_name("formal") if formals else ():
            formal_name = formal.child_by_field_name("name")
            if formal_name is not None:
                names.add(self._text(formal_name))
        return frozenset(names)

    def _set_binds(self, node: Node) -> frozenset[str]:
        names = set()
        for binding_set in node.children:
            if binding_set.type != "binding_set":
                continue
            for binding in binding_set.named_children:
                if binding.type == "binding":
                    attrpath = binding.child_by_field_name("attrpath")
                    attrs = attrpath.children_by_field_name("attr") if attrpath else []
                    if attrs and attrs[0].type == "identifier":
                        names.add(self._text(attrs[0]))
                elif binding.type in ("inherit", "inherit_from"):
                    attrs = binding.child_by_field_name("attrs")
                    for attr in attrs.children_by_field_name("attr") if attrs else ():
                        names.add(self._text(attr))
        return frozenset(names)

    def _inherits(self, node: Node, name: str) -> bool:
        for binding_set in node.children:
            if binding_set.type != "binding_set":
                continue
            for binding in binding_set.named_children:
                if binding.type == "inherit":
                    attrs = binding.child_by_field_name("attrs")
                    if any(
                        self._text(a) == name
                        for a in (attrs.children_by_field_name("attr") if attrs else ())
                    ):
                        return True
        return False


# -- the protocol ---------------------------------------------------------------------------


def _locations(ls: "DenLanguageServer", project: Project, spans: list[Span]):
    uri_of = ls.uri_function(project)
    return [types.Location(uri=uri_of(s.path), range=to_range(s)) for s in spans]


def _refusal(error: RenameError) -> JsonRpcException:
    return JsonRpcException(
        message=error.message, code=types.LSPErrorCodes.RequestFailed
    )


def register(server: "DenLanguageServer") -> None:
    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    async def definition(ls: "DenLanguageServer", params: types.DefinitionParams):
        position = params.position

        def answer(project: Project, rel: str):
            spans = definitions(project, rel, position.line, position.character)
            return _locations(ls, project, spans) or None

        return await ls.query(params.text_document.uri, answer)

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    async def find_references(ls: "DenLanguageServer", params: types.ReferenceParams):
        position = params.position
        declaration = params.context.include_declaration

        def answer(project: Project, rel: str):
            spans = references(
                project, rel, position.line, position.character, declaration
            )
            return _locations(ls, project, spans)

        return await ls.query(params.text_document.uri, answer)

    @server.feature(
        types.TEXT_DOCUMENT_RENAME, types.RenameOptions(prepare_provider=True)
    )
    async def rename_symbol(ls: "DenLanguageServer", params: types.RenameParams):
        position = params.position

        def answer(project: Project, rel: str):
            try:
                edits = rename(
                    project, rel, position.line, position.character, params.new_name
                )
            except RenameError as error:
                return error
            uri_of = ls.uri_function(project)
            changes: dict[str, list[types.TextEdit]] = {}
            for edit in edits:
                changes.setdefault(uri_of(edit.span.path), []).append(
                    types.TextEdit(range=to_range(edit.span), new_text=edit.new_text)
                )
            return types.WorkspaceEdit(changes=changes)

        result = await ls.query(params.text_document.uri, answer)
        if isinstance(result, RenameError):
            raise _refusal(result)
        return result

    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    async def prepare(ls: "DenLanguageServer", params: types.PrepareRenameParams):
        position = params.position

        def answer(project: Project, rel: str):
            try:
                found = prepare_rename(project, rel, position.line, position.character)
            except RenameError as error:
                return error
            if found is None:
                return None
            span, text = found
            return types.PrepareRenamePlaceholder(
                range=to_range(span), placeholder=text
            )

        result = await ls.query(params.text_document.uri, answer)
        if isinstance(result, RenameError):
            raise _refusal(result)
        return result
