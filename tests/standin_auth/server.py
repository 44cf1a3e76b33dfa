#!/usr/bin/env python3
"""STAND-IN for the Formance auth server (github.com/formancehq/auth). Not the real server.

Why a stand-in: the real server is a Go module that cannot be built on this
project's machines, because the Go module proxy refuses every version of
github.com/formancehq/auth (and of github.com/formancehq/stack/components/auth).
The provider's integration tests still need an auth service that answers the way
the real one does, over real HTTP, behind a real gateway, with its data in a real
PostgreSQL. This module is that stand-in. It was written from the real server's
documented behaviour and from reading its source (pkg/api/*.go, pkg/client.go,
pkg/oidc/*.go, cmd/serve.go) and the go-libs auth middleware; no code was copied.
The day the real server can be built, it replaces this file: the command line,
the environment variables, the URLs and the JSON shapes are the same.

What it reproduces (see README.md beside this file for the full list and the
known differences):

* ``serve`` with ``--postgres-uri``, ``--base-url``, ``--listen``, ``--signing-key``,
  ``--config``, ``--auth-check-scopes``, ``--auth-issuers``, ``--debug``; each also
  read from the upper-case environment variable. It refuses to start without a
  signing key (PKCS#1 RSA PEM); there is no default key. Its schema is migrated
  at start (idempotent).
* ``/_healthcheck``, ``/_info``, ``/.well-known/openid-configuration``, ``/keys``,
  ``POST /oauth/token`` (client_credentials only), ``POST /oauth/introspect``.
* The clients API: ``/clients``, ``/clients/{id}``, ``/clients/{id}/secrets``,
  ``/clients/{id}/secrets/{secretId}`` with the real status codes, envelopes,
  error bodies and null-versus-empty quirks.
* Bearer JWT authentication of the clients API, with the go-libs scope rule
  (reads need auth:read or auth:write, writes need auth:write) when
  ``--auth-check-scopes`` is on. Every failure answers 401 with an empty body,
  as the go-libs middleware does (it does not use 403).
* Static clients from the YAML config (``clients:``; ``$NAME`` secrets read from
  the environment).

Logs: one line per request on stderr (method, path, status, duration). Never a
body, a secret, a query string or an Authorization header.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import queue
import re
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

STANDIN_VERSION = "standin-0.1.0"
KEY_ID = "id"  # the real server signs with a key whose "kid" is literally "id"
TOKEN_VALIDITY_SECONDS = 3600  # client_credentials tokens live one hour
SERVICE = "auth"  # scopes are auth:read / auth:write

_OPTION_LIST_FIELDS = ("redirectUris", "postLogoutRedirectUris", "scopes")
_OPTION_STR_FIELDS = ("name", "description")
_OPTION_BOOL_FIELDS = ("public", "trusted")


def log(msg: str) -> None:
    sys.stderr.write(time.strftime("%Y-%m-%dT%H:%M:%S") + " standin-auth " + msg + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------- JWT


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    pad = "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text + pad)


class Signer:
    def __init__(self, private_key: rsa.RSAPrivateKey):
        self.key = private_key
        self.public = private_key.public_key()

    def sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "kid": KEY_ID, "typ": "JWT"}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        sig = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(sig)

    def verify(self, token: str) -> dict | None:
        """Return the claims of a JWT signed by this key, or None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(b64url_decode(parts[0]))
            if not isinstance(header, dict) or header.get("alg") != "RS256":
                return None
            sig = b64url_decode(parts[2])
            self.public.verify(
                sig, (parts[0] + "." + parts[1]).encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
            )
            claims = json.loads(b64url_decode(parts[1]))
        except Exception:  # noqa: BLE001 - any decoding or signature failure means "not ours"
            return None
        return claims if isinstance(claims, dict) else None

    def jwk(self) -> dict:
        nums = self.public.public_numbers()

        def ub(n: int) -> str:
            return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        return {"use": "sig", "kty": "RSA", "kid": KEY_ID, "alg": "RS256", "n": ub(nums.n), "e": ub(nums.e)}


