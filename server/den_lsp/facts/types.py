"""Facts: what one file says about den, as immutable data with source spans.

A fact records only what the file states. Where a value cannot be known
without evaluating Nix (a computed name, a function argument), the fact holds
``UNKNOWN`` instead of a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from den_lsp.syntax.span import Span


class _Unknown:
    """A value the static reader cannot determine."""

    _instance: "_Unknown | None" = None

    def __new__(cls) -> "_Unknown":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()

# A literal value as far as the reader could take it: strings, booleans,
# numbers, null (None), lists of those, or UNKNOWN.
Literal = Union[str, bool, int, float, None, tuple, _Unknown]


@dataclass(frozen=True)
class InsertionPoint:
    """Where a new binding can be written into an attribute set.

    ``text_before`` goes in front of the new binding (a newline and the
    indentation of the neighbouring bindings, or a space on one-line sets);
    ``prefix`` is the attribute path to repeat for dotted style, such as
    ``den.schema.guest.`` when the file writes ``den.schema.guest.x = ...;``.
    """

    span: Span
    text_before: str
    prefix: str = ""

    def binding(self, name: str, value: str) -> str:
        return f"{self.text_before}{self.prefix}{name} = {value};"


@dataclass(frozen=True)
class PolicyRef:
    """An item of an includes or excludes list, as far as it can be named.

    ``target`` is ``("policy", name)``, ``("aspect", *path)``,
    ``("inline", policy_id)`` for a function written in place, or
    ``("unknown",)``.
    """

    target: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class Field:
    """One field of an effect's attribute set, e.g. ``collectSubtree = true``."""

    name: str
    value: Literal
    key_span: Span
    value_span: Span


@dataclass(frozen=True)
class Effect:
    """A policy effect: ``route``, ``deliver``, ``resolve``, ``include``, ...

    ``span`` covers the constructor as written (``route``,
    ``den.lib.policy.resolve.to``), not the whole call.

    ``constructor`` is the den name of what was called (``route``,
    ``resolve.to.withIncludes``, ...). ``maybe`` is true when the effect sits
    under a condition (``if``, ``lib.optional``, ``lib.mkIf``).
    """

    constructor: str
    span: Span
    maybe: bool
    fields: tuple[Field, ...] = ()
    # resolve: the kind it creates (None for a plain resolve, UNKNOWN when
    # computed) and the span of the kind argument.
    target_kind: Literal = None
    target_span: Span | None = None
    binding_keys: tuple[str, ...] = ()
    with_includes: tuple[PolicyRef, ...] = ()
    # route/deliver: where a new field can be written.
    insertion: InsertionPoint | None = None
    # resolve: where each binding key is written (`guest` in
    # `{ guest = ...; }` or `{ inherit guest; }`), when the bindings are read.
    binding_spans: tuple[tuple[str, Span], ...] = ()

    @property
    def family(self) -> str:
        return self.constructor.split(".", 1)[0]

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


@dataclass(frozen=True)
class Policy:
    """A policy function: registered under ``den.policies`` or written inline.

    ``policy_id`` is unique in the workspace: ``name`` for a registered
    policy, ``path:offset`` for an inline one.
    """

    policy_id: str
    name: str | None
    span: Span
    args: tuple[str, ...]
    required_args: tuple[str, ...]
    open_args: bool
    effects: tuple[Effect, ...]
    registered: bool
    # Where each argument is written in the formals, by name.
    arg_spans: tuple[tuple[str, Span], ...] = ()


@dataclass(frozen=True)
class KindSite:
    """One definition of ``den.schema.<kind>``: where it is and how to add to it."""

    kind: str
    span: Span
    insertion: InsertionPoint | None


# The name of a KindField recording a definition the reader could not look
# into (a function module, `base // { ... }`, an import): it may set any field.
OPAQUE = "<opaque>"


@dataclass(frozen=True)
class KindField:
    """A field of ``den.schema.<kind>``: isEntity, parent, isolated, ..."""

    kind: str
    name: str
    value: Literal
    span: Span
    value_span: Span
    maybe: bool = False


@dataclass(frozen=True)
class Include:
    """An item placed into an includes/excludes list of a kind or aspect.

    ``owner`` is ``("schema", kind)``, ``("default",)`` or
    ``("aspect", *path)``; ``relation`` is ``includes`` or ``excludes``.
    """

    owner: tuple[str, ...]
    relation: str
    item: PolicyRef


@dataclass(frozen=True)
class ClassDecl:
    name: str
    span: Span


@dataclass(frozen=True)
class Host:
    name: str
    system: Literal
    span: Span
    host_class: Literal = None
    into_attr: Literal = None
    users: tuple[str, ...] = ()
    # Where each user's name is written, when the users set is literal.
    user_spans: tuple[tuple[str, Span], ...] = ()


@dataclass(frozen=True)
class Home:
    name: str
    system: Literal
    span: Span


@dataclass(frozen=True)
class Aspect:
    """A definition of ``den.aspects.<path>`` and the keys it writes."""

    path: tuple[str, ...]
    span: Span
    keys: tuple[tuple[str, Span], ...] = ()


@dataclass(frozen=True)
class FileFacts:
    """Everything extracted from one file."""

    path: str
    policies: tuple[Policy, ...] = ()
    kind_sites: tuple[KindSite, ...] = ()
    kind_fields: tuple[KindField, ...] = ()
    includes: tuple[Include, ...] = ()
    classes: tuple[ClassDecl, ...] = ()
    hosts: tuple[Host, ...] = ()
    homes: tuple[Home, ...] = ()
    aspects: tuple[Aspect, ...] = ()
    # Effects written outside any recognisable policy, e.g. in a helper
    # function whose callers are elsewhere. Kept for hover and for field
    # checks that do not need to know where the effect fires.
    loose_effects: tuple[Effect, ...] = ()
    uses: frozenset[str] = field(default_factory=frozenset)
    # den sections (`schema`, `policies`, ...) that some definition computes,
    # so the model cannot know every name in them.
    open_sections: frozenset[str] = field(default_factory=frozenset)
