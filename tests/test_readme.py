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
        r"<!-- hover: (\S+) (\S+) (\d+):(\d+) -->\n```markdown\n(.*?)\n```", readme, re.S
    )
    assert match is not None
    folder, rel, line, character, shown = match.groups()
    project = Project(REPO / folder)
    project.index()
    hover = hover_at(project, rel, int(line), int(character))
    assert hover is not None and hover.markdown == shown
