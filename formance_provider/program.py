"""The stack program: clients and secrets from the stack file, and the stack outputs."""

from __future__ import annotations

import difflib
import os
from typing import Any

import pulumi

from .errors import FormanceError, ValidationError
from .resources import ClientSecret, OAuth2Client
from .settings import load_settings
from .spec import parse_clients

#: The keys this program reads from its own config namespace.
PROJECT_KEYS = ("clients",)


def _all_config() -> dict[str, Any]:
    """All stack config, decrypted, read without secret warnings."""
    from pulumi.runtime.config import get_config_env

    return dict(get_config_env())


def check_project_keys(config: dict[str, Any], project: str) -> None:
    """A typo such as ``formance-auth:client`` would silently declare no clients and plan deleting them all."""
    prefix = project + ":"
    for key in sorted(config):
        if key.startswith(prefix) and key[len(prefix):] not in PROJECT_KEYS:
            name = key[len(prefix):]
            match = difflib.get_close_matches(name, PROJECT_KEYS, n=1, cutoff=0.5)
            hint = f"did you mean {prefix}{match[0]}?" if match else f"known keys: {', '.join(prefix + k for k in PROJECT_KEYS)}"
            raise ValidationError(f"{key}: unknown key; {hint}")


def run() -> None:
    config = pulumi.Config()
    try:
        everything = _all_config()
        check_project_keys(everything, pulumi.get_project())
        # Settings are re-read in the provider process; checking here fails fast with one clean message.
        load_settings({k: v for k, v in everything.items() if k.startswith("formance:")}, os.environ)
        entries = parse_clients(config.get("clients"))
    except FormanceError as exc:
        raise pulumi.RunError(f"invalid configuration:\n{exc}") from None

    clients_out: dict[str, Any] = {}
    credentials: dict[str, Any] = {}
    for entry in entries:
        client = OAuth2Client(entry.key, client_id=entry.client_id, adopt=entry.adopt, **entry.inputs)
        secrets_out: dict[str, Any] = {}
        for secret_name, inputs in entry.secrets.items():
            secret = ClientSecret(
                f"{entry.key}/{secret_name}",
                client_id=client.client_id,
                name=secret_name,
                **inputs,
            )
            secrets_out[secret_name] = {"secretId": secret.secret_id, "lastDigits": secret.last_digits}
            credentials[f"{entry.key}/{secret_name}"] = {"clientId": client.client_id, "clientSecret": secret.client_secret}
        clients_out[entry.key] = {"clientId": client.client_id, "name": client.name, "secrets": secrets_out}

    pulumi.export("clients", clients_out)
    pulumi.export("credentials", pulumi.Output.secret(credentials))


__all__ = ["run"]
