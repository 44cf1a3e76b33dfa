"""The stack program: clients and secrets from the stack file, and the stack outputs."""

from __future__ import annotations

import os
from typing import Any

import pulumi

from .errors import FormanceError
from .resources import ClientSecret, OAuth2Client
from .settings import load_settings
from .spec import parse_clients


def _formance_config() -> dict[str, Any]:
    """All ``formance:*`` stack config, decrypted, read without secret warnings."""
    from pulumi.runtime.config import get_config_env

    return {k: v for k, v in get_config_env().items() if k.startswith("formance:")}


def run() -> None:
    config = pulumi.Config()
    try:
        # Settings are re-read in the provider process; checking here fails fast with one clean message.
        load_settings(_formance_config(), os.environ)
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
