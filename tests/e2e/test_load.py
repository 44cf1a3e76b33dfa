"""Issue 6: one `up` of many clients with 2 secrets each leaves every object on the server exactly once.

The default size (200 clients, 600 resources) runs in `make test`; FORMANCE_HEAVY=1 adds a
500-client variant. Time and memory are measured by the benchmark (bench/), not here.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from pulumi_project import PulumiProject

SIZES = [200] + ([500] if os.environ.get("FORMANCE_HEAVY") == "1" else [])


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("count", SIZES)
def test_many_clients_each_exactly_once(project: PulumiProject, admin_api, count: int) -> None:
    clients = {f"c{i:03d}": {"scopes": ["ledger:read"], "secrets": {"a": {}, "b": {}}} for i in range(count)}
    project.write_config(clients)
    project.up("--parallel", "32")

    out = project.outputs()["clients"]
    assert len(out) == count
    prefix = f"formance-auth/{project.stack}/"
    ours = [c for c in admin_api.list_clients() if (c.owner or "").startswith(prefix)]
    ids = Counter(c.client_id for c in ours)
    assert len(ours) == count and max(ids.values()) == 1, "a client exists twice or is missing"
    assert set(ids) == {c["clientId"] for c in out.values()}
    by_id = {c.client_id: c for c in ours}
    for key, declared in out.items():
        server = by_id[declared["clientId"]]
        assert sorted(s.name for s in server.secrets) == ["a", "b"], key
        assert {s.secret_id for s in server.secrets} == {v["secretId"] for v in declared["secrets"].values()}, key
    project.preview("--expect-no-changes")
