"""Policy rules: never activated, never satisfiable, closed argument sets.

den registers a policy by name in ``den.policies`` but fires it only where an
includes list places it, and only at scopes whose context has every argument
it requires. It calls the policy with that whole context (plus ``self``),
not just the arguments the policy names. Nothing here proposes removing a
policy's arguments: in den they select where the policy fires.
"""

from __future__ import annotations

from typing import Iterator

from den_lsp.analysis.common import close_match, did_you_mean, finding
from den_lsp.analysis.findings import Finding, Fix, TextEdit
from den_lsp.facts.types import Policy
from den_lsp.model.builtins import (
    BUILTIN_CONTEXT_KEYS,
    BUILTIN_POLICIES,
    MODULE_ONLY_ARGS,
    UNDECLARED_KINDS,
)
from den_lsp.model.model import Model

# These rules read no kind field, only which kinds there are (the context
# keys they may bind); see ``aspects.KIND_FIELDS_READ``.
KIND_FIELDS_READ = frozenset()


def check(model: Model) -> Iterator[Finding]:
    yield from _never_activated(model)
    yield from _unknown_context(model)
    yield from _closed_args(model)


def policy_label(policy: Policy) -> str:
    if policy.name and policy.registered:
        return f"Policy `{policy.name}`"
    if policy.name:
        return f"Inline policy `{policy.name}`"
    return "This inline policy"


# -- den/policy-never-activated ------------------------------------------------------


def _referenced_policies(model: Model) -> tuple[set[str], bool]:
    """Policy names some includes, withIncludes, excludes or expression names.

    The second value is true when some expression reads ``den.policies`` as
    a whole (``lib.attrValues den.policies``) or by a computed name: then
    any policy may be activated.
    """
    names: set[str] = set()
    for inc in model.includes:
        if inc.item.target[0] == "policy":
            names.add(inc.item.target[1])
    for policy in model.policies.values():
        for effect in policy.effects:
            for ref in effect.with_includes:
                if ref.target[0] == "policy":
                    names.add(ref.target[1])
    wholesale = False
    for ref in model.references:
        if ref.root != "den" or ref.path[:1] != ("policies",):
            continue
        if len(ref.path) >= 2:
            names.add(ref.path[1])
        else:
            wholesale = True
    return names, wholesale


def _never_activated(model: Model) -> Iterator[Finding]:
    # Modules imported from outside may include any policy; a namespace from
    # another flake adds aspects evaluated against its own policies, not ours.
    if model.external_imports:
        return
    referenced, wholesale = _referenced_policies(model)
    if wholesale:
        return
    for policy_id, policy in sorted(model.policies.items()):
        if not policy.registered or not policy.name or "." in policy_id:
            continue  # inline, or registered under an aspect's `policies`
        name = policy.name
        if name in referenced or name in BUILTIN_POLICIES:
            continue
        # The name occurs somewhere besides its definition, where the model
        # does not read it as a reference (`with den.policies; [ name ]`, a
        # list built in code, a second definition): silent.
        if model.words.get(name, 0) > 1:
            continue
        yield finding(
            "den/policy-never-activated",
            policy.span,
            f"Policy `{name}` is registered in `den.policies`, but no includes "
            f"list, `withIncludes` or `excludes` names `den.policies.{name}`: den "
            "fires a policy only where an includes list places it, so this one "
            f"never fires. Add `den.policies.{name}` to the includes of the kind "
            "or aspect where it should fire (`den.schema.<kind>.includes`, "
            "`den.default.includes`, an aspect's `includes`), or remove it.",
        )


# -- den/policy-unknown-context ------------------------------------------------------


def context_keys(model: Model) -> set[str]:
    """Every key den may bind in a policy's context in this configuration."""
    keys = set(model.kinds) | set(UNDECLARED_KINDS) | set(BUILTIN_CONTEXT_KEYS)
    keys |= set(model.quirks) | set(model.known.context_keys) | set(model.known.kinds)
    for policy in model.policies.values():
        keys.update(policy.binds)
        for effect in policy.effects:
            if effect.family == "resolve":
                keys.update(effect.binding_keys)
                if isinstance(effect.target_kind, str):
                    keys.add(effect.target_kind)
    for effect in model.loose_effects:
        if effect.family == "resolve":
            keys.update(effect.binding_keys)
    return keys


def _unreadable_bindings(model: Model) -> bool:
    effects = [e for p in model.policies.values() for e in p.effects]
    return any(
        e.family == "resolve" and not e.bindings_known
        for e in effects + model.loose_effects
    )


def _unknown_context(model: Model) -> Iterator[Finding]:
    keys = context_keys(model)
    kinds = (set(model.kinds) - {"conf", "aspect", "default"}) | set(UNDECLARED_KINDS)
    unreadable = _unreadable_bindings(model)
    seen: set = set()
    for policy in model.policies.values():
        spans = dict(policy.arg_spans)
        for arg in policy.required_args:
            if arg in keys or arg not in spans or spans[arg] in seen:
                continue
            span = spans[arg]
            if arg in MODULE_ONLY_ARGS:
                if arg == "pkgs" and unreadable:
                    continue  # some enrichment the model cannot read may bind it
                seen.add(span)
                yield _module_arg(policy, arg, span)
                continue
            suggestion = close_match(arg, kinds) or close_match(arg, keys - {arg})
            if suggestion is None or arg in model.bound_names:
                continue
            seen.add(span)
            yield finding(
                "den/policy-unknown-context",
                span,
                f"{policy_label(policy)} requires `{arg}`, which is neither a kind "
                "nor a context key den binds in this configuration: den calls a "
                "policy only where every argument without a default is in the "
                "context, so it never fires." + did_you_mean(suggestion),
            )


def _module_arg(policy: Policy, arg: str, span) -> Finding:
    return finding(
        "den/policy-unknown-context",
        span,
        f"{policy_label(policy)} requires `{arg}`, a module argument that den never "
        "puts in a policy's context (a policy receives context keys such as "
        "`host`, `user` and `system`), so it never fires. Take what you need "
        f"from the context instead, and use `{arg}` inside the class module the "
        "policy produces.",
    )


# -- den/closed-context-args ---------------------------------------------------------


def _closed_args(model: Model) -> Iterator[Finding]:
    seen: set = set()
    for policy in model.policies.values():
        if policy.open_args or policy.formals_span is None:
            continue
        if policy.formals_span in seen:
            continue
        seen.add(policy.formals_span)
        fixes: tuple[Fix, ...] = ()
        if policy.open_edit is not None:
            where, text = policy.open_edit
            fixes = (
                Fix(
                    "Accept the rest of the context (`...`)",
                    (TextEdit(where, text),),
                    safe=True,
                ),
            )
        closed = "{ " + "".join(f"{arg}, " for arg in policy.args)
        yield finding(
            "den/closed-context-args",
            policy.formals_span,
            f"{policy_label(policy)} takes a closed argument set "
            f"(`{closed.removesuffix(', ').rstrip()} }}`), but den calls a policy with the "
            "whole context of the scope it fires in: `self` and every kind and key "
            "bound there, not only the arguments it names. The call fails with "
            f'"called with unexpected argument". Add `...`: `{closed}... }}`.',
            *fixes,
        )
