"""Pydantic models and the mappings between user input, API bodies and state.

Every translation happens in exactly one function each way:

* ``ClientFields.from_props`` / ``SecretFields.from_props``: resource inputs (or
  the outputs kept in state, which carry the same keys) -> normalised model;
* ``expand_client`` / ``expand_secret``: normalised model -> API request body;
* ``flatten_client`` / ``flatten_secret``: API response -> state properties.

Diffs compare normalised models only, so they never depend on whether a value
came from the stack file, from state or from the server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Union
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator
from pydantic import ValidationError as PydanticValidationError

#: Metadata keys under this prefix belong to the provider; users may not set them.
RESERVED_PREFIX = "formance-pulumi/"
#: Names the stack and resource that created a client (lets a retried create recognise its own client).
OWNER_KEY = RESERVED_PREFIX + "owner"
#: A unique marker per secret create, so an ambiguous failure can find what it created.
CREATE_MARKER_KEY = RESERVED_PREFIX + "create-id"

MAX_NAME_LENGTH = 255
MAX_SCOPE_LENGTH = 255
MAX_URI_LENGTH = 2048
MAX_METADATA_KEY_LENGTH = 255
MAX_METADATA_VALUE_LENGTH = 4096

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*$")
_WS = re.compile(r"\s")

KeeperValue = Union[StrictStr, StrictInt, StrictFloat, StrictBool]


def whole_number(value: Any) -> Any:
    """Pulumi's wire format carries every number as a float: 3.0 means 3, 3.5 stays invalid."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _check_name(value: str, what: str = "name") -> str:
    if value == "" or value.strip() == "":
        raise ValueError(f"{what} must not be empty")
    if value != value.strip():
        raise ValueError(f"{what} must not start or end with whitespace")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"{what} must be at most {MAX_NAME_LENGTH} characters (got {len(value)})")
    return value


def check_redirect_uri(uri: str) -> str:
    """A redirect URI must be absolute and carry no fragment (RFC 6749 §3.1.2)."""
    if _WS.search(uri):
        raise ValueError("must not contain whitespace")
    if len(uri) > MAX_URI_LENGTH:
        raise ValueError(f"must be at most {MAX_URI_LENGTH} characters")
    parts = urlsplit(uri)
    if not parts.scheme or not _SCHEME.match(parts.scheme):
        raise ValueError("must be an absolute URI with a scheme, e.g. https://app.example.com/callback")
    if parts.scheme.lower() in ("http", "https") and not parts.netloc:
        raise ValueError("must name a host, e.g. https://app.example.com/callback")
    if not parts.netloc and not parts.path:
        raise ValueError("must be an absolute URI, e.g. https://app.example.com/callback")
    if parts.fragment or uri.endswith("#"):
        raise ValueError("must not contain a fragment (#...)")
    return uri


def check_scope(scope: str) -> str:
    if scope == "":
        raise ValueError("a scope must not be empty")
    if _WS.search(scope):
        raise ValueError("a scope must not contain whitespace (list scopes as separate items)")
    if len(scope) > MAX_SCOPE_LENGTH:
        raise ValueError(f"a scope must be at most {MAX_SCOPE_LENGTH} characters")
    return scope


def check_metadata(metadata: Mapping[str, str], *, allow_reserved: bool = False) -> dict[str, str]:
    for key, value in metadata.items():
        if key == "":
            raise ValueError("metadata keys must not be empty")
        if len(key) > MAX_METADATA_KEY_LENGTH:
            raise ValueError(f"metadata key {key[:40]!r}... is longer than {MAX_METADATA_KEY_LENGTH} characters")
        if not allow_reserved and key.startswith(RESERVED_PREFIX):
            raise ValueError(f"metadata key {key!r} is reserved: keys starting with {RESERVED_PREFIX!r} belong to the provider")
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            raise ValueError(f"metadata value of {key!r} is longer than {MAX_METADATA_VALUE_LENGTH} characters")
    return dict(sorted(metadata.items()))


