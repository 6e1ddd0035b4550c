"""``den-lsp scopes``: the static scope graph as text.

For each kind: its chain of parents, whether it is an entity and isolated,
the policies that fire at its scopes (and why), the kinds it creates, and
for each route fired there its collection root, append target and the
isolated kinds its subtree walk skips.
"""

from __future__ import annotations

from den_lsp.analysis.common import field_value, render_path, route_path, where
from den_lsp.facts.types import Literal
from den_lsp.model.model import Model


def nix_literal(value: Literal) -> str:
    """A fact's value as Nix would spell it; expressions stay unnamed."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[ " + " ".join(nix_literal(v) for v in value) + " ]"
    if isinstance(value, (int, float)):
        return str(value)
    return "<expression>"


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[value]


def _policy_label(model: Model, policy_id: str) -> str:
    policy = model.policies.get(policy_id)
    if policy is None:
        return policy_id
    if policy.name:
        return policy.name
    return f"inline policy at {where(policy.span)}"


def render_scopes(model: Model) -> str:
    lines = [f"den profile: {model.profile.name} ({model.profile.summary})", ""]
    interesting = sorted(
        k.name
        for k in model.kinds.values()
        if (
            not k.builtin
            or k.fields
            or model.children(k.name)
            or k.name in ("host", "user")
        )
        and k.name != "aspect"
    )
    for name in interesting:
        kind = model.kinds[name]
        marks = []
        if kind.is_entity:
            marks.append("entity")
        if kind.isolated:
            marks.append("isolated")
        if kind.builtin:
            marks.append("built-in")
        lines.append(f"kind {name}" + (f" [{', '.join(marks)}]" if marks else ""))
        lines.append(f"  scope chain: {' › '.join(model.parent_chain(name))}")
        lines.append(
            f"  entity: {_yes_no(kind.is_entity)}   isolated: {_yes_no(kind.isolated)}"
        )
        for f in kind.values("isolated"):
            lines.append(f"    isolated = {nix_literal(f.value)} at {where(f.span)}")
        fired = sorted(
            {
                f"{_policy_label(model, policy_id)} ({act.via}"
                + (f", {where(act.span)})" if act.span else ")")
                for policy_id, acts in model.activations.items()
                for act in acts
                if act.kind == name
            }
        )
        if fired:
            lines.append("  policies firing here:")
            lines.extend(f"    {line}" for line in fired)
        creates = sorted({e.target for e in model.resolve_edges if e.source == name})
        if creates:
            lines.append(f"  creates: {', '.join(creates)}")
        for route in (r for r in model.routes if r.fires_at == name):
            effect = route.effect
            source = (
                field_value(effect, "fromClass") or field_value(effect, "from") or "?"
            )
            into = field_value(effect, "intoClass") or field_value(effect, "to") or "?"
            lines.append(
                f"  {effect.family} {source} -> {into} at {render_path(route_path(effect))}"
                f" ({where(effect.span)})"
            )
            lines.append(
                f"    collects at: {route.collection_root or 'a scope named by collectScopeId'}"
                f"{' and its subtree' if route.subtree else ''}"
            )
            if route.skipped:
                lines.append(f"    skips isolated: {', '.join(route.skipped)}")
            lines.append(f"    appends at: {', '.join(route.append_targets)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
