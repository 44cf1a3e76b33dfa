"""Golden-file tests of ``formance-pulumi review``.

Fixtures under golden/review/ are real ``pulumi preview --json`` outputs (CLI v3.276.0,
local stack) trimmed of stack traces, except 05 (hand-edited from 03: secret signature
objects as ``--show-secrets`` prints them, an unknown key, and a replace split into
create-replacement + delete-replaced as ``pulumi up --json`` shows it) and 07 (a state
export, not a preview). Regenerate the Markdown with REVIEW_GOLDEN_UPDATE=1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from formance_provider import cli, review

GOLDEN = Path(__file__).parent / "golden" / "review"
NOW = "2027-06-01T00:00:00Z"

EXPECTED_EXIT = {
    "01-create": 0,
    "02-no-changes": 0,
    "03-mixed-destructive": 3,
    "04-grace-rotation": 0,
    "05-secrets-and-split-replace": 3,
    "06-preview-failed": 2,
}


@pytest.fixture(autouse=True)
def _clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORMANCE_PULUMI_NOW", NOW)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["review", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", sorted(EXPECTED_EXIT))
def test_golden(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, str(GOLDEN / f"{name}.json"))
    expected = GOLDEN / f"{name}.md"
    if os.environ.get("REVIEW_GOLDEN_UPDATE"):
        expected.write_text(out, encoding="utf-8")
    assert out == expected.read_text(encoding="utf-8")
    assert code == EXPECTED_EXIT[name]


def test_every_fixture_has_an_expectation() -> None:
    names = {p.stem for p in GOLDEN.glob("*.json")} - {"07-not-a-preview"}
    assert names == set(EXPECTED_EXIT)


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO((GOLDEN / "03-mixed-destructive.json").read_text()))
    code, out, _ = run_cli(capsys, "-")
    assert code == 3
    assert out == (GOLDEN / "03-mixed-destructive.md").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO((GOLDEN / "02-no-changes.json").read_text()))
    assert run_cli(capsys)[0] == 0


@pytest.mark.parametrize(
    "text",
    ["", "not json", "[]", '"steps"', '{"steps": "x"}', '{"steps": [{"nope": 1}]}', (GOLDEN / "07-not-a-preview.json").read_text()],
)
def test_bad_input(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "in.json"
    path.write_text(text)
    code, out, err = run_cli(capsys, str(path))
    assert code == 2
    assert out == ""
    assert "review:" in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, str(tmp_path / "absent.json"))[0] == 2


def _secret_strings(value: object) -> list[str]:
    """Every string the fixture marks secret, unwrapped from signature objects."""
    found: list[str] = []
    if isinstance(value, dict):
        if value.get(review.SECRET_SIG_KEY) == review.SECRET_SIG_VALUE:
            for key in ("plaintext", "ciphertext", "value"):
                if isinstance(value.get(key), str):
                    found.append(value[key])
                    found.append(json.loads(value[key]) if key == "plaintext" else value[key])
        for v in value.values():
            found += _secret_strings(v)
    elif isinstance(value, list):
        for v in value:
            found += _secret_strings(v)
    return found


def test_secret_values_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    path = GOLDEN / "05-secrets-and-split-replace.json"
    secrets = _secret_strings(json.loads(path.read_text()))
    assert "fsec_PLAINTEXT-SECRET-DO-NOT-PRINT" in secrets and "META-SECRET-DO-NOT-PRINT" in secrets
    code, out, err = run_cli(capsys, str(path))
    assert code == 3
    for secret in secrets + ["UNKNOWN-KEY-VALUE-DO-NOT-PRINT", "DO-NOT-PRINT", "x_unknown_field"]:
        assert secret not in out and secret not in err
    assert "secret value, not shown" in out


def test_client_secret_output_ignored_even_in_plain_text() -> None:
    """A client_secret that reached the JSON unmarked (e.g. --show-secrets of an old state) is still not printed."""
    doc = {
        "steps": [
            {
                "op": "delete",
                "urn": "urn:pulumi:s::p::pulumi-python:dynamic/formance:ClientSecret::app/main",
                "oldState": {
                    "type": review.SECRET_TYPE,
                    "outputs": {"client_id": "c1", "name": "main", "client_secret": "PLAIN-VALUE-1234", "secret_id": "s1", "last_digits": "1234"},
                },
            }
        ]
    }
    markdown, code = review.review(json.dumps(doc))
    assert code == 3
    assert "PLAIN-VALUE" not in markdown
    assert "app/main" in markdown


def _client_update(old: dict, new: dict) -> dict:
    urn = "urn:pulumi:s::p::pulumi-python:dynamic/formance:OAuth2Client::app"
    return {
        "steps": [
            {
                "op": "update",
                "urn": urn,
                "oldState": {"type": review.CLIENT_TYPE, "outputs": {"client_id": "c1", "name": "app", **old}},
                "newState": {"type": review.CLIENT_TYPE, "inputs": {"client_id": "c1", "name": "app", **new}},
            }
        ]
    }


def test_normalisation_agrees_with_provider_diff() -> None:
    """Reordered or duplicated scopes and null vs empty are no change, as in diffing.diff_client."""
    doc = _client_update(
        {"scopes": ["b", "a"], "metadata": {}, "description": "", "public": False},
        {"scopes": ["a", "b", "a"], "metadata": None, "description": None, "public": None, "trusted": True},
    )
    markdown, code = review.review(json.dumps(doc))
    assert code == 0
    assert "trusted: `false` → `true`" in markdown
    assert "scopes" not in markdown and "metadata" not in markdown and "description" not in markdown


def test_unknown_values_shown_as_known_after_apply() -> None:
    doc = _client_update({"description": "x"}, {"description": review.UNKNOWN})
    markdown, _ = review.review(json.dumps(doc))
    assert "(known after apply)" in markdown
    assert review.UNKNOWN not in markdown


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["review", "--help"])
    out = capsys.readouterr().out
    assert "3 destructive" in out and "2 bad input" in out and "0 no changes" in out
    assert "Exit codes" in (review.__doc__ or "")
