"""The local stack (tools/local-stack.sh) and its STAND-IN auth server (tests/standin_auth).

The stand-in reproduces github.com/formancehq/auth, which cannot be built here; these
tests pin the behaviours the provider relies on, as the real server shows them.
The last test stops the stack and brings it up again: keep it last in this file.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from localstack import LOCAL, fetch_token, read_formance_json, run_local_stack

pytestmark = pytest.mark.timeout(300)


# ---------------------------------------------------------------- helpers


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_parts(token: str) -> tuple[dict, dict]:
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))


def sign_jwt(key: rsa.RSAPrivateKey, claims: dict, kid: str = "id") -> str:
    header = {"alg": "RS256", "kid": kid, "typ": "JWT"}
    si = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return si + "." + b64url(key.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256()))


def stack_signing_key() -> rsa.RSAPrivateKey:
    return serialization.load_pem_private_key((LOCAL / "signing-key.pem").read_bytes(), password=None)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def make_client_with_secret(admin_client: httpx.Client, client_id: str, scopes: list[str], public: bool = False) -> str:
    r = admin_client.post("/clients", json={"id": client_id, "name": client_id, "scopes": scopes, "public": public})
    assert r.status_code == 201, r.text
    r = admin_client.post(f"/clients/{client_id}/secrets", json={"name": "s"})
    assert r.status_code == 200, r.text
    return r.json()["data"]["clear"]


def pids_of_stack() -> dict[str, int]:
    pids = {}
    for name in ("auth", "caddy"):
        f = LOCAL / "run" / f"{name}.pid"
        if f.exists():
            pids[name] = int(f.read_text().strip())
    # `status` names the cluster's data directory (.local/pg/data, or a /var/tmp one).
    status = run_local_stack("status").stdout
    for line in status.splitlines():
        if line.startswith("postgres: running") and "data " in line:
            pm = Path(line.split("data ", 1)[1].rstrip(")")) / "postmaster.pid"
            if pm.exists():
                pids["postgres"] = int(pm.read_text().splitlines()[0])
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# ---------------------------------------------------------------- tokens


def test_formance_json_is_private_and_complete(local_stack):
    mode = (LOCAL / "formance.json").stat().st_mode & 0o777
    assert mode == 0o600
    assert local_stack["endpoint"].endswith("/api/auth")
    assert local_stack["clientId"] and local_stack["clientSecret"]


def test_public_endpoints(auth_endpoint):
    assert httpx.get(auth_endpoint + "/_healthcheck").status_code == 200
    info = httpx.get(auth_endpoint + "/_info").json()
    assert set(info) == {"version", "debug"}
    disco = httpx.get(auth_endpoint + "/.well-known/openid-configuration").json()
    assert disco["issuer"] == auth_endpoint
    assert disco["token_endpoint"] == auth_endpoint + "/oauth/token"
    assert disco["jwks_uri"] == auth_endpoint + "/keys"
    keys = httpx.get(disco["jwks_uri"]).json()["keys"]
    assert keys and keys[0]["kty"] == "RSA"


def test_bootstrap_client_gets_a_verifiable_jwt(local_stack, auth_endpoint):
    r = httpx.post(
        auth_endpoint + "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "auth:read auth:write"},
        auth=(local_stack["clientId"], local_stack["clientSecret"]),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert 3500 <= body["expires_in"] <= 3600
    assert "refresh_token" not in body
    header, claims = jwt_parts(body["access_token"])
    assert header["alg"] == "RS256"
    assert claims["iss"] == auth_endpoint
    assert claims["aud"] == [local_stack["clientId"]]
    assert claims["scope"].split() == ["auth:read", "auth:write"]
    assert claims["exp"] - claims["iat"] == 3600
    assert "nbf" in claims and "jti" in claims and "sub" not in claims
    # The signature checks out with the published JWKS.
    jwk = next(k for k in httpx.get(auth_endpoint + "/keys").json()["keys"] if k["kid"] == header["kid"])
    pub = rsa.RSAPublicNumbers(
        int.from_bytes(b64url_decode(jwk["e"]), "big"), int.from_bytes(b64url_decode(jwk["n"]), "big")
    ).public_key()
    h, p, s = body["access_token"].split(".")
    pub.verify(b64url_decode(s), f"{h}.{p}".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_credentials_as_form_fields_and_scope_intersection(local_stack, auth_endpoint):
    r = httpx.post(
        auth_endpoint + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": local_stack["clientId"],
            "client_secret": local_stack["clientSecret"],
            "scope": "auth:read ledger:write openid",
        },
    )
    assert r.status_code == 200, r.text
    assert jwt_parts(r.json()["access_token"])[1]["scope"] == "auth:read"


def test_wrong_secret_and_unknown_client_refused(local_stack, auth_endpoint):
    for cid, secret in ((local_stack["clientId"], "wrong"), ("no-such-client", "x")):
        r = httpx.post(auth_endpoint + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, secret))
        assert r.status_code == 401
        assert r.json()["error"] == "invalid_client"


def test_unsupported_grant_type(local_stack, auth_endpoint):
    r = httpx.post(
        auth_endpoint + "/oauth/token",
        data={"grant_type": "password"},
        auth=(local_stack["clientId"], local_stack["clientSecret"]),
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


def test_public_client_cannot_use_client_credentials(admin_client, auth_endpoint, unique_id):
    secret = make_client_with_secret(admin_client, unique_id, ["auth:read"], public=True)
    r = httpx.post(auth_endpoint + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(unique_id, secret))
    assert r.status_code == 400
    assert r.json()["error"] == "unauthorized_client"
    admin_client.delete(f"/clients/{unique_id}")


# ---------------------------------------------------------------- clients API authentication


def test_clients_api_needs_a_valid_token(auth_endpoint, admin_token):
    r = httpx.get(auth_endpoint + "/clients")
    assert r.status_code == 401 and r.content == b""
    r = httpx.get(auth_endpoint + "/clients", headers=bearer("not-a-jwt"))
    assert r.status_code == 401 and r.content == b""
    r = httpx.get(auth_endpoint + "/clients", headers=bearer(admin_token))
    assert r.status_code == 200
    assert isinstance(r.json()["data"], list)


def test_clients_api_checks_signature_issuer_and_expiry(auth_endpoint):
    now = int(time.time())
    good = {"iss": auth_endpoint, "aud": ["x"], "iat": now, "nbf": now, "exp": now + 600, "scope": "auth:read auth:write"}
    key = stack_signing_key()
    assert httpx.get(auth_endpoint + "/clients", headers=bearer(sign_jwt(key, good))).status_code == 200
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert httpx.get(auth_endpoint + "/clients", headers=bearer(sign_jwt(other, good))).status_code == 401
    wrong_iss = dict(good, iss="http://elsewhere/api/auth")
    assert httpx.get(auth_endpoint + "/clients", headers=bearer(sign_jwt(key, wrong_iss))).status_code == 401
    expired = dict(good, exp=now - 10)
    assert httpx.get(auth_endpoint + "/clients", headers=bearer(sign_jwt(key, expired))).status_code == 401


def test_read_only_token_cannot_write(admin_client, auth_endpoint, unique_id):
    secret = make_client_with_secret(admin_client, unique_id, ["auth:read"])
    token = fetch_token(auth_endpoint, unique_id, secret, scope="auth:read auth:write")
    assert jwt_parts(token)[1]["scope"] == "auth:read"
    h = bearer(token)
    assert httpx.get(auth_endpoint + "/clients", headers=h).status_code == 200
    assert httpx.get(auth_endpoint + f"/clients/{unique_id}", headers=h).status_code == 200
    # The real go-libs middleware answers a missing scope like any failed authentication: 401, no body.
    r = httpx.post(auth_endpoint + "/clients", headers=h, json={"name": "nope"})
    assert r.status_code == 401 and r.content == b""
    assert httpx.delete(auth_endpoint + f"/clients/{unique_id}", headers=h).status_code == 401
    # A token without any auth scope cannot even read.
    no_scope = fetch_token(auth_endpoint, unique_id, secret, scope="")
    assert httpx.get(auth_endpoint + "/clients", headers=bearer(no_scope)).status_code == 401
    assert admin_client.delete(f"/clients/{unique_id}").status_code == 204


# ---------------------------------------------------------------- clients API behaviour


def test_create_echoes_null_and_read_returns_empty(admin_client, unique_id):
    r = admin_client.post("/clients", json={"id": unique_id, "name": "n1"})
    assert r.status_code == 201
    created = r.json()["data"]
    assert created == {
        "id": unique_id,
        "public": False,
        "redirectUris": None,
        "description": "",
        "name": "n1",
        "postLogoutRedirectUris": None,
        "metadata": None,
        "trusted": False,
        "scopes": None,
        "secrets": [],
    }
    read = admin_client.get(f"/clients/{unique_id}").json()["data"]
    assert read["redirectUris"] == [] and read["postLogoutRedirectUris"] == [] and read["scopes"] == []
    assert read["metadata"] == {} and read["secrets"] == []
    assert admin_client.delete(f"/clients/{unique_id}").status_code == 204


def test_create_without_id_gets_a_uuid_and_full_fields_roundtrip(admin_client):
    body = {
        "name": "full",
        "description": "d",
        "public": False,
        "trusted": True,
        "redirectUris": ["https://a.example/cb"],
        "postLogoutRedirectUris": ["https://a.example/bye"],
        "scopes": ["ledger:read", "ledger:write"],
        "metadata": {"team": "pay"},
    }
    r = admin_client.post("/clients", json=body)
    assert r.status_code == 201
    data = r.json()["data"]
    uuid.UUID(data["id"])
    read = admin_client.get(f"/clients/{data['id']}").json()["data"]
    for k in ("name", "description", "redirectUris", "postLogoutRedirectUris", "scopes", "metadata"):
        assert read[k] == body[k]
    # The real server's client view never copies `trusted`: it always answers false.
    assert data["trusted"] is False and read["trusted"] is False
    assert any(c["id"] == data["id"] for c in admin_client.get("/clients").json()["data"])
    admin_client.delete(f"/clients/{data['id']}")


def test_static_clients_are_not_listed(admin_client, local_stack):
    ids = [c["id"] for c in admin_client.get("/clients").json()["data"]]
    assert local_stack["clientId"] not in ids
    assert admin_client.get(f"/clients/{local_stack['clientId']}").status_code == 404


def test_put_replaces_everything_and_keeps_secrets(admin_client, unique_id):
    admin_client.post(
        "/clients",
        json={"id": unique_id, "name": "before", "description": "d", "scopes": ["a"], "metadata": {"k": "v"},
              "redirectUris": ["https://x/cb"]},
    )
    sec = admin_client.post(f"/clients/{unique_id}/secrets", json={"name": "keep"}).json()["data"]
    r = admin_client.put(f"/clients/{unique_id}", json={"id": "ignored-id", "name": "after"})
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["id"] == unique_id
    assert data["name"] == "after" and data["description"] == ""
    assert data["scopes"] is None and data["metadata"] is None and data["redirectUris"] is None
    assert [s["id"] for s in data["secrets"]] == [sec["id"]]
    read = admin_client.get(f"/clients/{unique_id}").json()["data"]
    assert read["scopes"] == [] and read["metadata"] == {} and read["redirectUris"] == []
    assert [s["id"] for s in read["secrets"]] == [sec["id"]]
    assert admin_client.get("/clients/ignored-id").status_code == 404
    admin_client.delete(f"/clients/{unique_id}")


def test_absent_client_answers(admin_client, unique_id):
    r = admin_client.get(f"/clients/{unique_id}")
    assert r.status_code == 404 and r.content == b""
    assert admin_client.put(f"/clients/{unique_id}", json={"name": "x"}).status_code == 404
    assert admin_client.post(f"/clients/{unique_id}/secrets", json={"name": "x"}).status_code == 404
    assert admin_client.delete(f"/clients/{unique_id}/secrets/whatever").status_code == 404
    r = admin_client.delete(f"/clients/{unique_id}")
    assert r.status_code == 204 and r.content == b""


def test_duplicate_id_and_bad_json(admin_client, unique_id):
    assert admin_client.post("/clients", json={"id": unique_id}).status_code == 201
    r = admin_client.post("/clients", json={"id": unique_id})
    assert r.status_code == 500
    assert r.json()["errorCode"] == "INTERNAL" and r.json()["errorMessage"]
    r = admin_client.post("/clients", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["errorCode"] == "VALIDATION"
    r = admin_client.put(f"/clients/{unique_id}", content=b"[1,2]")
    assert r.status_code == 400 and r.json()["errorCode"] == "VALIDATION"
    admin_client.delete(f"/clients/{unique_id}")


def test_secrets_lifecycle(admin_client, auth_endpoint, unique_id):
    admin_client.post("/clients", json={"id": unique_id, "scopes": ["auth:read"]})
    r = admin_client.post(f"/clients/{unique_id}/secrets", json={"name": "ci", "metadata": {"owner": "ci"}})
    assert r.status_code == 200
    sec = r.json()["data"]
    assert set(sec) == {"id", "lastDigits", "name", "clear"}
    uuid.UUID(sec["clear"])
    assert sec["lastDigits"] == sec["clear"][-4:] and sec["name"] == "ci"
    # The clear value is never shown again.
    read = admin_client.get(f"/clients/{unique_id}")
    assert sec["clear"] not in read.text
    (listed,) = read.json()["data"]["secrets"]
    assert listed["id"] == sec["id"] and listed["lastDigits"] == sec["lastDigits"]
    assert listed["name"] == "ci" and listed["metadata"] == {"owner": "ci"}
    # Secret names are not unique.
    sec2 = admin_client.post(f"/clients/{unique_id}/secrets", json={"name": "ci"}).json()["data"]
    assert sec2["id"] != sec["id"]
    # The secret works at the token endpoint until it is deleted.
    fetch_token(auth_endpoint, unique_id, sec["clear"], scope="auth:read")
    r = admin_client.delete(f"/clients/{unique_id}/secrets/{sec['id']}")
    assert r.status_code == 204
    assert admin_client.delete(f"/clients/{unique_id}/secrets/{sec['id']}").status_code == 404
    r = httpx.post(auth_endpoint + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(unique_id, sec["clear"]))
    assert r.status_code == 401
    fetch_token(auth_endpoint, unique_id, sec2["clear"], scope="auth:read")
    assert [s["id"] for s in admin_client.get(f"/clients/{unique_id}").json()["data"]["secrets"]] == [sec2["id"]]
    admin_client.delete(f"/clients/{unique_id}")


def test_data_lives_in_postgres_across_auth_restart(admin_client, admin_token, auth_endpoint, unique_id):
    admin_client.post("/clients", json={"id": unique_id, "name": "persisted"})
    before = pids_of_stack()
    run_local_stack("restart-auth")
    after = pids_of_stack()
    assert after["auth"] != before["auth"] and after["caddy"] == before["caddy"]
    # Same signing key: a token issued before the restart is still accepted.
    r = httpx.get(auth_endpoint + f"/clients/{unique_id}", headers=bearer(admin_token))
    assert r.status_code == 200 and r.json()["data"]["name"] == "persisted"
    assert httpx.delete(auth_endpoint + f"/clients/{unique_id}", headers=bearer(admin_token)).status_code == 204


# ---------------------------------------------------------------- the script itself


def test_up_twice_is_harmless(local_stack):
    before = pids_of_stack()
    t0 = time.monotonic()
    run_local_stack("up")
    assert time.monotonic() - t0 < 15
    assert pids_of_stack() == before
    assert read_formance_json() == local_stack
    status = run_local_stack("status")
    assert status.returncode == 0, status.stdout


def test_zz_down_leaves_no_process_then_up_again(local_stack):
    """Keep last in this file: stops the stack, checks nothing is left, brings it back."""
    pids = pids_of_stack()
    assert set(pids) == {"auth", "caddy", "postgres"}
    run_local_stack("down")
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [n for n, p in pids.items() if alive(p)]
    ports = [int(os.environ.get(v, d)) for v, d in (
        ("FORMANCE_LOCAL_PG_PORT", 55432), ("FORMANCE_LOCAL_AUTH_PORT", 18081), ("FORMANCE_LOCAL_GATEWAY_PORT", 18080))]
    assert not [p for p in ports if port_open(p)]
    leftovers = subprocess.run(["pgrep", "-f", str(LOCAL)], capture_output=True, text=True).stdout.split()
    assert leftovers == []
    assert run_local_stack("status").returncode != 0
    run_local_stack("down")  # a second down is harmless too
    run_local_stack("up")
    assert httpx.get(local_stack["endpoint"] + "/_healthcheck").status_code == 200
    assert read_formance_json() == local_stack
