"""den-lsp: static analysis of den configurations for editors and CI."""

__version__ = "0.1.0"
