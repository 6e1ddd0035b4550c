"""The ``den-lsp`` command: ``check``, ``scopes`` and ``serve`` (the default)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from den_lsp import __version__, keep_workspace_off_the_module_path
from den_lsp.analysis.findings import Severity
from den_lsp.features.check import (
    Located,
    display_path,
    exit_code,
    format_json,
    format_text,
)
from den_lsp.features.project import Project
from den_lsp.features.settings import PROFILE_CHOICES

log = logging.getLogger("den_lsp")

WORKSPACE_MARKERS = ("flake.nix", "den-lsp.toml", ".git")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="den-lsp",
        description="Static checks, scope view and language server for den configurations.",
    )
    parser.add_argument("--version", action="version", version=f"den-lsp {__version__}")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="what to log on stderr (default: warning)",
    )
    commands = parser.add_subparsers(dest="command")

    check = commands.add_parser("check", help="report findings for a workspace")
    check.add_argument(
        "paths", nargs="*", type=Path, help="workspace roots or files (default: .)"
    )
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "--fail-on",
        choices=[s.value for s in Severity],
        default="error",
        help="lowest severity that makes the exit code 1 (default: error)",
    )
    check.add_argument("--profile", choices=PROFILE_CHOICES, help="den API profile")
    check.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the facts cache in the user's cache directory",
    )

    scopes = commands.add_parser("scopes", help="print the static scope graph")
    scopes.add_argument("path", nargs="?", type=Path, default=Path("."))
    scopes.add_argument("--profile", choices=PROFILE_CHOICES, help="den API profile")

    explain = commands.add_parser(
        "explain",
        help="print a rule's documentation (no code: list the rules)",
        description=(
            "Print what den does, a wrong and a right example, and how to fix or "
            "silence a finding. CODE may omit the den/ prefix."
        ),
    )
    explain.add_argument("code", nargs="?", help="a rule code, e.g. den/unknown-class")
    explain.add_argument(
        "--all",
        action="store_true",
        help="print every rule as one Markdown page (docs/rules.md)",
    )

    commands.add_parser("serve", help="run the language server on stdio (the default)")
    return parser


def _workspace_of(path: Path) -> Path:
    """The root for a file argument: its nearest ancestor with a workspace marker."""
    start = path.resolve().parent
    for candidate in (start, *start.parents):
        if any((candidate / marker).exists() for marker in WORKSPACE_MARKERS):
            return candidate
    return start


def _overrides(args: argparse.Namespace) -> dict:
    return {"profile": args.profile} if getattr(args, "profile", None) else {}


def _check(args: argparse.Namespace) -> int:
    cwd = Path.cwd()
    paths = list(dict.fromkeys(p.resolve() for p in args.paths or [Path(".")]))
    located: list[Located] = []
    for path in paths:
        if not path.exists():
            print(f"den-lsp: {path}: no such file or directory", file=sys.stderr)
            return 2
        if path.is_file() and path.suffix != ".nix":
            print(f"den-lsp: {path}: not a .nix file", file=sys.stderr)
            return 2
        root = path if path.is_dir() else _workspace_of(path)
        project = Project(root, _overrides(args))
        project.use_cache = not args.no_cache
        for problem in project.settings_problems:
            print(f"den-lsp: {problem}", file=sys.stderr)
        project.index()
        for rel, reason in sorted(project.unreadable.items()):
            print(
                f"den-lsp: {display_path(project.root, rel, cwd)}: skipped: {reason}",
                file=sys.stderr,
            )
        for rel, state in sorted(project.files.items()):
            if state.binary:
                print(
                    f"den-lsp: {display_path(project.root, rel, cwd)}: skipped: binary file",
                    file=sys.stderr,
                )
        if not project.files and not project.unreadable:
            # A mistyped folder must not pass as a clean check.
            print(
                f"den-lsp: {display_path(project.root, '.', cwd)}: no .nix files "
                "to check",
                file=sys.stderr,
            )
            return 2
        only = None if path.is_dir() else project.relative(path)
        for rel, findings in sorted(project.findings().items()):
            if not findings or (only is not None and rel != only):
                continue
            shown = display_path(project.root, rel, cwd)
            located.extend(Located(shown, f, project.root, cwd) for f in findings)
    # A file given together with its folder would report its findings twice.
    located = list(
        {(i.display_path, i.finding.code, i.finding.span): i for i in located}.values()
    )
    _write(format_json(located) if args.format == "json" else format_text(located))
    return exit_code(located, Severity(args.fail_on))


def _write(text: str) -> None:
    """Print ``text``; a reader that stopped reading (`| head`) is no error."""
    try:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would report the pipe again as it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _scopes(args: argparse.Namespace) -> int:
    if not args.path.is_dir():
        print(f"den-lsp: {args.path}: not a directory", file=sys.stderr)
        return 2
    from den_lsp.features.scopes import render_scopes

    project = Project(args.path, _overrides(args))
    project.index()
    if not project.files and not project.unreadable:
        print(f"den-lsp: {args.path}: no .nix files to read", file=sys.stderr)
        return 2
    models = project.models()
    parts = []
    for number, (unit, model) in enumerate(models.items()):
        if len(models) > 1:
            title = f"configuration {unit or '.'}"
            parts.append(("\n" if number else "") + f"{title}\n{'=' * len(title)}\n")
        parts.append(render_scopes(model))
    _write("".join(parts))
    return 0


def _explain(args: argparse.Namespace) -> int:
    from den_lsp.features.explain import code_list, explain, rules_page

    if args.all:
        _write(rules_page())
        return 0
    if args.code is None:
        _write(code_list())
        return 0
    text, error = explain(args.code)
    if text is None:
        print(f"den-lsp: {error}", file=sys.stderr)
        return 2
    _write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    keep_workspace_off_the_module_path()
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on bad usage, 0 on --help
        return int(exit_.code or 0)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="den-lsp: %(levelname)s: %(message)s",
    )
    try:
        if args.command == "check":
            return _check(args)
        if args.command == "explain":
            return _explain(args)
        if args.command == "scopes":
            return _scopes(args)
    except KeyboardInterrupt:
        # A report cut short on the terminal would run into the message.
        cut = "\n" if sys.stdout.isatty() else ""
        print(f"{cut}den-lsp: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug must not look like a finding (exit 1)
        log.debug("internal error", exc_info=True)
        print(
            f"den-lsp: internal error: {type(error).__name__}: {error} "
            "(run with --log-level debug for the traceback)",
            file=sys.stderr,
        )
        return 3
    if sys.stdin.isatty():
        print(
            "den-lsp: starting the language server on stdio; editors run it for "
            "you. Try `den-lsp check` for a report, or --help.",
            file=sys.stderr,
        )
    try:
        from den_lsp.server import serve

        serve(log_level=args.log_level)
    except KeyboardInterrupt:  # before the server took Ctrl-C over
        print("den-lsp: interrupted", file=sys.stderr)
        return 130
    return 0
