"""``formance-pulumi review``: a Markdown summary of ``pulumi preview --json`` for a PR comment.

Usage::

    pulumi preview --json > preview.json
    formance-pulumi review preview.json > review.md     # or: ... | formance-pulumi review -

It lists, per OAuth2 client, what is created, updated, replaced or deleted with
field-level changes (scopes, redirect URIs, public/trusted, description, name,
metadata keys), and per client secret what is created, rotated or deleted with
the reason (keeper changed, age, client replaced). Python dynamic providers send
no detailed diff, so the changes are computed here from each step's old outputs
and new inputs with the provider's own normalisation (``formance_provider.models``
and ``formance_provider.diffing``), so the summary agrees with the provider's diff.

It never prints a secret: ``client_secret`` and ``__provider`` are ignored, any
value the preview marks secret (``"[secret]"`` or a secret signature object) is
shown as ``(secret)``, and keys it does not know are not echoed.

Exit codes:
  0  no changes, or only safe ones
  3  destructive changes: a client deleted or replaced, or a secret deleted
     without a replacement (the pipeline asks for an approval)
  2  bad input: not the JSON output of ``pulumi preview --json``, or the preview
     itself reported errors
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import runtime
from .diffing import UNKNOWN, contains, diff_client, diff_secret, has_unknown
from .models import ClientFields, SecretFields

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_DESTRUCTIVE = 3

CLIENT_TYPE = "pulumi-python:dynamic/formance:OAuth2Client"
SECRET_TYPE = "pulumi-python:dynamic/formance:ClientSecret"
#: Pulumi's marker of a secret value in JSON (state and previews shown with --show-secrets).
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"
SECRET_TEXT = "[secret]"

#: Never shown, whatever their value.
HIDDEN_KEYS = frozenset({"client_secret", "__provider"})

REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced"})
IGNORED_OPS = frozenset({"same", "read", "refresh", "discard", "remove-pending-replace"})

SECRET_REASONS = {
    "keepers": "keeper changed",
    "rotate_after_days": "age",
    "client_id": "client replaced",
    "name": "name changed",
    "metadata": "metadata changed",
}


class BadInput(Exception):
    pass


# ---------------------------------------------------------------- values


def is_secret(value: Any) -> bool:
    if value == SECRET_TEXT:
        return True
    return isinstance(value, Mapping) and value.get(SECRET_SIG_KEY) == SECRET_SIG_VALUE


def contains_secret(value: Any) -> bool:
    return contains(value, is_secret)


def code(value: Any) -> str:
    """A value as inline Markdown code; secrets and unknowns never pass through as text."""
    if is_secret(value):
        return "(secret)"
    if value == UNKNOWN:
        return "(known after apply)"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        return "(none)"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    text = " ".join(text.replace("`", "'").split())
    if len(text) > 200:
        text = text[:200] + "..."
    return f"`{text}`" if text else '""'


def codes(values: Any) -> str:
    return ", ".join(code(v) for v in values)


def _norm(model: type[ClientFields] | type[SecretFields], key: str, value: Any) -> Any:
    """One field normalised the way the provider's diff does it."""
    if contains_secret(value) or has_unknown(value):
        return value
    from .diffing import _normalised_field

    return _normalised_field(model, key, value)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [] if value is None else [value]


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) and not is_secret(value) else {}


# ---------------------------------------------------------------- field-level changes


def _list_change(label: str, old: Any, new: Any) -> list[str]:
    if is_secret(old) or is_secret(new) or has_unknown(new):
        return [f"{label}: {code(old) if is_secret(old) else 'changed'} → {code(new) if not isinstance(new, list) else 'changed'}"]
    old_l, new_l = _as_list(old), _as_list(new)
    added = [v for v in new_l if v not in old_l]
    removed = [v for v in old_l if v not in new_l]
    parts = []
    if added:
        parts.append(f"added {codes(added)}")
    if removed:
        parts.append(f"removed {codes(removed)}")
    if not parts:
        parts.append(f"reordered: {codes(new_l)}")
    return [f"{label}: " + "; ".join(parts)]


def _map_change(label: str, old: Any, new: Any) -> list[str]:
    if is_secret(old) or is_secret(new):
        return [f"{label}: changed (secret, not shown)"]
    if has_unknown(new) and not isinstance(new, Mapping):
        return [f"{label}: (known after apply)"]
    old_d, new_d = _as_dict(old), _as_dict(new)
    parts = []
    added = sorted(k for k in new_d if k not in old_d)
    removed = sorted(k for k in old_d if k not in new_d)
    changed = sorted(k for k in new_d if k in old_d and new_d[k] != old_d[k])
    if added:
        parts.append("added " + ", ".join(f"{code(k)} = {code(new_d[k])}" for k in added))
    if changed:
        parts.append("changed " + ", ".join(_value_change(k, old_d[k], new_d[k]) for k in changed))
    if removed:
        parts.append("removed " + ", ".join(code(k) for k in removed))
    return [f"{label}: " + "; ".join(parts)] if parts else []


