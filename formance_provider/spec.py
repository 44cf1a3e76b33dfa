"""Schema of the stack file's ``formance-auth:clients`` map.

Validated in the Pulumi program, before any resource is registered, so a bad
stack file fails ``pulumi preview`` with every problem listed by key path and
rule, and nothing is sent to the server.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator
from pydantic import ValidationError as PydanticValidationError

from .errors import ValidationError
from .models import ClientFields, SecretFields, describe_validation_error


class SecretSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    metadata: dict[str, Any] | None = None
    keepers: dict[str, Any] | None = None
    rotateAfterDays: Any = None
    graceUpdates: Any = None


class ClientSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Any = None
    clientId: Any = None
    description: Any = None
    public: Any = None
    trusted: Any = None
    redirectUris: Any = None
    postLogoutRedirectUris: Any = None
    scopes: Any = None
    metadata: Any = None
    secrets: dict[str, SecretSpec | None] | None = None
    adopt: StrictBool = False

    @field_validator("clientId")
    @classmethod
    def _client_id(cls, value: Any) -> Any:
        if value is None:
            return value
        if not isinstance(value, str) or not value.strip() or len(value) > 255 or value != value.strip():
            raise ValueError("must be a non-empty string of at most 255 characters without surrounding whitespace")
        return value


CLIENT_KEYS = tuple(ClientSpec.model_fields)
SECRET_KEYS = tuple(SecretSpec.model_fields)

#: stack-file key -> resource input name
CLIENT_INPUTS = {
    "name": "name",
    "description": "description",
    "public": "public",
    "trusted": "trusted",
    "redirectUris": "redirect_uris",
    "postLogoutRedirectUris": "post_logout_redirect_uris",
    "scopes": "scopes",
    "metadata": "metadata",
}
SECRET_INPUTS = {"metadata": "metadata", "keepers": "keepers", "rotateAfterDays": "rotate_after_days", "graceUpdates": "grace_updates"}


class ClientEntry(BaseModel):
    """One validated client of the stack file, with its resource inputs."""

    key: str
    client_id: str | None
    adopt: bool
    inputs: dict[str, Any]
    secrets: dict[str, dict[str, Any]] = Field(default_factory=dict)


def _did_you_mean(key: str, known: tuple[str, ...]) -> str:
    match = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f"unknown key; did you mean {match[0]!r}?" if match else f"unknown key; known keys: {', '.join(known)}"


def _unknown_keys(value: dict[str, Any], known: tuple[str, ...], path: str) -> list[str]:
    return [f"{path}.{extra}: {_did_you_mean(extra, known)}" for extra in sorted(set(value) - set(known))]


def _rename(errors: list[str], mapping: dict[str, str]) -> list[str]:
    out = []
    for line in errors:
        for camel, snake in mapping.items():
            line = line.replace(f".{snake}", f".{camel}").replace(f".{snake}[", f".{camel}[")
        out.append(line)
    return out


def _check_key(key: Any, path: str, what: str) -> list[str]:
    if not isinstance(key, str) or not key.strip():
        return [f"{path}: {what} names must be non-empty strings"]
    if key != key.strip():
        return [f"{path}: {what} names must not start or end with whitespace"]
    if len(key) > 255:
        return [f"{path}: {what} names must be at most 255 characters"]
    if "/" in key and what == "client":
        return [f"{path}: client names must not contain '/' (it separates client and secret in outputs)"]
    return []


def parse_clients(raw: Any) -> list[ClientEntry]:
    """Validate the ``clients`` map; raise ValidationError listing every problem."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ValidationError("clients: must be a map of client names to client settings (got a string)") from None
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise ValidationError(f"clients: must be a map of client names to client settings (got a {type(raw).__name__})")
    problems: list[str] = []
    entries: list[ClientEntry] = []
    for key, value in raw.items():
        path = f"clients.{key}"
        problems += _check_key(key, path, "client")
        if value is None:
            value = {}
        if not isinstance(value, dict):
            problems.append(f"{path}: must be a map of client settings (got a {type(value).__name__})")
            continue
        problems += _unknown_keys(value, CLIENT_KEYS, path)
        secrets = value.get("secrets")
        if secrets is not None and not isinstance(secrets, dict):
            problems.append(f"{path}.secrets: must be a map of secret names to secret settings (got a {type(secrets).__name__})")
            secrets = None
        known = {k: v for k, v in value.items() if k in CLIENT_KEYS and k != "secrets"}
        spec: ClientSpec | None = None
        try:
            spec = ClientSpec(**known)
        except PydanticValidationError as exc:
            # Keep going: the client's fields and secrets are checked too, so one run lists every problem.
            problems += describe_validation_error(exc, path)
        inputs = {CLIENT_INPUTS[k]: value[k] for k in CLIENT_INPUTS if value.get(k) is not None}
        inputs.setdefault("name", key)
        try:
            ClientFields(**inputs)
        except PydanticValidationError as exc:
            problems += _rename(describe_validation_error(exc, path), CLIENT_INPUTS)
        secret_inputs: dict[str, dict[str, Any]] = {}
        for sname, svalue in (secrets or {}).items():
            spath = f"{path}.secrets.{sname}"
            problems += _check_key(sname, spath, "secret")
            if svalue is None:
                svalue = {}
            if not isinstance(svalue, dict):
                problems.append(f"{spath}: must be a map of secret settings (got a {type(svalue).__name__})")
                continue
            problems += _unknown_keys(svalue, SECRET_KEYS, spath)
            if "keepers" in svalue and svalue["keepers"] is not None and not isinstance(svalue["keepers"], dict):
                problems.append(f"{spath}.keepers: must be a map of names to values (any change rotates the secret)")
                continue
            bad_keepers = [k for k, v in (svalue.get("keepers") or {}).items() if not isinstance(v, (str, int, float, bool))]
            if bad_keepers:
                problems += [f"{spath}.keepers.{k}: keeper values must be strings, numbers or booleans" for k in bad_keepers]
                continue
            if "metadata" in svalue and svalue["metadata"] is not None and not isinstance(svalue["metadata"], dict):
                problems.append(f"{spath}.metadata: must be a map of strings to strings")
                continue
            sin = {SECRET_INPUTS[k]: v for k, v in svalue.items() if k in SECRET_INPUTS and v is not None}
            try:
                SecretFields(client_id="placeholder", name=str(sname), **sin)
            except PydanticValidationError as exc:
                problems += _rename(describe_validation_error(exc, spath), SECRET_INPUTS)
                continue
            secret_inputs[str(sname)] = sin
        if spec is not None:
            entries.append(ClientEntry(key=str(key), client_id=spec.clientId, adopt=spec.adopt, inputs=inputs, secrets=secret_inputs))
    seen: dict[str, str] = {}
    for entry in entries:
        if entry.client_id is not None:
            if entry.client_id in seen:
                problems.append(
                    f"clients.{entry.key}.clientId: {entry.client_id!r} is already the clientId of clients.{seen[entry.client_id]}; "
                    "client ids must be unique"
                )
            else:
                seen[entry.client_id] = entry.key
    if problems:
        raise ValidationError("\n".join(problems))
    return entries
