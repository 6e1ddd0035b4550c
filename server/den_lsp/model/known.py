"""Names the user declares known, apart from the model that reads them.

Settings hold them, and settings are read by every run, even one whose
findings all come from the cache and that never builds a model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KnownNames:
    """Names the user declares known in settings, for names built dynamically."""

    classes: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    context_keys: frozenset[str] = frozenset()
