"""Completion of den's names and fields, on half-typed lines.

The file being typed in rarely parses, so completion reads the text before
the cursor with a small tokenizer instead of the syntax tree: it follows
braces, brackets, strings and comments from the top of the file and knows,
at the cursor, the attribute path being written (``den.schema.guest.``,
or ``isol`` inside ``den.schema.guest = {``), the function an attribute set
is passed to (``route {``), and the string the cursor sits in with the text
in front of it (``resolve.to "``). The names it offers come from the model
of the whole configuration.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lsprotocol import types

from den_lsp.features.diagnostics import to_range
from den_lsp.features.hover import (
    aspect_hover,
    class_hover,
    kind_hover,
    plain_text,
    policy_hover,
)
from den_lsp.features.index import SymbolIndex, index_for
from den_lsp.features.project import Project
from den_lsp.model.builtins import BUILTIN_CLASSES, BUILTIN_POLICIES
from den_lsp.model.model import Model
from den_lsp.syntax.span import Span

if TYPE_CHECKING:
    from den_lsp.server import DenLanguageServer

TRIGGER_CHARACTERS = [".", '"']
# Completions sent at most: a configuration of thousands of aspects would
# otherwise send them all, megabytes, on every `den.aspects.` typed.
MAX_ITEMS = 50

# -- what each field means, in the words a user reads in the completion list --

ROUTE_FIELD_DOCS = {
    "fromClass": "The class whose content the route collects, e.g. `nixos`.",
    "intoClass": (
        "The class that receives what the route collected. `flake` makes it a "
        "flake output (and always collects the whole subtree)."
    ),
    "path": (
        "Where the result is nested in `intoClass`: `[ ]` merges it at the class "
        'root; `[ "microvm" "vms" name "config" ]` nests it there.'
    ),
    "intoPath": "Another name for `path`; give one of the two, not both.",
    "collectSubtree": (
        "Collect from the scope where the policy fires and every scope below "
        "it, skipping isolated kinds and everything under them."
    ),
    "appendToParent": (
        "Append the result at the parent of the scope where the policy fires "
        "instead of that scope itself: how an isolated kind's content reaches "
        "its parent."
    ),
    "reinstantiate": (
        "Hand the collected modules over unevaluated, by reference: for slots "
        "that evaluate their payload as a system of its own "
        "(`microvm.vms.<name>.config`, `containers.<name>.config`)."
    ),
    "collectScopeId": (
        "The kind whose scope the route collects from, while its result is "
        "still appended where the policy fires (the isolation design)."
    ),
    "guard": (
        "A function of the target's module arguments; where it returns false, "
        "the route's content is dropped."
    ),
    "adaptArgs": (
        "A function of the module arguments: with a non-empty path, the special "
        "arguments of the nested evaluation; with `path = [ ]`, a rewrite of "
        "the modules' arguments."
    ),
    "instantiate": (
        "A function called with `{ modules; }`; its result is placed at `path`."
    ),
    "sourceScopeId": (
        "The scope the route collects from and appends to. den sets it to the "
        "scope where the policy fires."
    ),
}
# Route fields den's forwards set for the routes they compile; accepted from
# users, rarely written by hand, so listed after the others.
FORWARD_FIELD_DOC = (
    "Set by den for the routes it compiles from forwards; rarely written by hand."
)

DELIVER_FIELD_DOCS = {
    "from": (
        "The class to collect, as a string; or `{ module = ...; }` to provide one "
        "module instead."
    ),
    "to": "The class that receives the result.",
    "at": "The path in `to` where the result lands; `[ ]` (the default) merges it.",
    "mode": (
        '`"merge"` (the default), `"nest"`, or `"verbatim"`: hand the modules '
        "over unevaluated, for slots that evaluate them again."
    ),
    "guard": ROUTE_FIELD_DOCS["guard"],
    "adaptArgs": ROUTE_FIELD_DOCS["adaptArgs"],
}

SCHEMA_FIELD_DOCS = {
    "isEntity": (
        "Make the kind an entity explicitly. Without it, den counts a kind as "
        "an entity when a definition sets anything besides `includes`, "
        "`excludes`, `isEntity`, `isolated`, `parent` and `collisionPolicy`."
    ),
    "parent": (
        'The kind this one sits under, by name (`"host"`): den\'s declared '
        "topology, read for relationship fan-out."
    ),
    "isolated": (
        "Keep this kind's content out of its ancestors: a host's extraction and "
        "subtree routes stop at its scopes. It reaches the parent only through "
        "a route fired inside it with `appendToParent`."
    ),
    "includes": "Aspects and policies activated at every scope of this kind.",
    "excludes": "Aspects and policies suppressed at the scopes of this kind.",
}

# Keys an aspect reads itself; the rest of an aspect path is its name.
_STRUCTURAL_KEYS = frozenset(
    {"name", "description", "meta", "includes", "excludes", "provides", "_"}
    | {"policies", "into", "classes", "_module"}
)
# nixpkgs functions that pass an attribute set through to the option they
# define, so `den.aspects.a = lib.mkIf c { ... }` still writes aspect `a`.
_PASS_THROUGH = frozenset(
    {"mkIf", "mkMerge", "mkDefault", "mkForce", "mkBefore", "mkAfter"}
    | {"mkOverride", "optionalAttrs", "mkOrder"}
)


# -- reading the text before the cursor --------------------------------------------


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*")
_OPERATORS = ("...", "==", "!=", "<=", ">=", "&&", "||", "->", "//", "++")
# Tokens after which a new expression starts: an identifier there begins a
# function call or a value, not an argument.
_EXPRESSION_START = frozenset(
    {"=", "(", "[", ":", ";", "in", "then", "else", "if", "assert", "with"}
    | {"++", "//", "==", "!=", "&&", "||", "->", "!", "-", "+", "*", "/", ","}
    | {"<", ">", "<=", ">=", "?", "or"}
)


@dataclass
class _Frame:
    """An open ``{``, ``[``, ``(``, ``let`` or ``${`` and what is being written in it."""

    opener: str  # "top", "{", "[", "(", "let" or "${"
    # The attribute path whose value this set is; the top of the file is a
    # module, so its sets are at the root. None where it cannot be told.
    path: tuple[str, ...] | None
    # The function this attribute set is passed to (`route`), if any.
    head: str | None = None
    # The attribute path of the binding being written, before its `=`.
    pending: list[str | None] = field(default_factory=list)
    assigned: bool = False
    # The path of the value being written, after the `=`.
    value_path: tuple[str, ...] | None = None
    keys: set[str] = field(default_factory=set)
    # Every attribute path bound in this set so far (`isEntity` and
    # `den.schema.guest.isolated` alike), relative to the set.
    written: set[tuple[str, ...]] = field(default_factory=set)
    formals: bool = False
    previous: str | None = None
    # The function being called in the current expression (`den.lib.policy.
    # route`), while its name is still being read or its arguments follow.
    call: list[str] = field(default_factory=list)
    call_open: bool = False
    # `with x;` and `assert c;` inside a binding's value end with a `;` that
    # does not end the binding.
    semicolons_owed: int = 0
    # For `${`: the string it interrupts, resumed at its `}`.
    string: tuple[str, int, bool] | None = None

    @property
    def binds(self) -> bool:
        return self.opener in ("{", "let")

    def statement_start(self) -> None:
        self.pending = []
        self.assigned = False
        self.value_path = None
        self.call = []
        self.call_open = False


_KEY_START = (None, "{", ";", ".", "let", "rec")


@dataclass
class CursorContext:
    """What surrounds the cursor, as far as the text before it shows."""

    frames: list[_Frame]
    in_comment: bool = False
    # In a string: the byte offset where its text starts (after the quote).
    string_start: int | None = None
    # The identifier characters right before the cursor.
    word: str = ""

    @property
    def frame(self) -> _Frame:
        return self.frames[-1]

    @property
    def key_position(self) -> bool:
        """Whether the cursor is where an attribute name goes."""
        frame = self.frame
        return (
            self.string_start is None
            and not self.in_comment
            and frame.binds
            and not frame.assigned
            and not frame.formals
            and frame.previous in _KEY_START
        )

    @property
    def key_path(self) -> list[str | None]:
        """The attribute path written so far at a key position, before the word.

        A set whose place is unknown (an element of a list, say) is read as a
        module of its own: `den.` in it starts at the root.
        """
        frame = self.frame
        return [*(frame.path or ()), *frame.pending]


def read_context(source: bytes, offset: int) -> CursorContext:
    """Follow the text from the top of the file to ``offset``."""
    text = source[:offset].decode("utf-8", "surrogateescape")
    frames = [_Frame("top", (), value_path=())]
    context = CursorContext(frames)
    # Open strings: the quote that closes each, where its text starts, and
    # whether it is still plain text (no interpolation).
    strings: list[tuple[str, int, bool]] = []
    position = 0
    length = len(text)

    while position < length:
        if strings:
            quote, start, plain = strings[-1]
            if quote == '"' and text[position] == "\\":
                position += 2
                continue
            if quote == "''" and text.startswith(("'''", "''$", "''\\"), position):
                position += 3
                continue
            if text.startswith(quote, position):
                strings.pop()
                _after_string(frames, text[start:position] if plain else None)
                position += len(quote)
                continue
            if text.startswith("${", position):
                strings.pop()
                frames.append(_Frame("${", None, string=(quote, start, False)))
                position += 2
                continue
            position += 1
            continue

        char = text[position]
        if char in " \t\r\n":
            position += 1
            continue
        if char == "#" or text.startswith("/*", position):
            closing = "\n" if char == "#" else "*/"
            end = text.find(closing, position + 1)
            if end == -1:
                context.in_comment = True
                break
            position = end + len(closing)
            continue
        if char == '"' or text.startswith("''", position):
            quote = '"' if char == '"' else "''"
            _before_string(frames)
            position += len(quote)
            strings.append((quote, position, True))
            continue
        if char == "}" and frames[-1].opener == "${":
            interpolation = frames.pop()
            strings.append(interpolation.string)
            position += 1
            continue
        match = _IDENT.match(text, position)
        if match:
            _identifier(frames, match.group())
            position = match.end()
            continue
        if char.isdigit():
            while position < length and (
                text[position].isalnum() or text[position] == "."
            ):
                position += 1
            _value(frames[-1], "0")
            continue
        operator = next(
            (op for op in _OPERATORS if text.startswith(op, position)), char
        )
        _punctuation(frames, operator)
        position += len(operator)

    if strings:
        start = strings[-1][1]
        context.string_start = len(text[:start].encode("utf-8", "surrogateescape"))
    if context.in_comment:
        return context
    word = re.search(r"[A-Za-z0-9_'-]*$", text)
    context.word = word.group() if word else ""
    frame = frames[-1]
    if (
        context.word
        and frame.previous == "key"
        and frame.pending
        and frame.pending[-1] == context.word
    ):
        # The word under the cursor was read as the binding's last name; it
        # is what is being completed, not part of the path.
        frame.pending.pop()
        frame.previous = "." if frame.pending else frame.opener
    return context


def _before_string(frames: list[_Frame]) -> None:
    frame = frames[-1]
    if (
        frame.binds
        and not frame.assigned
        and not frame.formals
        and frame.previous in _KEY_START
    ):
        frame.previous = "string-key"
    else:
        frame.call_open = False


def _after_string(frames: list[_Frame], content: str | None) -> None:
    frame = frames[-1]
    if frame.previous == "string-key":
        frame.pending.append(content)
        frame.previous = "key"
        return
    _value(frame, '"')


def _value(frame: _Frame, token: str) -> None:
    frame.call_open = False
    frame.previous = token


def _identifier(frames: list[_Frame], name: str) -> None:
    frame = frames[-1]
    if name == "let":
        frames.append(_Frame("let", None, previous="let"))
        return
    if name == "in" and frame.opener == "let":
        frames.pop()
        frames[-1].previous = "in"
        frames[-1].call_open = False
        return
    if name in ("rec", "with", "assert", "if", "then", "else", "in", "or"):
        if name in ("with", "assert") and frame.binds and frame.assigned:
            frame.semicolons_owed += 1
        frame.previous = name
        frame.call_open = False
        return
    if frame.binds and not frame.assigned and not frame.formals:
        if name == "inherit" and not frame.pending:
            frame.assigned = True  # `inherit a b;` writes no path of its own
            frame.previous = name
            return
        if frame.previous in _KEY_START:
            frame.pending.append(name)
            frame.previous = "key"
            return
    if frame.previous == "." and frame.call_open:
        frame.call.append(name)
    elif frame.previous is None or frame.previous in _EXPRESSION_START:
        frame.call = [name]
        frame.call_open = True
    else:
        frame.call_open = False  # an argument: the call's name is complete
    frame.previous = "ident"


def _punctuation(frames: list[_Frame], token: str) -> None:
    frame = frames[-1]
    if token == "." and frame.previous in ("key", "ident"):
        frame.previous = "."
        return
    if token == "=" and frame.binds and not frame.assigned:
        frame.assigned = True
        pending = frame.pending
        if pending and isinstance(pending[0], str):
            frame.keys.add(pending[0])
        if pending and None not in pending:
            frame.written.add(tuple(pending))  # type: ignore[arg-type]
        if frame.opener == "{" and frame.path is not None and None not in pending:
            frame.value_path = (*frame.path, *pending)  # type: ignore[arg-type]
        frame.previous = "="
        frame.call = []
        return
    if token == ";" and frame.binds:
        if frame.semicolons_owed:
            frame.semicolons_owed -= 1
        else:
            frame.statement_start()
        frame.previous = ";"
        return
    if token in (",", "...", "?", "@") and frame.binds and not frame.assigned:
        frame.formals = True
        frame.previous = token
        return
    if token == "{":
        frames.append(_open_set(frame))
        return
    if token in ("[", "("):
        frames.append(_Frame(token, None, value_path=frame.value_path, previous=token))
        frame.call_open = False
        return
    if token in ("}", "]", ")"):
        if len(frames) > 1 and frame.opener != "${":
            closed = frames.pop()
            if closed.opener == "let" and len(frames) > 1:
                frames.pop()  # a `let` left without its `in`
        frames[-1].previous = token
        frames[-1].call_open = False
        return
    frame.previous = token
    frame.call_open = False


def _open_set(frame: _Frame) -> _Frame:
    """The frame of a ``{`` opened in ``frame``."""
    if frame.binds and not frame.assigned:
        # A function's formals (`{ host, ... }:`), or a set where a name
        # belongs (a syntax error being typed): no path either way.
        return _Frame("{", None, previous="{")
    path = frame.value_path if frame.opener != "let" else None
    head = None
    name = frame.call[-1] if frame.call else None
    if frame.call_open and name not in _PASS_THROUGH:
        # The set is a function's argument: `route {`, `mkPolicy {`.
        head, path = name, None
    frame.call_open = False
    return _Frame("{", path, head=head, previous="{")


# -- what to offer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    label: str
    category: str  # kind, class, policy, aspect, field
    detail: str | None
    documentation: str | None
    # The text the completion replaces: from here to the cursor.
    replace: Span
    sort: str = ""
    # For clients that take snippets: the whole binding, with tab stops
    # (`isolated = ${1:true};$0`). None where only the name fits, such as a
    # name whose `=` is already written after the cursor.
    snippet: str | None = None


_POLICIES = re.compile(r"(?<![\w'.-])(?:config\.)?den\.policies\.([A-Za-z0-9_'-]*)$")
_ASPECTS = re.compile(
    r"(?<![\w'.-])(?:config\.)?den\.aspects\.((?:[A-Za-z0-9_'-]+\.)*[A-Za-z0-9_'-]*)$"
)
_SCHEMA = re.compile(r"(?<![\w'.-])(?:config\.)?den\.schema\.([A-Za-z0-9_'-]*)$")
_RESOLVE_STRING = re.compile(r"\bresolve(?:\.shared)?\.to(?:\.withIncludes)?\s*$")
# A string that is the value of one of these fields, written before it.
_FIELD_STRING = re.compile(
    r"\b(parent|collectScopeId|fromClass|intoClass|from|to|class)\s*=\s*$"
)
_KIND_FIELDS = frozenset({"parent", "collectScopeId"})
# `from` and `to` are common words; they name classes only in `deliver`.
_DELIVER_ONLY = frozenset({"from", "to"})

# The value a field's snippet starts with, by the type den reads.
_SNIPPET_VALUES = {
    **dict.fromkeys(
        ("fromClass", "intoClass", "from", "to", "mode", "parent", "collectScopeId"),
        '"$1"',
    ),
    **dict.fromkeys(("path", "intoPath", "at", "includes", "excludes"), "[ $1 ]"),
    **dict.fromkeys(
        ("collectSubtree", "appendToParent", "reinstantiate", "isolated", "isEntity"),
        "${1:true}",
    ),
}


def completions_at(
    project: Project, rel: str, line: int, character: int
) -> list[Completion]:
    """What can be written at the cursor, best first."""
    return completion_list(project, rel, line, character)[0]


def completion_list(
    project: Project, rel: str, line: int, character: int, limit: int | None = None
) -> tuple[list[Completion], bool]:
    """The first ``limit`` completions at the cursor, and whether some were left out.

    Only aspects come by the thousand. Where some must be left out, those
    whose name does not hold the word typed so far (its characters in order,
    as editors filter) go first: the editor would not show them anyway.
    """
    cut = _Cut(limit)
    found = _completions(project, rel, line, character, cut)
    found.sort(key=lambda c: (c.sort, c.label))
    if limit is not None and len(found) > limit:
        del found[limit:]
        cut.left_out = True
    return found, cut.left_out


@dataclass
class _Cut:
    """How many completions to make at most, and whether some were left out."""

    limit: int | None
    left_out: bool = False


def _completions(
    project: Project, rel: str, line: int, character: int, cut: _Cut
) -> list[Completion]:
    state = project.files.get(rel)
    index = index_for(project, rel)
    if state is None or index is None:
        return []
    model = index.model
    offset = state.index.offset(line, character)
    context = read_context(state.source, offset)
    if context.in_comment:
        return []

    def span_back(length: int) -> Span:
        return state.index.span(rel, offset - length, offset)

    if context.string_start is not None:
        typed = state.source[context.string_start : offset].decode("utf-8", "replace")
        if not re.fullmatch(r"[A-Za-z0-9_'-]*", typed):
            return []
        before = state.source[
            max(0, context.string_start - 200) : context.string_start - 1
        ]
        return _in_string(
            model, context, before.decode("utf-8", "replace"), span_back(len(typed))
        )

    before = state.source[max(0, offset - 300) : offset].decode("utf-8", "replace")
    word = context.word
    if (match := _POLICIES.search(before)) is not None:
        return _policies(model, span_back(len(match.group(1).encode())))
    if (match := _ASPECTS.search(before)) is not None and not context.key_position:
        typed = match.group(1)
        return _aspects(index, typed, span_back(len(typed.encode())), cut=cut)
    if (match := _SCHEMA.search(before)) is not None and not context.key_position:
        return _kinds(model, span_back(len(match.group(1).encode())))
    if not context.key_position:
        return []

    frame = context.frame
    replace = span_back(len(word.encode()))
    # A binding whose `=` already follows the cursor gets its name only.
    bind = not _continues(state.source, offset)
    if frame.head in ("route", "deliver") and not frame.pending:
        return _fields(model, frame.head, _written_under(frame, ()), replace, bind)
    path = context.key_path
    if any(p is None for p in path):
        return []
    names = [p for p in path if p is not None]
    written = _written_under(frame, tuple(names))
    if names[:1] == ["config"]:
        names = names[1:]
    if names == ["den", "policies"]:
        return _policies(model, replace)
    if names == ["den", "schema"]:
        return _kinds(model, replace)
    if len(names) == 3 and names[:2] == ["den", "schema"]:
        return _schema_fields(written, replace, bind)
    if names == ["den", "default"]:
        return _classes(model, replace, exclude=written)
    if names[:2] == ["den", "aspects"]:
        below = names[2:]
        # Elements of the aspect path written in enclosing sets
        # (`den.aspects.igloo = { ... }`) are not in front of the cursor:
        # the sub-aspect's label and edit start after them.
        outside = below[: max(0, len(below) - len(frame.pending))]
        typed = ".".join([*below[len(outside) :], word])
        aspects = _aspects(
            index,
            ".".join([*outside, typed]),
            span_back(len(typed.encode())),
            outside,
            cut,
        )
        classes = set(model.classes) | BUILTIN_CLASSES
        if below and not any(n in classes or n in _STRUCTURAL_KEYS for n in below):
            return _classes(model, replace, exclude=written) + aspects
        return aspects
    return []


def _in_string(
    model: Model, context: CursorContext, before: str, replace: Span
) -> list[Completion]:
    """Names for the string at the cursor, by what the text before it calls it."""
    if _RESOLVE_STRING.search(before):
        return _kinds(model, replace)
    match = _FIELD_STRING.search(before)
    if match is None:
        return []
    name = match.group(1)
    frame = context.frame
    if name in _DELIVER_ONLY and frame.head != "deliver":
        return []
    if name == "parent":
        # `parent` names a kind only in `den.schema.<kind>`; elsewhere it is
        # some other option's. A set whose place is unknown may be either.
        if frame.path is None or None in frame.pending:
            return _kinds(model, replace)
        full = [*frame.path, *frame.pending]
        if full[:1] == ["config"]:
            full = full[1:]
        if len(full) != 4 or full[:2] != ["den", "schema"] or full[3] != "parent":
            return []
        # A kind is not its own parent.
        return [k for k in _kinds(model, replace) if k.label != full[2]]
    if name in _KIND_FIELDS:
        return _kinds(model, replace)
    return _classes(model, replace)


def _written_under(frame: _Frame, path: tuple[str, ...]) -> set[str]:
    """The names the cursor's set already binds under ``path``.

    ``path`` runs from the module's top (or from the set itself, for a set
    whose place is unknown); ``isEntity`` for ``den.schema.guest`` whether the
    file wrote ``den.schema.guest = { isEntity = ...; }`` or
    ``den.schema.guest.isEntity = ...;`` in the same set.
    """
    own = frame.path or ()
    names = set()
    for written in frame.written:
        full = (*own, *written)
        if len(full) > len(path) and full[: len(path)] == path:
            names.add(full[len(path)])
    return names


def _continues(source: bytes, offset: int) -> bool:
    """Whether the binding's `=` (or the rest of its path) follows the cursor."""
    rest = source[offset : offset + 200].decode("utf-8", "replace")
    rest = re.sub(r"^[A-Za-z0-9_'-]*[ \t]*", "", rest)
    return rest.startswith(("=", ".")) and not rest.startswith("==")


def _snippet(name: str) -> str:
    return f"{name} = {_SNIPPET_VALUES.get(name, '$1')};$0"


def _kinds(model: Model, replace: Span) -> list[Completion]:
    return [
        Completion(
            name,
            "kind",
            _kind_detail(model, name),
            kind_hover(model, name),
            replace,
            "0" if not kind.builtin else "1",
        )
        for name, kind in sorted(model.kinds.items())
        if kind.declared and name not in ("conf", "aspect", "default")
    ]


def _kind_detail(model: Model, name: str) -> str:
    kind = model.kinds[name]
    marks = ["kind"]
    if kind.builtin:
        marks.append("built in")
    if kind.isolated:
        marks.append("isolated")
    if kind.parent:
        marks.append(f"parent {kind.parent}")
    return ", ".join(marks)


def _classes(
    model: Model, replace: Span, exclude: set[str] | frozenset[str] = frozenset()
) -> list[Completion]:
    names = (set(model.classes) | BUILTIN_CLASSES) - set(exclude)
    return [
        Completion(
            name,
            "class",
            "class" if model.classes.get(name) else "class, built in",
            class_hover(model, name),
            replace,
            "0" if model.classes.get(name) else "1",
        )
        for name in sorted(names)
    ]


def _policies(model: Model, replace: Span) -> list[Completion]:
    own = {p.policy_id for p in model.policies.values() if p.registered and p.name}
    own = {name for name in own if "." not in name}
    items = [
        Completion(name, "policy", "policy", policy_hover(model, name), replace, "0")
        for name in sorted(own)
    ]
    items += [
        Completion(name, "policy", "policy, built in", None, replace, "1")
        for name in sorted(BUILTIN_POLICIES - own)
    ]
    return items


def _aspects(
    index: SymbolIndex,
    typed: str,
    replace: Span,
    outside: list[str] | None = None,
    cut: _Cut | None = None,
) -> list[Completion]:
    """Aspect paths that continue ``typed``, labelled after ``outside``'s elements."""
    model = index.model
    paths = _aspect_paths(model)
    if "." in typed:
        parent = typed.rsplit(".", 1)[0] + "."
        # The paths under `parent`, a run of the sorted list.
        start = bisect.bisect_left(paths, parent)
        end = bisect.bisect_left(paths, parent + "\U0010ffff", start)
        paths = paths[start:end]
    else:
        parent = ""
    if cut is not None and cut.limit is not None and len(paths) > cut.limit:
        word = typed[len(parent) :].lower()
        cut.left_out = True
        matching = []
        for path in paths:
            if _holds_in_order(path[len(parent) :].lower(), word):
                matching.append(path)
                if len(matching) > cut.limit:
                    break  # more than can be offered: the rest is not read
        paths = matching
    skip = len(".".join(outside)) + 1 if outside else 0
    described = model.cache.setdefault("completion: aspect docs", {})
    items = []
    for path in paths:
        if path not in described:
            described[path] = aspect_hover(model, path, index)
        items.append(
            Completion(path[skip:], "aspect", "aspect", described[path], replace, "2")
        )
    return items


def _aspect_paths(model: Model) -> list[str]:
    """Every aspect path completion offers, sorted; read once per model."""
    paths = model.cache.get("completion: aspect paths")
    if paths is None:
        # den makes an aspect for every host and user, and includes the key
        # of a host's aspect named after one of its users at that user's scope.
        found = {".".join(a.path) for a in model.aspects}
        found |= {h.name for h in model.hosts}
        found |= {u for h in model.hosts for u in h.users}
        found |= {f"{h.name}.{u}" for h in model.hosts for u in h.users}
        paths = model.cache["completion: aspect paths"] = sorted(found)
    return paths


def _holds_in_order(name: str, word: str) -> bool:
    """Whether ``word``'s characters occur in ``name`` in order."""
    at = 0
    for char in word:
        at = name.find(char, at) + 1
        if at == 0:
            return False
    return True


def _fields(
    model: Model, head: str, written: set[str], replace: Span, bind: bool
) -> list[Completion]:
    profile = model.profile

    def item(name: str, detail: str, doc: str, sort: str) -> Completion:
        snippet = _snippet(name) if bind else None
        return Completion(name, "field", detail, doc, replace, sort, snippet)

    if head == "deliver":
        if not profile.has_deliver:
            return []
        return [
            item(name, "deliver field", doc, "0")
            for name, doc in DELIVER_FIELD_DOCS.items()
            if name in profile.deliver_fields and name not in written
        ]
    items = []
    for name in sorted(profile.route_fields - written):
        doc = ROUTE_FIELD_DOCS.get(name)
        sort = "0" if doc and name != "sourceScopeId" else "1"
        items.append(item(name, "route field", doc or FORWARD_FIELD_DOC, sort))
    return items


def _schema_fields(written: set[str], replace: Span, bind: bool) -> list[Completion]:
    return [
        Completion(
            name,
            "field",
            "den.schema field",
            doc,
            replace,
            "0",
            _snippet(name) if bind else None,
        )
        for name, doc in SCHEMA_FIELD_DOCS.items()
        if name not in written
    ]


# -- the protocol ----------------------------------------------------------------------------

_ITEM_KINDS = {
    "kind": types.CompletionItemKind.Struct,
    "class": types.CompletionItemKind.Class,
    "policy": types.CompletionItemKind.Function,
    "aspect": types.CompletionItemKind.Module,
    "field": types.CompletionItemKind.Field,
}


# The completion item kinds every client knows (Text to Reference).
_BASE_ITEM_KINDS = frozenset(range(1, 19))


def _item_kinds(ls: "DenLanguageServer") -> set[int]:
    capabilities = ls.client_capabilities.text_document
    completion = capabilities.completion if capabilities is not None else None
    kinds = completion.completion_item_kind if completion is not None else None
    return set(kinds.value_set) if kinds and kinds.value_set else set(_BASE_ITEM_KINDS)


def _documentation_format(ls: "DenLanguageServer") -> str | None:
    """Markdown or plain text, as the client takes completion documentation.

    None for a client that lists no format: it gets a plain string.
    """
    capabilities = ls.client_capabilities.text_document
    completion = capabilities.completion if capabilities is not None else None
    item = completion.completion_item if completion is not None else None
    formats = (item.documentation_format if item is not None else None) or ()
    for wanted in (types.MarkupKind.Markdown, types.MarkupKind.PlainText):
        if wanted in formats:
            return wanted
    return None


def _wants_snippets(ls: "DenLanguageServer") -> bool:
    capabilities = ls.client_capabilities.text_document
    completion = capabilities.completion if capabilities is not None else None
    item = completion.completion_item if completion is not None else None
    return bool(item is not None and item.snippet_support)


def to_item(
    completion: Completion,
    documentation_format: str | None,
    kinds: set[int] | frozenset[int],
    snippets: bool = False,
) -> types.CompletionItem:
    documentation: types.MarkupContent | str | None = None
    if completion.documentation:
        if documentation_format == types.MarkupKind.Markdown:
            documentation = types.MarkupContent(
                kind=types.MarkupKind.Markdown, value=completion.documentation
            )
        elif documentation_format == types.MarkupKind.PlainText:
            documentation = types.MarkupContent(
                kind=types.MarkupKind.PlainText,
                value=plain_text(completion.documentation),
            )
        else:
            documentation = plain_text(completion.documentation)
    kind = _ITEM_KINDS[completion.category]
    if kind not in kinds:
        kind = types.CompletionItemKind.Class  # a kind among the first eighteen
    snippet = completion.snippet if snippets else None
    return types.CompletionItem(
        label=completion.label,
        kind=kind,
        detail=completion.detail,
        documentation=documentation,
        sort_text=f"{completion.sort}{completion.label}",
        insert_text_format=types.InsertTextFormat.Snippet if snippet else None,
        text_edit=types.TextEdit(
            range=to_range(completion.replace), new_text=snippet or completion.label
        ),
    )


def register(server: "DenLanguageServer") -> None:
    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS),
    )
    async def completion(ls: "DenLanguageServer", params: types.CompletionParams):
        position = params.position
        documentation_format = _documentation_format(ls)
        kinds = _item_kinds(ls)
        snippets = _wants_snippets(ls)

        def answer(project: Project, rel: str):
            found, left_out = completion_list(
                project, rel, position.line, position.character, MAX_ITEMS
            )
            items = [to_item(c, documentation_format, kinds, snippets) for c in found]
            return items, left_out

        answered = await ls.query(params.text_document.uri, answer)
        items, left_out = answered or ([], False)
        # An incomplete list is asked for again as the user types on, so
        # that what was left out comes as the typed word narrows it down.
        return types.CompletionList(is_incomplete=left_out, items=items)
