"""Fixtures of the end-to-end tests (helpers live in pulumi_project.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pulumi_project import PulumiProject, make_project


@pytest.fixture(scope="session")
def pulumi_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pulumi-home")


@pytest.fixture
def project(local_stack: dict, pulumi_home: Path, tmp_path: Path) -> Iterator[PulumiProject]:
    """A fresh project dir, stack and file backend; destroyed at the end so the server is left as before."""
    proj = make_project(local_stack, pulumi_home, tmp_path)
    yield proj
    proj.run("destroy", "--yes", "--skip-preview", "--continue-on-error", check=False)