Scope = Annotated[StrictStr, AfterValidator(check_scope)]
RedirectUri = Annotated[StrictStr, AfterValidator(check_redirect_uri)]


#: Pydantic's type errors, said the way a stack file's author thinks of them.
_FRIENDLY = {
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "dict_type": "must be a map",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
}


def describe_validation_error(exc: PydanticValidationError, prefix: str = "") -> list[str]:
    """One line per problem: the key path (``clients.app.scopes[1]``) and the rule it breaks."""
    lines = []
    for err in exc.errors():
        path = prefix
        for part in err["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            else:
                path += f".{part}" if path else str(part)
        msg = err["msg"].removeprefix("Value error, ")
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = "unknown key"
        elif kind in _FRIENDLY:
            msg = _FRIENDLY[kind]
        elif kind == "greater_than_equal":
            msg = f"must be at least {err.get('ctx', {}).get('ge')}"
        lines.append(f"{path}: {msg}")
    return lines


class ClientFields(BaseModel):
    """The eight option fields of a client, normalised (what PUT replaces as a whole)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr
    description: StrictStr = ""
    public: StrictBool = False
    trusted: StrictBool = False
    redirect_uris: tuple[RedirectUri, ...] = ()
    post_logout_redirect_uris: tuple[RedirectUri, ...] = ()
    scopes: tuple[Scope, ...] = ()
    metadata: dict[StrictStr, StrictStr] = Field(default_factory=dict)

    @field_validator("description", "redirect_uris", "post_logout_redirect_uris", "scopes", "metadata", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any, info: Any) -> Any:
        if value is None:
            return {} if info.field_name == "metadata" else ("" if info.field_name == "description" else ())
        if isinstance(value, list):
            return tuple(value)
        return value

    @field_validator("public", "trusted", mode="before")
    @classmethod
    def _null_is_false(cls, value: Any) -> Any:
        return False if value is None else value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        if len(value) > MAX_URI_LENGTH:
            raise ValueError(f"description must be at most {MAX_URI_LENGTH} characters")
        return value

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Scopes are a set on the server: order and duplicates carry no meaning.
        return tuple(sorted(set(value)))

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        return check_metadata(value)

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> "ClientFields":
        """Normalise resource inputs or state outputs (snake_case keys)."""
        return cls(**{k: props.get(k) for k in CLIENT_FIELD_NAMES if k in props})

    def to_props(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "public": self.public,
            "trusted": self.trusted,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "scopes": list(self.scopes),
            "metadata": dict(self.metadata),
        }


CLIENT_FIELD_NAMES: tuple[str, ...] = tuple(ClientFields.model_fields)


class SecretFields(BaseModel):
    """The inputs of a client secret, normalised."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: StrictStr
    name: StrictStr
    metadata: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    keepers: dict[StrictStr, KeeperValue] = Field(default_factory=dict)
    rotate_after_days: Annotated[StrictInt, Field(ge=1)] | None = None
    grace_updates: Annotated[StrictInt, Field(ge=0)] = 0

    @field_validator("metadata", "keepers", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("grace_updates", mode="before")
    @classmethod
    def _null_is_zero(cls, value: Any) -> Any:
        return 0 if value is None else whole_number(value)

    @field_validator("rotate_after_days", mode="before")
    @classmethod
    def _whole_days(cls, value: Any) -> Any:
        return whole_number(value)

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        return _check_name(value, "client_id")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str]) -> dict[str, str]:
        return check_metadata(value)

    @field_validator("keepers")
    @classmethod
    def _keepers(cls, value: dict[str, Any]) -> dict[str, Any]:
        return dict(sorted(value.items()))

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> "SecretFields":
        return cls(**{k: props.get(k) for k in SECRET_FIELD_NAMES if k in props})

    def to_props(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "metadata": dict(self.metadata),
            "keepers": dict(self.keepers),
            "rotate_after_days": self.rotate_after_days,
            "grace_updates": self.grace_updates,
        }


