"""``den-lsp explain``: each rule's documentation, and the rules page.

Both come from the code registry (``den_lsp.analysis.codes``), which is the
one source for the rules: ``docs/rules.md`` is ``den-lsp explain --all``.
"""

from __future__ import annotations

from den_lsp.analysis.codes import CODES, anchor, explain_markdown, lookup
from den_lsp.analysis.common import close_match

PAGE_TITLE = "# den-lsp rules"

PAGE_INTRO = """\
Every finding den-lsp reports, generated from its rule registry by
`den-lsp explain --all` (do not edit by hand). `den-lsp explain CODE` prints
one rule. Severities are the defaults; `[severity]` in `den-lsp.toml`
changes them."""


def rules_page() -> str:
    """The Markdown page listing every rule with its documentation."""
    lines = [PAGE_TITLE, "", PAGE_INTRO, "", "| code | severity | what it reports |"]
    lines.append("|---|---|---|")
    for code in CODES.values():
        tags = f" ({', '.join(code.tags)})" if code.tags else ""
        lines.append(
            f"| [`{code.code}`](#{anchor(code.code)}) | {code.severity.value}{tags} "
            f"| {code.summary} |"
        )
    lines.append("")
    for code in CODES:
        text = explain_markdown(code) or ""
        # A heading anchor that does not depend on how a renderer slugifies
        # backticks and slashes.
        lines.append(f'<a id="{anchor(code)}"></a>')
        lines.append("")
        lines.append(text.rstrip("\n"))
        lines.append("")
    return "\n".join(lines)


def code_list() -> str:
    """One line per rule: code, default severity, summary."""
    width = max(len(c) for c in CODES)
    return "\n".join(
        f"{code.code:<{width}}  {code.severity.value:<11}  {code.summary}"
        for code in CODES.values()
    )


def explain(code: str) -> tuple[str | None, str | None]:
    """(documentation, None) for a known code, else (None, an error message)."""
    text = explain_markdown(code)
    if text is not None:
        return text, None
    suggestion = close_match(code, CODES) or close_match(f"den/{code}", CODES)
    hint = f" Did you mean `{suggestion}`?" if suggestion else ""
    return None, f"unknown rule code {code!r}.{hint} `den-lsp explain` lists the codes."


__all__ = ["code_list", "explain", "lookup", "rules_page"]
