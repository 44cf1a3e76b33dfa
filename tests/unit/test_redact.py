"""Pure tests of formance_provider.redact."""

from __future__ import annotations

import pytest

from formance_provider.redact import EXCERPT_LENGTH, MASK, Redactor


@pytest.mark.parametrize(
    "values, text, expected",
    [
        (["s3cr3t-value"], "secret is s3cr3t-value!", f"secret is {MASK}!"),
        (["abcd"], "abcd abcd", f"{MASK} {MASK}"),
        (["abc"], "abc", "abc"),  # too short to be a secret worth masking
        ([""], "text", "text"),
        (["tok-1", "tok-1-longer"], "x tok-1-longer y", f"x {MASK} y"),  # longest first
        ([], "nothing", "nothing"),
    ],
)
def test_redactor_masks(values, text, expected):
    assert Redactor(values)(text) == expected


def test_add_none_is_ignored():
    r = Redactor()
    r.add(None)
    assert r("None") == "None"


def test_excerpt_redacts_before_truncating():
    secret = "S" * 50 + "TAIL"
    r = Redactor([secret])
    # The secret straddles the cut: truncating first would leak its first part.
    text = "a" * (EXCERPT_LENGTH - 20) + secret
    out = r.excerpt(text)
    assert "SSSS" not in out and "TAIL" not in out
    assert MASK in out


def test_excerpt_truncates_and_flattens():
    out = Redactor().excerpt("line1\n\n  line2 " + "x" * 500)
    assert "\n" not in out
    assert out.endswith("...'")
    assert len(out) <= EXCERPT_LENGTH + 5


def test_excerpt_empty_body():
    assert Redactor().excerpt("  \n") == "(empty body)"
