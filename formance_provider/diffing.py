"""Pure diff logic of both resources: no I/O, the clock is an argument.

``olds`` are the outputs kept in state, ``news`` the new inputs; both are
normalised through the same model before comparing, so a value reads the
same whether it came from the stack file, from state or from the server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from .models import CLIENT_FIELD_NAMES, ClientFields, SecretFields, validate_field, whole_number

#: The engine's placeholder for a value not known during preview.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass(frozen=True)
class DiffPlan:
    """What changes and why; ``rotate_in_place`` marks a grace-period rotation done by update."""

    changed: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    rotate_in_place: bool = False
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changes(self) -> bool:
        return bool(self.changed or self.replaces)


def contains(value: Any, match: Callable[[Any], bool]) -> bool:
    """True when ``match`` holds for ``value`` or anything nested in its maps and lists."""
    if match(value):
        return True
    if isinstance(value, Mapping):
        return any(contains(v, match) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(contains(v, match) for v in value)
    return False


def has_unknown(value: Any) -> bool:
    """True when the engine's preview placeholder appears anywhere in ``value``."""
    return contains(value, lambda v: v == UNKNOWN)


def _normalised_field(model: type[ClientFields] | type[SecretFields], key: str, value: Any) -> Any:
    """Normalise one field by the model's own rules; invalid values compare as given (check() reports them)."""
    try:
        return validate_field(model, key, value)
    except PydanticValidationError:
        return value


def diff_client(olds: Mapping[str, Any], news: Mapping[str, Any]) -> DiffPlan:
    changed: list[str] = []
    replaces: list[str] = []
    if has_unknown(news.get("client_id")) or olds.get("client_id") != news.get("client_id"):
        replaces.append("client_id")
    for key in CLIENT_FIELD_NAMES:
        new = news.get(key)
        if has_unknown(new):
            changed.append(key)
            continue
        if key == "name" and new is None:
            continue
        if _normalised_field(ClientFields, key, olds.get(key)) != _normalised_field(ClientFields, key, new):
            changed.append(key)
    # ``adopt`` only matters at create and ``owner`` is bookkeeping: neither is a change.
    return DiffPlan(changed=tuple(changed), replaces=tuple(replaces))


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    # A timestamp without offset is UTC (comparing naive with aware datetimes raises TypeError).
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def secret_age_due(olds: Mapping[str, Any], rotate_after_days: Any, now: datetime) -> bool:
    rotate_after_days = whole_number(rotate_after_days)
    if not isinstance(rotate_after_days, int) or isinstance(rotate_after_days, bool) or rotate_after_days < 1:
        return False
    created = _parse_time(olds.get("created_at"))
    return created is not None and now - created >= timedelta(days=rotate_after_days)


def diff_secret(olds: Mapping[str, Any], news: Mapping[str, Any], now: datetime) -> DiffPlan:
    replaces: list[str] = []
    changed: list[str] = []
    reasons: list[str] = []
    for key in ("client_id", "name", "metadata", "keepers"):
        new = news.get(key)
        if has_unknown(new) or _normalised_field(SecretFields, key, olds.get(key)) != _normalised_field(SecretFields, key, new):
            replaces.append(key)
            reasons.append({"client_id": "client replaced", "keepers": "keeper changed"}.get(key, f"{key} changed"))
    if secret_age_due(olds, news.get("rotate_after_days"), now):
        replaces.append("rotate_after_days")
        reasons.append(f"older than {news.get('rotate_after_days')} days")
    for key in ("rotate_after_days", "grace_updates"):
        if _normalised_field(SecretFields, key, olds.get(key)) != _normalised_field(SecretFields, key, news.get(key)):
            changed.append(key)
    if olds.get("retiring"):
        changed.append("retiring")
        reasons.append("retire old secret after its grace period")
    grace = whole_number(news.get("grace_updates"))
    rotation_only = set(replaces) <= {"keepers", "rotate_after_days"}
    if replaces and rotation_only and isinstance(grace, int) and grace > 0:
        # Keep the old secret alive for ``grace`` more updates: rotate in place.
        return DiffPlan(changed=tuple(changed) + tuple(replaces), rotate_in_place=True, reasons=tuple(reasons))
    return DiffPlan(changed=tuple(changed), replaces=tuple(replaces), reasons=tuple(reasons))


__all__ = ["DiffPlan", "UNKNOWN", "contains", "has_unknown", "diff_client", "diff_secret", "secret_age_due"]
