"""Layer 1: parsing Nix sources and converting positions."""

from den_lsp.syntax.document import Document
from den_lsp.syntax.errors import SyntaxProblem, syntax_problems
from den_lsp.syntax.parse import SyntaxTree, parse_nix
from den_lsp.syntax.positions import LineIndex
from den_lsp.syntax.queries import load_query
from den_lsp.syntax.source import DecodedSource, decode_source, looks_binary

__all__ = [
    "DecodedSource",
    "Document",
    "LineIndex",
    "SyntaxProblem",
    "SyntaxTree",
    "decode_source",
    "load_query",
    "looks_binary",
    "parse_nix",
    "syntax_problems",
]
