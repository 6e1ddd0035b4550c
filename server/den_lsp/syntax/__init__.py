"""Layer 1: parsing Nix sources and converting positions.

The names below are loaded on first use, not with the package: the data
classes every layer shares (``den_lsp.syntax.span``) live here too, and a
check whose findings all come from the cache never loads the parser.
"""

from importlib import import_module

# Where each name of the package is defined.
_EXPORTS = {
    "DecodedSource": "source",
    "Document": "document",
    "LineIndex": "positions",
    "SyntaxProblem": "errors",
    "SyntaxTree": "parse",
    "decode_source": "source",
    "load_query": "queries",
    "looks_binary": "source",
    "parse_nix": "parse",
    "syntax_problems": "errors",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


__all__ = sorted(_EXPORTS)
