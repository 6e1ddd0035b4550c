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
    # False when the bindings are an expression the reader could not read
    # (`resolve.to "host" hostCfg`): they may hold any key.
    bindings_known: bool = True
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
    # Context keys a policy record declares it binds (``binds = [ ... ]``).
    binds: tuple[str, ...] = ()
    # The attribute set pattern as written (`{ host }`), and the text that
    # opens it (`, ...` written at the span): None without a pattern.
    formals_span: Span | None = None
    open_edit: tuple[Span, str] | None = None


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
    # Whether this definition sets the host's `aspect` (then its aspect need
    # not be `den.aspects.<name>`), and which users set theirs.
    aspect_set: bool = False
    user_aspects: tuple[str, ...] = ()
    # `classes` written on a user, by user name (a literal list or UNKNOWN).
    user_classes: tuple[tuple[str, Literal], ...] = ()


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
class AspectKey:
    """One attribute written in an aspect tree, e.g. ``nixos`` of ``den.aspects.igloo``.

    ``tree`` names the tree: ``("aspects",)`` for ``den.aspects``,
    ``("default",)`` for ``den.default`` (whose root is the aspect itself),
    ``("ful", ns)`` for ``den.ful.<ns>``, ``("ns", name)`` for a top-level
    ``<name>.<aspect>`` that is a namespace if the workspace declares one by
    that name, ``("batteries",)`` for ``den.batteries`` and its aliases, and
    ``("ctx",)`` for ``den.ctx``. ``path`` runs from the tree root to the key.

    ``shape`` is what the value is as written: ``attrs`` (an attribute set,
    walked further), ``function``, ``data`` (a string, number, list, path or
    boolean) or ``opaque`` (a call, a variable, an import: anything the
    reader cannot look into).
    """

    tree: tuple[str, ...]
    path: tuple[str, ...]
    span: Span
    shape: str
    maybe: bool = False


@dataclass(frozen=True)
class Reference:
    """A select expression or angle-bracket path that reads a den name.

    ``path`` is the attribute path after the module argument as written:
    ``("aspects", "a", "b")`` for ``den.aspects.a.b`` (``config.`` dropped),
    ``("lib", "parametric", "atLeast")`` for ``den.lib.parametric.atLeast``.
    ``root`` is the variable the path starts from (``den``, or any other
    name for references like ``host.deliveredChildren``); ``bracket`` holds
    the text inside ``< >`` for an angle-bracket path (``den/hostname``), and
    ``findfile`` whether the file has ``__findFile`` for it to resolve through
    den.
    """

    root: str
    path: tuple[str, ...]
    span: Span
    bracket: str | None = None
    findfile: bool = False


@dataclass(frozen=True)
class Named:
    """A name declared somewhere: a quirk, a namespace, a reserved key."""

    name: str
    span: Span


@dataclass(frozen=True)
class Namespace:
    """``inputs.den.namespace "<name>" <sources>``: a namespace of aspects.

    ``external`` is true when the sources name other flakes (their aspects
    are outside the workspace), false for ``true``/``false`` (a local
    namespace) and None when the reader cannot tell.
    """

    name: str
    span: Span
    external: bool | None


@dataclass(frozen=True)
class Forward:
    """A ``den.batteries.forward { ... }`` call (or an alias): its classes."""

    from_class: Literal
    into_class: Literal
    span: Span
    from_span: Span | None = None


@dataclass(frozen=True)
class ApiUse:
    """Use of a den API that some generation removed or deprecated.

    ``api`` is one of ``den.stages``, ``den.deliveredChild``,
    ``host.deliveredChildren``, ``den.ctx``, ``den.lib.parametric``,
    ``den.lib.take``.
    """

    api: str
    span: Span
    detail: str = ""


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
    aspect_keys: tuple[AspectKey, ...] = ()
    references: tuple[Reference, ...] = ()
    quirks: tuple[Named, ...] = ()
    reserved_keys: tuple[Named, ...] = ()
    namespaces: tuple[Namespace, ...] = ()
    forwards: tuple[Forward, ...] = ()
    api_uses: tuple[ApiUse, ...] = ()
    # Option names the file declares for removed den API
    # (`options.den.deliveredChild`, a `deliveredChildren` host option).
    declared_api: frozenset[str] = field(default_factory=frozenset)
    # Names written as attribute keys or inherited anywhere in the file:
    # whatever binds a context key (`{ hosts = ...; }`) writes it this way.
    bound_names: frozenset[str] = field(default_factory=frozenset)
    # Top-level module imports the workspace cannot see into: flake modules of
    # inputs other than den and well-known non-den ones, or computed imports.
    external_imports: tuple[Named, ...] = ()
    # How often each word (identifier or string-like token) occurs in the
    # file, comments included, counted up to 3. Rules use it to stay silent
    # when a name they would report occurs somewhere they cannot interpret.
    words: dict[str, int] = field(default_factory=dict, compare=False, hash=False)
