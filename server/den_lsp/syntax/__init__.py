"""Layer 1: parsing Nix sources and converting positions."""

from den_lsp.syntax.parse import SyntaxTree, parse_nix

__all__ = ["SyntaxTree", "parse_nix"]
