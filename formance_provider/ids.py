"""Stable client ids, known before creation."""

from __future__ import annotations

import uuid

#: Fixed namespace of this project's UUIDv5 client ids.
CLIENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:formance-pulumi:client")


def derive_client_id(project: str, stack: str, key: str) -> str:
    """A UUIDv5 of project, stack and logical name: the same on every run, distinct per stack."""
    return str(uuid.uuid5(CLIENT_ID_NAMESPACE, f"{project}/{stack}/{key}"))
