"""Pure tests of formance_provider.diffing: what changes, what replaces, and why."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from formance_provider.diffing import UNKNOWN, DiffPlan, diff_client, diff_secret, secret_age_due

# ---------------------------------------------------------------- clients

OLD_CLIENT = {
    "client_id": "cid",
    "name": "app",
    "description": "d",
    "public": False,
    "trusted": False,
    "redirect_uris": ["https://a.example/cb", "https://b.example/cb"],
    "post_logout_redirect_uris": [],
    "scopes": ["a", "b"],
    "metadata": {"k": "v"},
    "adopt": False,
    "owner": "p/s/app",
    "__provider": "serialised",
}


def _news(**changes):
    news = {k: v for k, v in OLD_CLIENT.items() if k != "__provider"}
    news.update(changes)
    return news


@pytest.mark.parametrize(
    "news, changed, replaces",
    [
        (_news(), (), ()),
        (_news(scopes=["b", "a"]), (), ()),
        (_news(scopes=["b", "a", "a"]), (), ()),
        (_news(metadata={"k": "v"}), (), ()),
        (_news(adopt=True), (), ()),  # adopt only matters at create
        (_news(owner="p/s/other"), (), ()),  # bookkeeping
        (_news(description="new"), ("description",), ()),
        (_news(public=True), ("public",), ()),
        (_news(trusted=True), ("trusted",), ()),
        (_news(name="renamed"), ("name",), ()),
        (_news(redirect_uris=["https://b.example/cb", "https://a.example/cb"]), ("redirect_uris",), ()),  # order matters
        (_news(scopes=["a"]), ("scopes",), ()),
        (_news(metadata={"k": "w"}), ("metadata",), ()),
        (_news(client_id="other"), (), ("client_id",)),
        (_news(client_id=UNKNOWN), (), ("client_id",)),
        (_news(description=UNKNOWN), ("description",), ()),
        (_news(scopes=["a", UNKNOWN]), ("scopes",), ()),
        (_news(metadata={"k": UNKNOWN}), ("metadata",), ()),
        (_news(name=None), (), ()),
    ],
)
def test_diff_client(news, changed, replaces):
    plan = diff_client(OLD_CLIENT, news)
    assert plan.changed == changed
    assert plan.replaces == replaces
    assert plan.changes is bool(changed or replaces)
    assert plan.rotate_in_place is False


@pytest.mark.parametrize(
    "old_value, new_value",
    [(None, []), ([], None), (None, None), ("missing", []), ("missing", None), ([], "missing")],
)
@pytest.mark.parametrize("key, empty", [("scopes", []), ("redirect_uris", []), ("post_logout_redirect_uris", []), ("metadata", {}), ("description", "")])
def test_diff_client_null_empty_missing_are_equal(key, empty, old_value, new_value):
    def pick(value):
        return empty if value == [] else value

    olds = {"client_id": "c", "name": "n"}
    news = {"client_id": "c", "name": "n"}
    if old_value != "missing":
        olds[key] = pick(old_value)
    if new_value != "missing":
        news[key] = pick(new_value)
    assert diff_client(olds, news) == DiffPlan()


def test_diff_client_from_server_null_echo_state():
    # State written from a POST echo holds None; new inputs hold lists: no change.
    olds = {"client_id": "c", "name": "n", "public": None, "trusted": None, "scopes": None, "metadata": None}
    news = {"client_id": "c", "name": "n", "public": False, "trusted": False, "scopes": [], "metadata": {}}
    assert not diff_client(olds, news).changes


# ---------------------------------------------------------------- secrets

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
CREATED = (NOW - timedelta(days=10)).isoformat()

OLD_SECRET = {
    "client_id": "cid",
    "name": "s",
    "metadata": {"team": "x"},
    "keepers": {"rotated": "2026-05"},
    "rotate_after_days": None,
    "grace_updates": 0,
    "secret_id": "sid",
    "last_digits": "abcd",
    "client_secret": "clear-value",
    "created_at": CREATED,
    "retiring": [],
}


def _snews(**changes):
    news = {k: OLD_SECRET[k] for k in ("client_id", "name", "metadata", "keepers", "rotate_after_days", "grace_updates")}
    news.update(changes)
    return news


@pytest.mark.parametrize(
    "olds_changes, news, changed, replaces, rotate_in_place, reasons",
    [
        ({}, _snews(), (), (), False, ()),
        ({}, _snews(metadata={"team": "x"}, keepers={"rotated": "2026-05"}), (), (), False, ()),
        ({"metadata": None}, _snews(metadata={}), (), (), False, ()),
        ({"keepers": None}, _snews(keepers=None), (), (), False, ()),
        ({"grace_updates": None}, _snews(grace_updates=0), (), (), False, ()),
        ({}, _snews(keepers={"rotated": "2026-06"}), (), ("keepers",), False, ("keeper changed",)),
        ({}, _snews(keepers={}), (), ("keepers",), False, ("keeper changed",)),
        ({}, _snews(keepers={"rotated": UNKNOWN}), (), ("keepers",), False, ("keeper changed",)),
        ({}, _snews(metadata={"team": "y"}), (), ("metadata",), False, ("metadata changed",)),
        ({}, _snews(name="t"), (), ("name",), False, ("name changed",)),
        ({}, _snews(client_id="other"), (), ("client_id",), False, ("client replaced",)),
        ({}, _snews(client_id=UNKNOWN), (), ("client_id",), False, ("client replaced",)),
        # rotate_after_days / grace_updates themselves are plain updates
        ({}, _snews(rotate_after_days=30), ("rotate_after_days",), (), False, ()),
        ({}, _snews(grace_updates=2), ("grace_updates",), (), False, ()),
        # age: created 10 days before NOW
        ({"rotate_after_days": 10}, _snews(rotate_after_days=10), (), ("rotate_after_days",), False, ("older than 10 days",)),
        ({"rotate_after_days": 5}, _snews(rotate_after_days=5), (), ("rotate_after_days",), False, ("older than 5 days",)),
        ({"rotate_after_days": 11}, _snews(rotate_after_days=11), (), (), False, ()),
        ({"rotate_after_days": 5, "created_at": None}, _snews(rotate_after_days=5), (), (), False, ()),
        ({"rotate_after_days": 5, "created_at": "garbage"}, _snews(rotate_after_days=5), (), (), False, ()),
        # grace > 0: a rotation is done in place (old secret kept for a while)
        ({"grace_updates": 2}, _snews(grace_updates=2, keepers={"rotated": "2026-06"}), ("keepers",), (), True, ("keeper changed",)),
        ({"grace_updates": 1, "rotate_after_days": 7}, _snews(grace_updates=1, rotate_after_days=7),
         ("rotate_after_days",), (), True, ("older than 7 days",)),
        # ... but not when the identity changes
        ({"grace_updates": 2}, _snews(grace_updates=2, name="t"), (), ("name",), False, ("name changed",)),
        ({"grace_updates": 2}, _snews(grace_updates=2, name="t", keepers={}), (), ("name", "keepers"), False,
         ("name changed", "keeper changed")),
        # pending retirements are a change of their own
        ({"retiring": [{"secret_id": "old", "remaining_updates": 1}]}, _snews(), ("retiring",), (), False,
         ("retire old secret after its grace period",)),
    ],
)
def test_diff_secret(olds_changes, news, changed, replaces, rotate_in_place, reasons):
    olds = {**OLD_SECRET, **olds_changes}
    plan = diff_secret(olds, news, NOW)
    assert plan.changed == changed
    assert plan.replaces == replaces
    assert plan.rotate_in_place is rotate_in_place
    assert plan.reasons == reasons
    assert plan.changes is bool(changed or replaces)


@pytest.mark.parametrize(
    "days, created, due",
    [
        (30, NOW - timedelta(days=30), True),
        (30, NOW - timedelta(days=30) + timedelta(seconds=1), False),
        (30, NOW - timedelta(days=400), True),
        (None, NOW - timedelta(days=400), False),
        (0, NOW - timedelta(days=400), False),
        (-1, NOW - timedelta(days=400), False),
        (True, NOW - timedelta(days=400), False),
        ("30", NOW - timedelta(days=400), False),
    ],
)
def test_secret_age_due(days, created, due):
    assert secret_age_due({"created_at": created.isoformat()}, days, NOW) is due


def test_secret_age_due_accepts_z_suffix():
    assert secret_age_due({"created_at": "2026-01-01T00:00:00Z"}, 30, NOW) is True


@pytest.mark.parametrize("created, due", [("2026-05-01T12:00:00", True), ("2026-05-20T12:00:00", False)])
def test_secret_age_due_naive_timestamp_is_utc(created, due):
    # Regression: a created_at without offset used to raise TypeError against an aware `now`.
    assert secret_age_due({"created_at": created}, 30, NOW) is due
