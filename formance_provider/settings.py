"""Where the provider finds its endpoint and credentials.

Settings are read inside the provider process, at run time, from the stack
config (which ``configure`` receives, decrypted) with environment variables as
fallbacks. They are never stored on the pickled provider object, so nothing of
them reaches the state file.

Precedence, per setting: stack config ``formance:<key>`` first, then the
environment variable. ``FORMANCE_TOKEN_COMMAND`` is read from the environment
only: a stack file is content of a pull request, and a pipeline must not run a
command named by one where its credentials live.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import SettingsError

NAMESPACE = "formance"
AUTH_PATH = "/api/auth"

#: stack config key -> environment variable
ENV_FALLBACKS: dict[str, str] = {
    "endpoint": "FORMANCE_ENDPOINT",
    "clientId": "FORMANCE_CLIENT_ID",
    "clientSecret": "FORMANCE_CLIENT_SECRET",
    "token": "FORMANCE_TOKEN",
    "caBundle": "FORMANCE_CA_BUNDLE",
    "insecure": "FORMANCE_INSECURE",
    "timeout": "FORMANCE_TIMEOUT",
    "maxRetries": "FORMANCE_MAX_RETRIES",
}
TOKEN_COMMAND_ENV = "FORMANCE_TOKEN_COMMAND"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 4


@dataclass(frozen=True)
class Settings:
    """Resolved provider settings. Secret fields are left out of ``repr``."""

    endpoint: str
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    token_command: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    insecure: bool = False
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES

    @property
    def token_url(self) -> str:
        return self.endpoint + "/oauth/token"

    def secrets(self) -> list[str]:
        """Values that must never appear in output, logs or errors."""
        return [v for v in (self.client_secret, self.token) if v]


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalise_endpoint(raw: str, *, insecure: bool = False, key: str = "formance:endpoint") -> str:
    """Accept a stack URL or its ``/api/auth`` URL, with or without a trailing slash."""
    text = raw.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"{key} must be an http(s) URL such as https://<org>-<stack>.<region>.formance.cloud (got {text!r})"
        )
    if parts.query or parts.fragment:
        raise SettingsError(f"{key} must not carry a query or a fragment (got {text!r})")
    if parts.scheme == "http" and not insecure and not _is_loopback(parts.hostname):
        raise SettingsError(
            f"{key} uses http:// to {parts.hostname}, which would send credentials in clear text; "
            "use https://, or set formance:insecure to true if you really mean it"
        )
    path = parts.path.rstrip("/")
    if not path.endswith(AUTH_PATH):
        path = path + AUTH_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise SettingsError(f"{key} must be true or false (got {value!r})")


def _number(found: tuple[str | None, str], cast: type, default: Any, low: float, high: float, what: str, low_open: bool = False) -> Any:
    """Parse a numeric setting; the message names the key it came from and the rule."""
    raw, key = found
    if raw is None:
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise SettingsError(f"{key} must be {what} (got {raw!r})") from None
    if not (low < value if low_open else low <= value) or not value <= high:
        raise SettingsError(f"{key} must be between {low:g} and {high:g} (got {raw!r})")
    return value


def load_settings(config: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings from stack config (fully qualified keys) and the environment."""
    env = os.environ if env is None else env
    prefix = NAMESPACE + ":"
    ours = {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}

    if "tokenCommand" in ours:
        raise SettingsError(
            "formance:tokenCommand is not accepted from stack config: a command that renews tokens is "
            f"taken from the {TOKEN_COMMAND_ENV} environment variable only, so the content of a pull "
            "request cannot make a pipeline run it. Remove the key with "
            "`pulumi config rm formance:tokenCommand`"
        )
    for key in ours:
        if key not in ENV_FALLBACKS:
            hint = difflib.get_close_matches(key, list(ENV_FALLBACKS), n=1)
            suffix = f"; did you mean formance:{hint[0]}?" if hint else f"; known keys: {', '.join(ENV_FALLBACKS)}"
            raise SettingsError(f"formance:{key} is not a setting of this provider{suffix}")

    def get(key: str) -> tuple[str | None, str]:
        value = ours.get(key)
        if value not in (None, ""):
            return str(value), f"formance:{key}"
        env_value = env.get(ENV_FALLBACKS[key])
        if env_value not in (None, ""):
            return str(env_value), ENV_FALLBACKS[key]
        return None, f"formance:{key} / {ENV_FALLBACKS[key]}"

    insecure_raw, insecure_key = get("insecure")
    insecure = _bool(insecure_raw, insecure_key) if insecure_raw is not None else False

    endpoint_raw, endpoint_key = get("endpoint")
    if endpoint_raw is None:
        raise SettingsError(
            "No Formance endpoint is set: set formance:endpoint (`pulumi config set formance:endpoint "
            "https://<org>-<stack>.<region>.formance.cloud`) or the FORMANCE_ENDPOINT environment variable"
        )
    endpoint = normalise_endpoint(endpoint_raw, insecure=insecure, key=endpoint_key)

    client_id, client_id_key = get("clientId")
    client_secret, client_secret_key = get("clientSecret")
    token, token_key = get("token")
    token_command = env.get(TOKEN_COMMAND_ENV) or None

    if (client_id is None) != (client_secret is None):
        missing = client_secret_key if client_secret is None else client_id_key
        raise SettingsError(f"Client credentials are incomplete: {missing} is not set (both a client id and its secret are needed)")
    if client_id is not None and (token is not None or token_command is not None):
        other = token_key if token is not None else TOKEN_COMMAND_ENV
        raise SettingsError(
            f"Both client credentials ({client_id_key}) and a token ({other}) are set; "
            "keep one method: unset one of them"
        )
    if client_id is None and token is None and token_command is None:
        raise SettingsError(
            "No credentials are set: set formance:clientId and formance:clientSecret (`pulumi config set "
            "--secret formance:clientSecret ...`) or FORMANCE_CLIENT_ID and FORMANCE_CLIENT_SECRET, "
            "or a bearer token in FORMANCE_TOKEN (e.g. from `fctl cloud generate-personal-token`)"
        )

    env_endpoint = env.get(ENV_FALLBACKS["endpoint"])
    credentials_from_env = (
        client_id_key == ENV_FALLBACKS["clientId"] or token_key == ENV_FALLBACKS["token"] or (client_id is None and token is None)
    )
    if endpoint_key == "formance:endpoint" and env_endpoint and credentials_from_env:
        try:
            other = normalise_endpoint(env_endpoint, insecure=True, key=ENV_FALLBACKS["endpoint"])
        except SettingsError:
            other = env_endpoint
        if other != endpoint:
            raise SettingsError(
                f"formance:endpoint ({endpoint}) and FORMANCE_ENDPOINT ({other}) name different stacks, and the "
                "credentials come from the environment: they would be sent to a stack they may not belong to. "
                "Unset FORMANCE_ENDPOINT, or change formance:endpoint (`pulumi config set formance:endpoint ...`)"
            )

    ca_bundle, ca_key = get("caBundle")
    if ca_bundle is not None and not os.path.isfile(ca_bundle):
        raise SettingsError(f"{ca_key} names {ca_bundle!r}, which is not a readable file")

    timeout = _number(get("timeout"), float, DEFAULT_TIMEOUT, 0, 600, "a number of seconds", low_open=True)
    max_retries = _number(get("maxRetries"), int, DEFAULT_MAX_RETRIES, 0, 20, "a whole number")

    return Settings(
        endpoint=endpoint,
        client_id=client_id,
        client_secret=client_secret,
        token=token,
        token_command=token_command,
        ca_bundle=ca_bundle,
        insecure=insecure,
        timeout=timeout,
        max_retries=max_retries,
    )
