"""``formance-pulumi review``: placeholder until the review summary lands (issue 7)."""

from __future__ import annotations

from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("review", help="(not implemented yet)")
    p.set_defaults(func=lambda _args: 2)
