"""``formance-pulumi``: helpers around the provider (token check, import generator, PR review)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from typing import Any

import httpx

from .errors import FormanceError


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return dict(json.loads(base64.urlsafe_b64decode(payload)))


def token_check(args: argparse.Namespace) -> int:
    """Exchange one credential for a token and print its claims: proves the secret works, shows neither."""
    credentials = json.load(sys.stdin)
    if args.credential not in credentials:
        print(f"no credential {args.credential!r}; known: {', '.join(sorted(credentials))}", file=sys.stderr)
        return 2
    cred = credentials[args.credential]
    endpoint = args.endpoint.rstrip("/")
    try:
        response = httpx.post(
            endpoint + "/oauth/token",
            data={"grant_type": "client_credentials", **({"scope": args.scope} if args.scope else {})},
            auth=(cred["clientId"], cred["clientSecret"]),
            timeout=30,
        )
    except httpx.HTTPError as exc:
        print(f"cannot reach {endpoint}/oauth/token: {type(exc).__name__}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(f"token request for {args.credential} refused: {response.status_code}", file=sys.stderr)
        return 1
    claims = _claims(response.json()["access_token"])
    print(f"{args.credential}: token granted (type {response.json().get('token_type')}); claims:")
    for key in ("iss", "aud", "scope", "iat", "exp"):
        if key in claims:
            print(f"  {key}: {claims[key]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="formance-pulumi", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("token-check", help="read the credentials output (JSON) on stdin and get a token for one")
    p.add_argument("--endpoint", default=os.environ.get("FORMANCE_ENDPOINT", ""), help="the stack's /api/auth URL")
    p.add_argument("--credential", required=True, help="<client>/<secret> key of the credentials output")
    p.add_argument("--scope", default="", help="scopes to request (space separated)")
    p.set_defaults(func=token_check)

    from . import importer, review

    importer.add_parser(sub)
    review.add_parser(sub)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except FormanceError as exc:
        print(f"formance-pulumi: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
