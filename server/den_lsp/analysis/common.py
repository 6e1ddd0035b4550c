"""Small helpers shared by the rule modules."""

from __future__ import annotations

import difflib

from rapidfuzz import fuzz, process

from den_lsp.analysis.codes import CODES
from den_lsp.analysis.findings import Finding, Fix, Span, TextEdit
from den_lsp.facts.types import UNKNOWN, Effect, InsertionPoint, Literal


def finding(code: str, span: Span, message: str, *fixes: Fix) -> Finding:
    return Finding(code, CODES[code].severity, span, message, tuple(fixes))


def where(span: Span) -> str:
    return f"{span.path}:{span.start_line + 1}"


def insert_fix(
    title: str, point: InsertionPoint | None, name: str, value: str, safe: bool
) -> tuple[Fix, ...]:
    """A fix that writes ``name = value;`` at ``point``; none without a point."""
    if point is None:
        return ()
    return (Fix(title, (TextEdit(point.span, point.binding(name, value)),), safe),)


def replace_fix(title: str, span: Span, text: str, safe: bool) -> Fix:
    return Fix(title, (TextEdit(span, text),), safe)


def close_match(word: str, candidates) -> str | None:
    # difflib's ratio counts matching blocks, which never exceed the longest
    # common subsequence that rapidfuzz's ratio counts: rapidfuzz (in C)
    # drops every candidate difflib would reject, and difflib then picks
    # among the few left exactly as it would among all of them. Without the
    # filter, a workspace of thousands of aspects spends seconds here.
    names = sorted(candidates)
    try:
        likely = process.extract(
            word, names, scorer=fuzz.ratio, score_cutoff=74.9, limit=None
        )
    except TypeError:  # not strings: difflib alone decides
        pass
    else:
        names = sorted(choice for choice, _, _ in likely)
    return _difflib_match(word, names)


def _difflib_match(word: str, names: list) -> str | None:
    matches = difflib.get_close_matches(word, names, n=1, cutoff=0.75)
    return matches[0] if matches else None


class NameMatcher:
    """``close_match`` against one set of names, for many words.

    A rule that suggests a name for each of hundreds of findings would sort
    and scan thousands of aspect names for every one. Here they are listed
    once, and each word's answer is kept: the matcher of an unchanged set
    of names is shared by the models built after an edit (``matcher``).
    """

    def __init__(self, names: frozenset[str]):
        self.names = sorted(names)
        self._found: dict[str, str | None] = {}

    def match(self, word: str) -> str | None:
        """``close_match(word, names - {word})``."""
        if word not in self._found:
            likely = process.extract(
                word, self.names, scorer=fuzz.ratio, score_cutoff=74.9, limit=None
            )
            names = sorted(choice for choice, _, _ in likely if choice != word)
            self._found[word] = _difflib_match(word, names)
        return self._found[word]


# The matchers of the last few sets of names asked about.
_MATCHERS: dict[frozenset[str], NameMatcher] = {}
_MATCHERS_KEPT = 8


def matcher(names: set[str] | frozenset[str]) -> NameMatcher:
    """The matcher of a set of strings, shared while the set stays the same."""
    key = frozenset(names)
    found = _MATCHERS.pop(key, None)
    if found is None:
        found = NameMatcher(key)
        while len(_MATCHERS) >= _MATCHERS_KEPT:
            del _MATCHERS[next(iter(_MATCHERS))]
    _MATCHERS[key] = found  # the most recently used last
    return found


def did_you_mean(suggestion: str | None) -> str:
    return f" Did you mean `{suggestion}`?" if suggestion else ""


def render_path(path: Literal) -> str:
    """A route path as the user would read it: microvm.vms.<name>.config."""
    if not isinstance(path, tuple):
        return "?"
    if not path:
        return "the class root"
    return ".".join(p if isinstance(p, str) else "<name>" for p in path)


def route_path(effect: Effect) -> Literal:
    """The target path of a route (``path``/``intoPath``) or deliver (``at``)."""
    for name in ("path", "intoPath", "at"):
        f = effect.field(name)
        if f is not None:
            return f.value
    return ()


def field_value(effect: Effect, name: str) -> Literal:
    f = effect.field(name)
    return f.value if f is not None else None


def is_true(value: Literal) -> bool:
    return value is True


def known(value: Literal) -> bool:
    return value is not UNKNOWN
