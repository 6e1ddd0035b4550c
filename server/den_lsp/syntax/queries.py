"""Load the tree-sitter queries in ``grammar-queries/`` and compile them once.

An installed wheel carries the query files as package data in
``den_lsp/grammar_queries/``; a source checkout keeps them in the repository's
``grammar-queries/`` folder. The installed copy is preferred, so a wheel never
reads files from whatever directory happens to sit next to it.
"""

from __future__ import annotations

import logging
import threading
from importlib import resources
from pathlib import Path

import tree_sitter

from den_lsp.syntax.parse import nix_language

log = logging.getLogger(__name__)

_PACKAGE_DATA = "grammar_queries"
_SOURCE_TREE = Path(__file__).resolve().parents[3] / "grammar-queries"

_compiled: dict[str, tree_sitter.Query] = {}
_lock = threading.Lock()


class QueryNotFound(LookupError):
    """No query file of that name is installed or in the source tree."""


def query_text(name: str) -> str:
    """The text of ``<name>.scm``, from the installed package or the source tree."""
    filename = f"{name}.scm"
    installed = resources.files("den_lsp").joinpath(_PACKAGE_DATA).joinpath(filename)
    if installed.is_file():
        return installed.read_text(encoding="utf-8")

    in_source_tree = _SOURCE_TREE / filename
    if in_source_tree.is_file():
        return in_source_tree.read_text(encoding="utf-8")

    raise QueryNotFound(
        f"query {filename!r} is neither installed in den_lsp/{_PACKAGE_DATA}/ "
        f"nor present in {_SOURCE_TREE}"
    )


def load_query(name: str) -> tree_sitter.Query:
    """The compiled query ``<name>.scm`` for the Nix grammar; compiled once.

    Raises ``QueryNotFound`` when the file is missing and
    ``tree_sitter.QueryError`` when it does not compile against the grammar.
    """
    with _lock:
        query = _compiled.get(name)
        if query is None:
            query = tree_sitter.Query(nix_language(), query_text(name))
            _compiled[name] = query
            log.debug("compiled query %s: %d pattern(s)", name, query.pattern_count)
        return query


# How deep in a tree a match of a fact query may start. Real modules nest a
# few dozen nodes deep; tree-sitter's query cursor takes time that grows
# faster than linearly with nesting, so an expression nested tens of
# thousands deep would take minutes to query without the bound. Matches
# deeper than this are not read.
MAX_QUERY_START_DEPTH = 1000


def bounded_cursor(name: str) -> tree_sitter.QueryCursor:
    """A cursor for query ``name`` whose matches start at most that deep."""
    cursor = tree_sitter.QueryCursor(load_query(name))
    cursor.set_max_start_depth(MAX_QUERY_START_DEPTH)
    return cursor
