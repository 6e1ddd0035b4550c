"""User settings: the den profile, per-rule severities, excluded paths, known names.

Read from ``den-lsp.toml`` at the workspace root, then overridden by the
editor's settings or command-line flags. A setting that cannot be used is
reported and left at its default; it never stops a run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from den_lsp.analysis.codes import CODES
from den_lsp.analysis.findings import Severity
from den_lsp.model.known import KnownNames
from den_lsp.model.profiles import PROFILES
from den_lsp.syntax.source import read_workspace_file

log = logging.getLogger(__name__)

CONFIG_FILE = "den-lsp.toml"
PROFILE_CHOICES = ("auto", *PROFILES)

# The `[known]` table: names a configuration builds dynamically, which the
# static model cannot see. Keys as written in the TOML, to KnownNames fields.
KNOWN_KEYS = {"classes": "classes", "kinds": "kinds", "context-keys": "context_keys"}
_SETTINGS_KEYS = {"profile", "severity", "exclude", "known"}


@dataclass(frozen=True)
class Settings:
    profile: str = "auto"
    # code -> severity name, or "off" to silence the rule.
    severity: dict[str, str] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    known: KnownNames = field(default_factory=KnownNames)

    def severity_of(self, code: str, default: Severity) -> Severity | None:
        chosen = self.severity.get(code)
        if chosen is None:
            return default
        if chosen == "off":
            return None
        return Severity(chosen)

    def merged(self, overrides: dict[str, Any] | None) -> "Settings":
        """These settings with ``overrides`` (same shape as the TOML) on top."""
        if not overrides:
            return self
        problems: list[str] = []
        parsed = _parse(overrides, problems)
        for problem in problems:
            log.warning("settings: %s", problem)
        known = parsed.get("known", KnownNames())
        return replace(
            self,
            profile=parsed.get("profile", self.profile),
            severity={**self.severity, **parsed.get("severity", {})},
            exclude=self.exclude + tuple(parsed.get("exclude", ())),
            # Known names add up: the editor's list extends the file's.
            known=KnownNames(
                self.known.classes | known.classes,
                self.known.kinds | known.kinds,
                self.known.context_keys | known.context_keys,
            ),
        )


def _parse(data: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    profile = data.get("profile")
    if profile is not None:
        if profile in PROFILE_CHOICES:
            parsed["profile"] = profile
        else:
            problems.append(
                f"unknown profile {profile!r}; expected one of {', '.join(PROFILE_CHOICES)}"
            )
    severity = data.get("severity")
    if isinstance(severity, dict):
        good: dict[str, str] = {}
        allowed = {s.value for s in Severity} | {"off"}
        for code, level in severity.items():
            if code not in CODES:
                problems.append(f"unknown rule code {code!r} in severity")
            elif not isinstance(level, str) or level not in allowed:
                problems.append(f"severity of {code} must be one of {sorted(allowed)}")
            else:
                good[code] = level
        parsed["severity"] = good
    elif severity is not None:
        problems.append("severity must be a table of rule code = level")
    exclude = data.get("exclude")
    if isinstance(exclude, list) and all(isinstance(e, str) for e in exclude):
        import pathspec  # only for a configuration that excludes paths

        usable = []
        for pattern in exclude:
            try:
                pathspec.GitIgnoreSpec.from_lines([pattern])
            except Exception:  # pathspec raises several types for bad patterns
                problems.append(
                    f"exclude pattern {pattern!r} is not a valid path pattern"
                )
                continue
            usable.append(pattern)
        parsed["exclude"] = tuple(usable)
    elif exclude is not None:
        problems.append("exclude must be a list of path patterns")
    known = data.get("known")
    if isinstance(known, dict):
        parsed["known"] = _parse_known(known, problems)
    elif known is not None:
        problems.append(
            "known must be a table with classes, kinds and context-keys lists"
        )
    for key in sorted(set(data) - _SETTINGS_KEYS):
        problems.append(f"unknown setting {key!r}")
    return parsed


def _parse_known(data: dict[str, Any], problems: list[str]) -> KnownNames:
    lists: dict[str, frozenset[str]] = {}
    for key, value in data.items():
        if key not in KNOWN_KEYS:
            problems.append(
                f"unknown setting known.{key!r}; expected one of "
                f"{', '.join(KNOWN_KEYS)}"
            )
        elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f"known.{key} must be a list of names")
        else:
            lists[KNOWN_KEYS[key]] = frozenset(value)
    return KnownNames(**lists)


def load_settings(root: Path) -> tuple[Settings, list[str]]:
    """Settings from ``root/den-lsp.toml`` and the problems found reading it."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return Settings(), []
    import tomllib  # only for a workspace with a den-lsp.toml

    try:
        text = read_workspace_file(path, root.resolve(), 1 << 20).decode("utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        return Settings(), [f"{path}: cannot read: {error}"]
    problems: list[str] = []
    parsed = _parse(data, problems)
    settings = Settings(
        profile=parsed.get("profile", "auto"),
        severity=parsed.get("severity", {}),
        exclude=parsed.get("exclude", ()),
        known=parsed.get("known", KnownNames()),
    )
    return settings, [f"{path}: {p}" for p in problems]
