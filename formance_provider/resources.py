"""The user-facing resources: ``OAuth2Client`` and ``ClientSecret``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import Resource

from .ids import derive_client_id
from .provider import ClientProvider, SecretProvider


def owner_marker(resource_name: str) -> str:
    return f"{pulumi.get_project()}/{pulumi.get_stack()}/{resource_name}"


class OAuth2Client(Resource, module="formance", name="OAuth2Client"):
    """An OAuth2 client of a Formance stack's auth service.

    ``client_id`` defaults to a UUIDv5 of project, stack and resource name, so
    it is known at preview and a retried create cannot make a second client.
    """

    client_id: Output[str]
    name: Output[str]
    description: Output[str]
    public: Output[bool]
    trusted: Output[bool]
    redirect_uris: Output[list[str]]
    post_logout_redirect_uris: Output[list[str]]
    scopes: Output[list[str]]
    metadata: Output[dict[str, str]]
    adopt: Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        name: Input[str] | None = None,
        client_id: Input[str] | None = None,
        description: Input[str] | None = None,
        public: Input[bool] | None = None,
        trusted: Input[bool] | None = None,
        redirect_uris: Input[Sequence[Input[str]]] | None = None,
        post_logout_redirect_uris: Input[Sequence[Input[str]]] | None = None,
        scopes: Input[Sequence[Input[str]]] | None = None,
        metadata: Input[Mapping[str, Input[str]]] | None = None,
        adopt: bool = False,
        opts: ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "client_id": client_id if client_id is not None else derive_client_id(pulumi.get_project(), pulumi.get_stack(), resource_name),
            "name": name if name is not None else resource_name,
            "description": description,
            "public": public,
            "trusted": trusted,
            "redirect_uris": redirect_uris,
            "post_logout_redirect_uris": post_logout_redirect_uris,
            "scopes": scopes,
            "metadata": metadata,
            "adopt": adopt,
            "owner": owner_marker(resource_name),
        }
        super().__init__(ClientProvider(), resource_name, props, opts)


class ClientSecret(Resource, module="formance", name="ClientSecret"):
    """A secret of an OAuth2 client. ``client_secret`` is always stored as a Pulumi secret.

    Any change of ``name``, ``metadata`` or ``keepers`` rotates the secret: the new
    one is created before the old one is deleted. ``rotate_after_days`` rotates it
    once it is that old (judged at preview); ``grace_updates`` keeps the old secret
    that many more ``pulumi up`` runs.
    """

    client_id: Output[str]
    name: Output[str]
    metadata: Output[dict[str, str]]
    keepers: Output[dict[str, Any]]
    rotate_after_days: Output[int | None]
    grace_updates: Output[int]
    secret_id: Output[str]
    last_digits: Output[str]
    created_at: Output[str]
    client_secret: Output[str]
    retiring: Output[list[dict[str, Any]]]

    def __init__(
        self,
        resource_name: str,
        *,
        client_id: Input[str],
        name: Input[str] | None = None,
        metadata: Input[Mapping[str, Input[str]]] | None = None,
        keepers: Input[Mapping[str, Any]] | None = None,
        rotate_after_days: Input[int] | None = None,
        grace_updates: Input[int] | None = None,
        opts: ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "client_id": client_id,
            "name": name if name is not None else resource_name,
            "metadata": metadata,
            "keepers": keepers,
            "rotate_after_days": rotate_after_days,
            "grace_updates": grace_updates if grace_updates is not None else 0,
            "secret_id": None,
            "last_digits": None,
            "created_at": None,
            "client_secret": None,
            "retiring": None,
        }
        # The engine only encrypts outputs whose inputs were secret: force it here so no caller can forget.
        opts = ResourceOptions.merge(ResourceOptions(additional_secret_outputs=["client_secret"]), opts)
        super().__init__(SecretProvider(), resource_name, props, opts)
