"""README.md shows real output: its hover example is what the server says."""

from __future__ import annotations

import re
from pathlib import Path

from den_lsp.features.hover import hover_at
from den_lsp.features.project import Project

REPO = Path(__file__).resolve().parents[1]


def test_readme_hover_example_is_current():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(
        r"<!-- hover: (\S+) (\S+) (\d+):(\d+) -->\n```markdown\n(.*?)\n```",
        readme,
        re.S,
    )
    assert match is not None
    folder, rel, line, character, shown = match.groups()
    project = Project(REPO / folder)
    project.index()
    hover = hover_at(project, rel, int(line), int(character))
    assert hover is not None and hover.markdown == shown


def test_readme_quick_fix_example_is_current():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(
        r"In `(examples/\S+)`, the same kind is not isolated and\n"
        r"`den.schema.guest` carries a `(den/\S+)` warning\. Its quick fix,\n"
        r'"([^"]+)" \(safe, .*?\n```nix\n(.*?)\n```\n\ninto\n\n```nix\n(.*?)\n```',
        readme,
        re.S,
    )
    assert match is not None
    folder, code, title, before, after = match.groups()
    project = Project(REPO / folder)
    project.index()
    [finding] = [f for fs in project.findings().values() for f in fs]
    assert finding.code == code
    [fix] = finding.fixes
    assert (fix.title, fix.safe) == (title, True)
    [edit] = fix.edits
    text = (REPO / folder / edit.span.path).read_text(encoding="utf-8")
    source = text.encode()
    fixed = (
        source[: edit.span.start_byte]
        + edit.new_text.encode()
        + source[edit.span.end_byte :]
    ).decode()
    assert before in text and before not in fixed
    assert after in fixed