SECRET_FIELD_NAMES: tuple[str, ...] = tuple(SecretFields.model_fields)


def validate_field(model: type[ClientFields] | type[SecretFields], key: str, value: Any) -> Any:
    """One field checked and normalised by the model's own rules (inputs may be partly unknown).

    Raises pydantic's ValidationError, whose location is the field name.
    """
    return model.__pydantic_validator__.validate_assignment(model.model_construct(), key, value).__dict__[key]


# ---------------------------------------------------------------- expand (model -> API body)


def expand_client(fields: ClientFields, *, client_id: str | None = None, owner: str | None = None) -> dict[str, Any]:
    """The JSON body of POST/PUT /clients. PUT resets what it omits, so every field is sent."""
    metadata = dict(fields.metadata)
    if owner:
        metadata[OWNER_KEY] = owner
    body: dict[str, Any] = {
        "name": fields.name,
        "description": fields.description,
        "public": fields.public,
        "trusted": fields.trusted,
        "redirectUris": list(fields.redirect_uris),
        "postLogoutRedirectUris": list(fields.post_logout_redirect_uris),
        "scopes": list(fields.scopes),
        "metadata": metadata,
    }
    if client_id is not None:
        body["id"] = client_id
    return body


def expand_secret(fields: SecretFields, *, create_marker: str) -> dict[str, Any]:
    """The JSON body of POST /clients/{id}/secrets, with the marker used to recognise it later."""
    metadata = dict(fields.metadata)
    metadata[CREATE_MARKER_KEY] = create_marker
    return {"name": fields.name, "metadata": metadata}


# ---------------------------------------------------------------- flatten (API body -> state)


class ObservedSecret(BaseModel):
    """A secret as the server lists it in a client's ``secrets[]``."""

    model_config = ConfigDict(frozen=True)

    secret_id: str
    name: str
    last_digits: str
    metadata: dict[str, str]
    create_marker: str | None


class ObservedClient(BaseModel):
    """A client as the server returns it, normalised like user input."""

    model_config = ConfigDict(frozen=True)

    client_id: str
    fields: ClientFields
    owner: str | None
    secrets: tuple[ObservedSecret, ...]


def _user_metadata(raw: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (raw or {}).items() if not str(k).startswith(RESERVED_PREFIX)}


def flatten_secret(raw: Mapping[str, Any]) -> ObservedSecret:
    metadata = dict(raw.get("metadata") or {})
    return ObservedSecret(
        secret_id=str(raw["id"]),
        name=str(raw.get("name") or ""),
        last_digits=str(raw.get("lastDigits") or ""),
        metadata=_user_metadata(metadata),
        create_marker=metadata.get(CREATE_MARKER_KEY),
    )


def flatten_client(raw: Mapping[str, Any]) -> ObservedClient:
    """Normalise a server client. Server data is trusted as-is (it may predate our rules)."""
    metadata = dict(raw.get("metadata") or {})
    fields = ClientFields.model_construct(
        name=str(raw.get("name") or ""),
        description=str(raw.get("description") or ""),
        public=bool(raw.get("public") or False),
        trusted=bool(raw.get("trusted") or False),
        redirect_uris=tuple(raw.get("redirectUris") or ()),
        post_logout_redirect_uris=tuple(raw.get("postLogoutRedirectUris") or ()),
        scopes=tuple(sorted(set(raw.get("scopes") or ()))),
        metadata=dict(sorted(_user_metadata(metadata).items())),
    )
    return ObservedClient(
        client_id=str(raw["id"]),
        fields=fields,
        owner=metadata.get(OWNER_KEY),
        secrets=tuple(flatten_secret(s) for s in raw.get("secrets") or ()),
    )


def client_state(client_id: str, fields: ClientFields, *, adopt: bool, owner: str | None) -> dict[str, Any]:
    """The outputs kept in state for a client (inputs plus what the server added)."""
    return {"client_id": client_id, **fields.to_props(), "adopt": adopt, "owner": owner}
