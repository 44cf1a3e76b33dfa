"""Print shell exports for the local stack's bootstrap client (used by make demo and scripts).

The values are written for ``eval`` in the caller's shell, never echoed to a terminal.
"""

from __future__ import annotations

import json
import shlex
import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else ".local/formance.json"
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    exports = {
        "FORMANCE_ENDPOINT": data["endpoint"],
        "FORMANCE_CLIENT_ID": data["clientId"],
        "FORMANCE_CLIENT_SECRET": data["clientSecret"],
    }
    for key, value in exports.items():
        print(f"export {key}={shlex.quote(str(value))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