def load_signing_key(pem_text: str) -> rsa.RSAPrivateKey:
    # The real server decodes the PEM and parses it with x509.ParsePKCS1PrivateKey:
    # only "RSA PRIVATE KEY" (PKCS#1) blocks are accepted.
    if "-----BEGIN RSA PRIVATE KEY-----" not in pem_text:
        raise ValueError("invalid signing key: expected a PKCS#1 'RSA PRIVATE KEY' PEM block")
    key = serialization.load_pem_private_key(pem_text.strip().encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("invalid signing key: not an RSA key")
    return key


# ---------------------------------------------------------------------- storage

SCHEMA = [
    # Column names follow the real server's "clients" table (bun model of auth.Client).
    """CREATE TABLE IF NOT EXISTS clients (
        id text PRIMARY KEY,
        public boolean NOT NULL DEFAULT false,
        redirect_uris jsonb,
        description text NOT NULL DEFAULT '',
        name text NOT NULL DEFAULT '',
        post_logout_redirect_uris jsonb,
        metadata jsonb,
        trusted boolean NOT NULL DEFAULT false,
        scopes jsonb,
        secrets jsonb NOT NULL DEFAULT '[]'::jsonb
    )""",
    """CREATE TABLE IF NOT EXISTS standin_schema_version (
        version integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    )""",
    "INSERT INTO standin_schema_version (version) VALUES (1) ON CONFLICT DO NOTHING",
]


class Pool:
    """A very small connection pool: at most `size` psycopg connections."""

    def __init__(self, uri: str, size: int = 8):
        self.uri = uri
        self.free: queue.LifoQueue = queue.LifoQueue()
        self.sem = threading.BoundedSemaphore(size)

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.uri, autocommit=True, connect_timeout=5)

    def acquire(self) -> psycopg.Connection:
        self.sem.acquire()
        try:
            while True:
                try:
                    conn = self.free.get_nowait()
                except queue.Empty:
                    return self._connect()
                if not conn.closed and not conn.broken:
                    return conn
        except BaseException:
            self.sem.release()
            raise

    def release(self, conn: psycopg.Connection, ok: bool) -> None:
        try:
            if ok and not conn.closed and not conn.broken:
                self.free.put(conn)
            else:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
        finally:
            self.sem.release()

    def run(self, fn):
        conn = self.acquire()
        ok = False
        try:
            result = fn(conn)
            ok = True
            return result
        except psycopg.errors.Error as exc:
            # A server-side SQL error leaves the connection usable; a dropped link does not.
            ok = not conn.broken and not isinstance(exc, psycopg.OperationalError)
            raise
        finally:
            self.release(conn, ok)


def migrate(pool: Pool) -> None:
    def _m(conn):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(727274)")
            for stmt in SCHEMA:
                conn.execute(stmt)

    pool.run(_m)


_COLS = "id, public, redirect_uris, description, name, post_logout_redirect_uris, metadata, trusted, scopes, secrets"


def _row_to_client(row) -> dict:
    return {
        "id": row[0],
        "public": row[1],
        "redirectUris": row[2],
        "description": row[3],
        "name": row[4],
        "postLogoutRedirectUris": row[5],
        "metadata": row[6],
        "trusted": row[7],
        "scopes": row[8],
        "secrets": row[9] or [],
    }


def _jsonb(v):
    return None if v is None else psycopg.types.json.Jsonb(v)


# ----------------------------------------------------------------- API mapping


class ValidationError(Exception):
    pass