def _value_change(key: str, old: Any, new: Any) -> str:
    if contains_secret(old) or contains_secret(new):
        return f"{code(key)} (secret value, not shown)"
    return f"{code(key)}: {code(old)} → {code(new)}"


def _scalar_change(label: str, old: Any, new: Any) -> list[str]:
    return [f"{label}: {code(old)} → {code(new)}"]


CLIENT_LABELS = {
    "name": "name",
    "description": "description",
    "public": "public",
    "trusted": "trusted",
    "redirect_uris": "redirect URIs",
    "post_logout_redirect_uris": "post-logout redirect URIs",
    "scopes": "scopes",
    "metadata": "metadata",
}


def client_field_changes(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    plan = diff_client(olds, news)
    for key in CLIENT_LABELS:
        if key not in plan.changed:
            continue
        old, new = _norm(ClientFields, key, olds.get(key)), _norm(ClientFields, key, news.get(key))
        label = CLIENT_LABELS[key]
        if key in ("redirect_uris", "post_logout_redirect_uris", "scopes"):
            lines += _list_change(label, old, new)
        elif key == "metadata":
            lines += _map_change(label, old, new)
        else:
            lines += _scalar_change(label, old, new)
    return lines


def client_summary(props: Mapping[str, Any]) -> list[str]:
    """The non-default fields of a created (or deleted) client."""
    lines = []
    for key, label in CLIENT_LABELS.items():
        if key == "name":
            continue
        value = _norm(ClientFields, key, props.get(key))
        if value in (None, "", (), [], {}, False):
            continue
        if key == "metadata":
            lines.append(f"{label}: " + (", ".join(f"{code(k)} = {code(v)}" for k, v in _as_dict(value).items()) or code(value)))
        elif isinstance(value, (list, tuple)):
            lines.append(f"{label}: {codes(value)}")
        else:
            lines.append(f"{label}: {code(value)}")
    return lines


# ---------------------------------------------------------------- steps


def _resource_name(urn: str) -> str:
    return urn.split("::")[-1] if "::" in urn else urn


def _resource_type(urn: str) -> str:
    parts = urn.split("::")
    return parts[2].split("$")[-1] if len(parts) >= 4 else ""


@dataclass
class Change:
    kind: str  # "client" | "secret" | "other"
    name: str
    action: str  # created | updated | replaced | deleted | rotated
    type_: str = ""
    details: list[str] = field(default_factory=list)
    destructive: str | None = None


def _props(state: Any, key: str) -> dict[str, Any]:
    if not isinstance(state, Mapping):
        return {}
    value = state.get(key)
    return dict(value) if isinstance(value, Mapping) else {}


def _client_label(name: str, props: Mapping[str, Any]) -> str:
    cid = props.get("client_id")
    return f"`{name}`" + (f" (client_id {code(cid)})" if cid is not None else "")


def _secret_reasons(reasons: list[str], news: Mapping[str, Any]) -> list[str]:
    out = []
    for reason in reasons:
        text = SECRET_REASONS.get(reason)
        if reason == "rotate_after_days":
            days = news.get("rotate_after_days")
            text = f"age (older than {code(days)} days)" if days is not None else "age"
        out.append(text or f"{reason} changed")
    return out


def _client_change(op: str, name: str, old: dict[str, Any], new_in: dict[str, Any], reasons: list[str]) -> Change:
    if op == "create":
        return Change("client", name, "created", details=[f"client_id: {code(new_in.get('client_id'))}"] + client_summary(new_in))
    if op == "delete":
        ch = Change("client", name, "deleted", details=[f"client_id: {code(old.get('client_id'))}"] + client_summary(old))
        ch.destructive = f"Client {_client_label(name, old)} is **deleted**: applications using it lose access."
        return ch
    if op in REPLACE_OPS:
        details = []
        if old.get("client_id") != new_in.get("client_id"):
            details.append(f"client_id: {code(old.get('client_id'))} → {code(new_in.get('client_id'))}")
        details += client_field_changes(old, new_in)
        why = ", ".join(reasons) if reasons else "replacement"
        ch = Change("client", name, "replaced", details=details)
        ch.destructive = (
            f"Client {_client_label(name, old)} is **replaced** (because of {why}): the old client and all its secrets "
            "are deleted; applications must switch to the new client_id and secrets."
        )
        return ch
    return Change("client", name, "updated", details=client_field_changes(old, new_in))


def _secret_change(op: str, name: str, old: dict[str, Any], new_in: dict[str, Any], reasons: list[str]) -> Change:
    if op == "create":
        details = []
        keepers = _as_dict(new_in.get("keepers"))
        if keepers:
            details.append("keepers: " + ", ".join(code(k) for k in keepers))
        if new_in.get("rotate_after_days") is not None:
            details.append(f"rotates after {code(new_in.get('rotate_after_days'))} days")
        return Change("secret", name, "created", details=details)
    if op == "delete":
        ch = Change("secret", name, "deleted", details=[f"secret_id: {code(old.get('secret_id'))}"])
        if old.get("last_digits") is not None:
            ch.details.append(f"last digits: {code(old.get('last_digits'))}")
        ch.destructive = f"Secret `{name}` is **deleted** without a replacement: whoever uses it loses access."
        return ch
    if op in REPLACE_OPS:
        why = _secret_reasons(reasons, new_in) or ["replacement"]
        details = [f"reason: {', '.join(why)}"]
        if old.get("last_digits") is not None:
            details.append(f"old secret (last digits {code(old.get('last_digits'))}) is deleted after the new one is created")
        return Change("secret", name, "rotated", details=details)
    # update: a rotation in place (grace period), a retirement, or settings only.
    plan = diff_secret(old, new_in, runtime.now())
    details = []
    if plan.rotate_in_place:
        rotation = [r for r in plan.reasons if r != "retire old secret after its grace period"]
        grace = new_in.get("grace_updates")
        details.append(f"reason: {', '.join(_tidy_reasons(rotation))}; old secret kept for {code(grace)} more updates")
        action = "rotated"
    else:
        action = "updated"
    for key in ("rotate_after_days", "grace_updates"):
        if key in plan.changed:
            details.append(f"{key}: {code(old.get(key))} → {code(new_in.get(key))}")
    if "retiring" in plan.changed:
        details.append(f"retires {len(_as_list(old.get('retiring')))} old secret(s) whose grace period ends")
    return Change("secret", name, action, details=details)


def _tidy_reasons(reasons: list[str]) -> list[str]:
    out = []
    for r in reasons:
        out.append(r.replace("older than", "age (older than") + ")" if r.startswith("older than") else r)
    return out or ["rotation"]


def parse_preview(data: Any) -> tuple[list[Change], list[str]]:
    """The changes of a ``pulumi preview --json`` document and its error diagnostics."""
    if not isinstance(data, Mapping) or not isinstance(data.get("steps", []), list):
        raise BadInput("not the output of `pulumi preview --json` (expected an object with a `steps` list)")
    if "steps" not in data and "changeSummary" not in data and "diagnostics" not in data:
        raise BadInput("not the output of `pulumi preview --json` (no `steps`, `changeSummary` or `diagnostics`)")
    errors = [
        str(d.get("message", "")).strip()
        for d in data.get("diagnostics") or []
        if isinstance(d, Mapping) and d.get("severity") == "error"
    ]
    # Group the steps of one resource (a replace may come as create-replacement + delete-replaced).
    grouped: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for step in data.get("steps") or []:
        if not isinstance(step, Mapping) or not isinstance(step.get("op"), str) or not isinstance(step.get("urn"), str):
            raise BadInput("not the output of `pulumi preview --json` (a step without `op` and `urn`)")
        op, urn = step["op"], step["urn"]
        if op in IGNORED_OPS:
            continue
        if urn not in grouped:
            grouped[urn] = {"ops": [], "old": {}, "new": {}, "reasons": []}
            order.append(urn)
        g = grouped[urn]
        g["ops"].append(op)
        old_state, new_state = step.get("oldState"), step.get("newState")
        if isinstance(old_state, Mapping) and not g["old"]:
            g["old"] = _props(old_state, "outputs") or _props(old_state, "inputs")
        if isinstance(new_state, Mapping) and not g["new"]:
            g["new"] = _props(new_state, "inputs")
        for reason in step.get("replaceReasons") or []:
            if reason not in g["reasons"]:
                g["reasons"].append(str(reason))
        g["type"] = (new_state or old_state or {}).get("type") if isinstance(new_state or old_state, Mapping) else None
        g["type"] = g["type"] or _resource_type(urn)

    changes: list[Change] = []
    for urn in sorted(order, key=_resource_name):
        g = grouped[urn]
        ops = g["ops"]
        if any(o in REPLACE_OPS for o in ops):
            op = "replace"
        elif "delete" in ops:
            op = "delete"
        elif "create" in ops:
            op = "create"
        elif "update" in ops:
            op = "update"
        else:
            op = ops[0]
        name = _resource_name(urn)
        if g["type"] == CLIENT_TYPE and op in ("create", "update", "replace", "delete"):
            changes.append(_client_change(op, name, g["old"], g["new"], g["reasons"]))
        elif g["type"] == SECRET_TYPE and op in ("create", "update", "replace", "delete"):
            changes.append(_secret_change(op, name, g["old"], g["new"], g["reasons"]))
        elif g["type"] == "pulumi:pulumi:Stack" or str(g["type"]).startswith("pulumi:providers:"):
            continue
        else:
            ch = Change("other", name, op, type_=str(g["type"]))
            if op in ("delete", "replace"):
                ch.destructive = f"Resource `{name}` ({code(g['type'])}) is **{op}d**."
            changes.append(ch)
    return changes, errors


# ---------------------------------------------------------------- Markdown

_SECTIONS = {
    "client": [("created", "Created"), ("updated", "Updated"), ("replaced", "Replaced"), ("deleted", "Deleted")],
    "secret": [("created", "Created"), ("rotated", "Rotated"), ("updated", "Updated"), ("deleted", "Deleted")],
}


def _count(changes: list[Change], kind: str, noun: str) -> str:
    parts = []
    for action, _ in _SECTIONS[kind]:
        n = sum(1 for c in changes if c.kind == kind and c.action == action)
        if n:
            parts.append(f"{n} {action}")
    return f"{noun}: " + (", ".join(parts) if parts else "no changes")


def render(changes: list[Change], errors: list[str]) -> str:
    out = ["## Pulumi preview: Formance auth clients", ""]
    if errors:
        out += ["**The preview failed**; fix these errors first:", "", "```text"]
        for e in errors:
            out += [line.replace("`", "'") for line in e.splitlines()]
        out += ["```", ""]
        return "\n".join(out)
    destructive = [c.destructive for c in changes if c.destructive]
    others = [c for c in changes if c.kind == "other"]
    summary = f"**Summary:** {_count(changes, 'client', 'clients')}; {_count(changes, 'secret', 'secrets')}"
    if others:
        summary += f"; {len(others)} other resource change(s)"
    summary += f"; {len(destructive)} destructive."
    out += [summary, ""]
    if not changes:
        out += ["No changes.", ""]
        return "\n".join(out)
    if destructive:
        out += ["### Destructive changes", "", "Applying these needs an approval:", ""]
        out += [f"- {d}" for d in destructive]
        out.append("")
    for kind, title in (("client", "Clients"), ("secret", "Secrets")):
        mine = [c for c in changes if c.kind == kind]
        if not mine:
            continue
        out += [f"### {title}", ""]
        for action, heading in _SECTIONS[kind]:
            group = [c for c in mine if c.action == action]
            if not group:
                continue
            out += [f"#### {heading} ({len(group)})", ""]
            for c in group:
                quiet = c.details or action in ("created", "deleted")
                out.append(f"- `{c.name}`" if quiet else f"- `{c.name}`: no field-level change")
                out += [f"  - {d}" for d in c.details]
            out.append("")
    if others:
        out += ["### Other resources", ""]
        out += [f"- `{c.name}` ({code(c.type_)}): {c.action}" for c in others]
        out.append("")
    return "\n".join(out)


def review(text: str) -> tuple[str, int]:
    """Markdown and exit code for one preview document."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BadInput(f"not JSON: {exc}") from None
    changes, errors = parse_preview(data)
    markdown = render(changes, errors)
    if errors:
        return markdown, EXIT_BAD_INPUT
    return markdown, EXIT_DESTRUCTIVE if any(c.destructive for c in changes) else EXIT_OK


def run(args: argparse.Namespace) -> int:
    path = args.preview
    try:
        if path in (None, "-"):
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        print(f"formance-pulumi review: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        markdown, status = review(text)
    except BadInput as exc:
        print(f"formance-pulumi review: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    sys.stdout.write(markdown)
    return status


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "review",
        help="summarise `pulumi preview --json` as Markdown for a PR comment",
        description="Summarise `pulumi preview --json` output as Markdown for a pull-request comment. "
        "Never prints secret values.",
        epilog="exit codes: 0 no changes or only safe ones; 3 destructive changes (client deleted or replaced, "
        "secret deleted without a replacement); 2 bad input (not preview JSON, or the preview reported errors)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("preview", nargs="?", default="-", help="file with the `pulumi preview --json` output; '-' or absent: stdin")
    p.set_defaults(func=run)