def _go_type(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def decode_json_object(raw: bytes) -> dict:
    """Decode the first JSON value of a body, like Go's json.Decoder.Decode into a struct."""
    text = raw.decode("utf-8", errors="replace").lstrip()
    if not text:
        raise ValidationError("EOF")
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"invalid character in JSON body: {exc.msg}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"json: cannot unmarshal {_go_type(value)} into Go value of type object")
    return value


def parse_client_options(body: dict) -> dict:
    """Keep the eight option fields (plus id) of a ClientOptions body; omitted means Go's zero value."""
    out: dict[str, Any] = {}
    for f in _OPTION_STR_FIELDS + ("id",):
        v = body.get(f)
        if v is not None and not isinstance(v, str):
            raise ValidationError(f"json: cannot unmarshal {_go_type(v)} into Go struct field .{f} of type string")
        out[f] = v or ""
    for f in _OPTION_BOOL_FIELDS:
        v = body.get(f)
        if v is not None and not isinstance(v, bool):
            raise ValidationError(f"json: cannot unmarshal {_go_type(v)} into Go struct field .{f} of type bool")
        out[f] = bool(v)
    for f in _OPTION_LIST_FIELDS:
        v = body.get(f)
        if v is not None and (not isinstance(v, list) or not all(isinstance(i, str) for i in v)):
            raise ValidationError(f"json: cannot unmarshal {_go_type(v)} into Go struct field .{f} of type []string")
        out[f] = v  # None stays None: the real server echoes it as null
    md = body.get("metadata")
    if md is not None and (not isinstance(md, dict) or not all(isinstance(x, str) for x in md.values())):
        raise ValidationError("json: cannot unmarshal into Go struct field .metadata of type map[string]string")
    out["metadata"] = md
    return out


def secret_view(s: dict) -> dict:
    # The real view embeds ClientSecret (id, hash, lastDigits, name, metadata). Its outer
    # `Hash string json:"-"` field does not hide the embedded one for encoding/json, so the
    # base64 SHA-256 "hash" is part of the answer.
    return {
        "id": s["id"],
        "hash": s["hash"],
        "lastDigits": s["lastDigits"],
        "name": s["name"],
        "metadata": s.get("metadata"),
    }


def client_view(c: dict, *, from_db_read: bool) -> dict:
    """The real server's clientView.

    * Its mapping copies every option except `trusted`: responses always say
      "trusted": false, whatever is stored (the stored value is used by the server).
    * POST/PUT answer with the decoded request, so omitted lists/metadata are null;
      reads come back from the database, where the real Array/Metadata scanners turn
      them into [] and {}.
    """
    lists = {f: c.get(f) for f in _OPTION_LIST_FIELDS}
    md = c.get("metadata")
    if from_db_read:
        lists = {f: (v if v is not None else []) for f, v in lists.items()}
        md = md if md is not None else {}
    return {
        "id": c["id"],
        "public": c["public"],
        "redirectUris": lists["redirectUris"],
        "description": c["description"],
        "name": c["name"],
        "postLogoutRedirectUris": lists["postLogoutRedirectUris"],
        "metadata": md,
        "trusted": False,
        "scopes": lists["scopes"],
        "secrets": [secret_view(s) for s in (c.get("secrets") or [])],
    }


def secret_hash(clear: str) -> str:
    return base64.b64encode(hashlib.sha256(clear.encode()).digest()).decode()


# ------------------------------------------------------------------------ server


class App:
    def __init__(self, args, signer: Signer, pool: Pool, static_clients: list[dict]):
        self.base_url = args.base_url.rstrip("/")
        self.issuers = {self.base_url} | {i.rstrip("/") for i in args.auth_issuers}
        self.check_scopes = args.auth_check_scopes
        self.debug = args.debug
        self.signer = signer
        self.pool = pool
        self.static_clients = {c["id"]: c for c in static_clients}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "formance-auth-standin"
    sys_version = ""
    app: App  # set on the subclass

    # -- plumbing
    def log_message(self, format, *args):  # noqa: A002 - silence the default access log
        pass

    def _send(self, status: int, body: bytes = b"", content_type: str = "application/json", headers=None):
        self._status = status
        self.send_response(status)
        # The real root router sets Content-Type: application/json on every answer.
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and status not in (204, 304) and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        # Go's json.Encoder ends its output with a newline.
        self._send(status, (json.dumps(obj, separators=(",", ":")) + "\n").encode())

    def _data(self, status: int, obj) -> None:
        self._json(status, {"data": obj})

    def _internal(self, err: Exception) -> None:
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if isinstance(err, psycopg.Error) and getattr(err, "sqlstate", None):
            msg = f"ERROR: {msg} (SQLSTATE={err.sqlstate})"
        self._json(500, {"errorCode": "INTERNAL", "errorMessage": msg})

    def _validation(self, msg: str) -> None:
        self._json(400, {"errorCode": "VALIDATION", "errorMessage": msg})

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _handle(self):
        start = time.monotonic()
        self._status = 0
        path = urllib.parse.urlsplit(self.path).path
        try:
            self.route(path)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001
            if not self._status:
                self._internal(exc)
            log(f"error handling {self.command} {path}: {type(exc).__name__}")
        finally:
            dur_ms = (time.monotonic() - start) * 1000
            log(f'{self.command} {path} {self._status} {dur_ms:.1f}ms')

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    # -- routing
    def route(self, path: str):
        m = self.command
        if path == "/_healthcheck" and m == "GET":
            return self.healthcheck()
        if path == "/_info" and m == "GET":
            return self._json(200, {"version": STANDIN_VERSION, "debug": self.app.debug})
        if path == "/.well-known/openid-configuration" and m == "GET":
            return self.discovery()
        if path == "/keys" and m == "GET":
            return self._json(200, {"keys": [self.app.signer.jwk()]})
        if path == "/oauth/token":
            return self.token() if m == "POST" else self._send(405)
        if path == "/oauth/introspect":
            return self.introspect() if m == "POST" else self._send(405)
        if path == "/clients" or path.startswith("/clients/"):
            return self.clients_api(path)
        return self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

    # -- public endpoints
    def healthcheck(self):
        try:
            self.app.pool.run(lambda c: c.execute("SELECT 1").fetchone())
        except Exception as exc:  # noqa: BLE001
            return self._json(500, {"postgres": type(exc).__name__})
        self._json(200, {})

    def discovery(self):
        b = self.app.base_url
        self._json(
            200,
            {
                "issuer": b,
                "authorization_endpoint": b + "/authorize",
                "token_endpoint": b + "/oauth/token",
                "introspection_endpoint": b + "/oauth/introspect",
                "userinfo_endpoint": b + "/userinfo",
                "revocation_endpoint": b + "/revoke",
                "end_session_endpoint": b + "/end_session",
                "jwks_uri": b + "/keys",
                "scopes_supported": ["openid", "profile", "email", "phone", "address", "offline_access"],
                "response_types_supported": ["code"],
                "grant_types_supported": ["client_credentials"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
                "claims_parameter_supported": False,
                "request_parameter_supported": False,
            },
        )

    def _oauth_error(self, error: str, description: str | None = None):
        # zitadel/oidc RequestError: invalid_client answers 401, every other error 400.
        body = {"error": error}
        if description:
            body["error_description"] = description
        self._json(401 if error == "invalid_client" else 400, body)

    def _client_credentials(self, form: dict) -> tuple[str, str] | None:
        cid = (form.get("client_id") or [""])[0]
        secret = (form.get("client_secret") or [""])[0]
        auth = self.headers.get("Authorization") or ""
        if auth[:6].lower() == "basic ":
            try:
                user, _, pw = base64.b64decode(auth[6:].strip()).decode().partition(":")
                cid, secret = urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(pw)
            except (binascii.Error, UnicodeDecodeError):
                return None
        return cid, secret

    def _find_client(self, cid: str) -> dict | None:
        """Static clients first, then the database (as the real storage facade does)."""
        if cid in self.app.static_clients:
            return self.app.static_clients[cid]
        row = self.app.pool.run(
            lambda c: c.execute(f"SELECT {_COLS} FROM clients WHERE id = %s", (cid,)).fetchone()
        )
        return None if row is None else _row_to_client(row)

    @staticmethod
    def _secret_ok(client: dict, secret: str) -> bool:
        if client.get("static"):
            return any(secret == s for s in client["clearSecrets"])
        h = secret_hash(secret)
        return any(s.get("hash") == h for s in client.get("secrets") or [])

    def _read_form(self) -> dict:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        raw = self._body()
        if ctype and ctype != "application/x-www-form-urlencoded":
            return {}
        return urllib.parse.parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)

    def token(self):
        form = self._read_form()
        grant = (form.get("grant_type") or [""])[0]
        if not grant:
            return self._oauth_error("invalid_request", "grant_type missing")
        if grant != "client_credentials":
            return self._oauth_error("unsupported_grant_type", f"{grant} not supported")
        creds = self._client_credentials(form)
        if creds is None:
            return self._oauth_error("invalid_client", "invalid basic auth header")
        cid, secret = creds
        client = self._find_client(cid) if cid else None
        if client is None or not self._secret_ok(client, secret):
            return self._oauth_error("invalid_client")
        if client.get("public"):
            # Public clients have no client_credentials grant type.
            return self._oauth_error("unauthorized_client")
        requested = " ".join(form.get("scope") or []).split()
        allowed = client.get("scopes") or []
        granted = [s for s in requested if s in allowed]
        now = int(time.time())
        claims = {
            "iss": self.app.base_url,
            "aud": [cid],
            "exp": now + TOKEN_VALIDITY_SECONDS,
            "iat": now,
            "nbf": now,
            "jti": str(uuid.uuid4()),
            "client_id": cid,
            "scope": " ".join(granted),
        }
        token = self.app.signer.sign(claims)
        self._send(
            200,
            (json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_VALIDITY_SECONDS},
                        separators=(",", ":")) + "\n").encode(),
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def introspect(self):
        form = self._read_form()
        creds = self._client_credentials(form)
        client = self._find_client(creds[0]) if creds and creds[0] else None
        if client is None or not self._secret_ok(client, creds[1]):
            return self._oauth_error("invalid_client")
        claims = self.app.signer.verify((form.get("token") or [""])[0])
        if not claims or claims.get("iss") not in self.app.issuers or claims.get("exp", 0) < time.time():
            return self._json(200, {"active": False})
        out = {"active": True}
        for k in ("scope", "client_id", "exp", "iat", "nbf", "iss", "aud", "jti"):
            if k in claims:
                out[k] = claims[k]
        out["token_type"] = "Bearer"
        self._json(200, out)

    # -- clients API
    def _authenticated(self) -> bool:
        """go-libs JWTAuth: signature by our key, issuer, expiry, then (optionally) scopes."""
        header = self.headers.get("Authorization") or ""
        if not (header.startswith("bearer") or header.startswith("Bearer")):
            return False
        claims = self.app.signer.verify(header[6:].strip())
        if claims is None or claims.get("iss") not in self.app.issuers:
            return False
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp < time.time():
            return False
        if not self.app.check_scopes:
            return True
        scope = claims.get("scope") or ""
        scopes = scope.split() if isinstance(scope, str) else list(scope)
        if self.command in ("GET", "HEAD", "OPTIONS", "TRACE"):
            return f"{SERVICE}:read" in scopes or f"{SERVICE}:write" in scopes
        return f"{SERVICE}:write" in scopes

    def clients_api(self, path: str):
        if not self._authenticated():
            # go-libs auth.Middleware: any failure (no token, bad token, missing scope) is a bare 401.
            self._body()
            return self._send(401)
        parts = [urllib.parse.unquote(p) for p in path.split("/")[1:]]
        if parts and parts[-1] == "" and len(parts) > 1:
            parts = parts[:-1]  # chi routes "/clients/" like "/clients"
        m = self.command
        n = len(parts)
        if n == 1:
            if m == "POST":
                return self.create_client()
            if m == "GET":
                return self.list_clients()
        elif n == 2:
            if m == "GET":
                return self.read_client(parts[1])
            if m == "PUT":
                return self.update_client(parts[1])
            if m == "DELETE":
                return self.delete_client(parts[1])
        elif n == 3 and parts[2] == "secrets" and m == "POST":
            return self.create_secret(parts[1])
        elif n == 4 and parts[2] == "secrets" and m == "DELETE":
            return self.delete_secret(parts[1], parts[3])
        else:
            return self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
        self._body()
        return self._send(405)

    def create_client(self):
        try:
            opts = parse_client_options(decode_json_object(self._body()))
        except ValidationError as exc:
            return self._validation(str(exc))
        opts["id"] = opts["id"] or str(uuid.uuid4())
        opts["secrets"] = []

        def _ins(conn):
            conn.execute(
                f"INSERT INTO clients ({_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    opts["id"], opts["public"], _jsonb(opts["redirectUris"]), opts["description"], opts["name"],
                    _jsonb(opts["postLogoutRedirectUris"]), _jsonb(opts["metadata"]), opts["trusted"],
                    _jsonb(opts["scopes"]), _jsonb([]),
                ),
            )

        try:
            self.app.pool.run(_ins)
        except psycopg.Error as exc:
            return self._internal(exc)
        # The real handler sets Location after writing the status, so no Location header is sent.
        self._data(201, client_view(opts, from_db_read=False))

    def list_clients(self):
        rows = self.app.pool.run(lambda c: c.execute(f"SELECT {_COLS} FROM clients").fetchall())
        self._data(200, [client_view(_row_to_client(r), from_db_read=True) for r in rows])

    def read_client(self, cid: str):
        row = self.app.pool.run(
            lambda c: c.execute(f"SELECT {_COLS} FROM clients WHERE id = %s LIMIT 1", (cid,)).fetchone()
        )
        if row is None:
            return self._send(404)
        self._data(200, client_view(_row_to_client(row), from_db_read=True))

    def _locked_update(self, cid: str, mutate):
        """Run mutate(client) under a row lock; returns (client, result) or None when absent."""

        def _tx(conn):
            with conn.transaction():
                row = conn.execute(
                    f"SELECT {_COLS} FROM clients WHERE id = %s FOR UPDATE", (cid,)
                ).fetchone()
                if row is None:
                    return None
                client = _row_to_client(row)
                result = mutate(client)
                if result is _NO_WRITE:
                    return client, result
                conn.execute(
                    "UPDATE clients SET public=%s, redirect_uris=%s, description=%s, name=%s, "
                    "post_logout_redirect_uris=%s, metadata=%s, trusted=%s, scopes=%s, secrets=%s WHERE id=%s",
                    (
                        client["public"], _jsonb(client["redirectUris"]), client["description"], client["name"],
                        _jsonb(client["postLogoutRedirectUris"]), _jsonb(client["metadata"]), client["trusted"],
                        _jsonb(client["scopes"]), _jsonb(client["secrets"]), cid,
                    ),
                )
                return client, result

        return self.app.pool.run(_tx)

    def update_client(self, cid: str):
        raw = self._body()
        if self._find_db_client_exists(cid) is False:
            return self._send(404)  # the real handler looks the client up before reading the body
        try:
            opts = parse_client_options(decode_json_object(raw))
        except ValidationError as exc:
            return self._validation(str(exc))

        def _apply(client):
            for f in _OPTION_STR_FIELDS + _OPTION_BOOL_FIELDS + _OPTION_LIST_FIELDS + ("metadata",):
                client[f] = opts[f]  # full replacement; the id in the body is ignored
            return None

        try:
            res = self._locked_update(cid, _apply)
        except psycopg.Error as exc:
            return self._internal(exc)
        if res is None:
            return self._send(404)
        self._data(200, client_view(res[0], from_db_read=False))

    def _find_db_client_exists(self, cid: str) -> bool:
        row = self.app.pool.run(lambda c: c.execute("SELECT 1 FROM clients WHERE id = %s", (cid,)).fetchone())
        return row is not None

    def delete_client(self, cid: str):
        self._body()
        try:
            self.app.pool.run(lambda c: c.execute("DELETE FROM clients WHERE id = %s", (cid,)))
        except psycopg.Error as exc:
            return self._internal(exc)
        self._send(204)

    def create_secret(self, cid: str):
        raw = self._body()
        if not self._find_db_client_exists(cid):
            return self._send(404)
        try:
            body = decode_json_object(raw)
            name = body.get("name")
            if name is not None and not isinstance(name, str):
                raise ValidationError(f"json: cannot unmarshal {_go_type(name)} into Go struct field SecretCreate.name of type string")
            md = body.get("metadata")
            if md is not None and (not isinstance(md, dict) or not all(isinstance(v, str) for v in md.values())):
                raise ValidationError("json: cannot unmarshal into Go struct field SecretCreate.metadata of type map[string]string")
        except ValidationError as exc:
            return self._validation(str(exc))
        clear = str(uuid.uuid4())
        secret = {
            "id": str(uuid.uuid4()),
            "hash": secret_hash(clear),
            "lastDigits": clear[-4:],
            "name": name or "",
            "metadata": md,
        }

        def _add(client):
            client["secrets"] = list(client.get("secrets") or []) + [secret]
            return None

        try:
            res = self._locked_update(cid, _add)
        except psycopg.Error as exc:
            return self._internal(exc)
        if res is None:
            return self._send(404)
        # 200, not 201; no metadata in this answer; the clear value is shown only here.
        self._data(200, {"id": secret["id"], "lastDigits": secret["lastDigits"], "name": secret["name"], "clear": clear})

    def delete_secret(self, cid: str, sid: str):
        self._body()

        def _del(client):
            before = client.get("secrets") or []
            after = [s for s in before if s.get("id") != sid]
            if len(after) == len(before):
                return _NO_WRITE
            client["secrets"] = after
            return None

        try:
            res = self._locked_update(cid, _del)
        except psycopg.Error as exc:
            return self._internal(exc)
        if res is None or res[1] is _NO_WRITE:
            return self._send(404)
        self._send(204)


_NO_WRITE = object()


# -------------------------------------------------------------------------- CLI


def _env_bool(name: str) -> bool:
    return (os.environ.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


def load_static_clients(path: str | None) -> list[dict]:
    if not path:
        return []
    with open(path, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh) or {}
    out = []
    for raw in cfg.get("clients") or []:
        opts = parse_client_options(raw)
        if not opts["id"]:
            raise ValueError("static client without an id in the config file")
        clears = []
        for s in raw.get("secrets") or []:
            s = str(s)
            if s.startswith("$"):
                value = os.environ.get(s[1:], "")
                if not value:
                    raise ValueError(f"environment variable not found: {s[1:]} (static client {opts['id']})")
                s = value
            clears.append(s)
        opts["clearSecrets"] = clears
        opts["static"] = True
        out.append(opts)
    return out


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops connections under the load tests


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="standin-auth",
        description="STAND-IN for the Formance auth server (github.com/formancehq/auth); see tests/standin_auth/README.md",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the stand-in auth server")
    env = os.environ.get
    s.add_argument("--postgres-uri", default=env("POSTGRES_URI", ""))
    s.add_argument("--base-url", default=env("BASE_URL", "http://localhost:8080"))
    s.add_argument("--listen", default=env("LISTEN", ":8080"))
    s.add_argument("--signing-key", default=env("SIGNING_KEY", ""),
                   help="PKCS#1 RSA private key PEM text; prefer the SIGNING_KEY environment variable")
    s.add_argument("--config", default=env("CONFIG", ""))
    s.add_argument("--auth-check-scopes", action="store_true", default=_env_bool("AUTH_CHECK_SCOPES"))
    s.add_argument("--auth-issuers", action="append",
                   default=[i for i in re.split(r"[\s,]+", env("AUTH_ISSUERS", "")) if i])
    s.add_argument("--debug", action="store_true", default=_env_bool("DEBUG"))
    s.add_argument("--delegated-issuer", default=env("DELEGATED_ISSUER", ""))
    s.add_argument("--delegated-client-id", default=env("DELEGATED_CLIENT_ID", ""))
    s.add_argument("--delegated-client-secret", default=env("DELEGATED_CLIENT_SECRET", ""))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.signing_key.strip():
        log("refusing to start: no signing key (set SIGNING_KEY to a PKCS#1 RSA PEM); there is no default key")
        return 2
    try:
        signer = Signer(load_signing_key(args.signing_key))
    except (ValueError, TypeError) as exc:
        log(f"refusing to start: {exc}")
        return 2
    if args.delegated_issuer:
        log("refusing to start: the stand-in does not reproduce delegated login (--delegated-issuer)")
        return 2
    if not args.postgres_uri:
        log("refusing to start: --postgres-uri / POSTGRES_URI is required")
        return 2
    try:
        static_clients = load_static_clients(args.config)
    except (OSError, ValueError, ValidationError, yaml.YAMLError) as exc:
        log(f"refusing to start: config: {exc}")
        return 2
    pool = Pool(args.postgres_uri)
    try:
        migrate(pool)
    except psycopg.Error as exc:
        log(f"refusing to start: database migration failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
        return 1
    app = App(args, signer, pool, static_clients)
    handler = type("BoundHandler", (Handler,), {"app": app})
    host, port = parse_listen(args.listen)
    httpd = _Server((host, port), handler)
    log(
        f"STAND-IN auth server (not github.com/formancehq/auth) {STANDIN_VERSION} listening on {host or '*'}:{port}; "
        f"issuer {app.base_url}; check scopes {app.check_scopes}; {len(static_clients)} static client(s)"
    )
    import signal

    def _stop(signum, frame):  # noqa: ARG001
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
