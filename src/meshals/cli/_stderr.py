"""The command's own lines on stderr: its name, and ``meshals: error: <reason>``."""

from __future__ import annotations

import sys

__all__: list[str] = []

_PROG = "meshals"


def _error(reason: str) -> None:
    print(f"{_PROG}: error: {reason}", file=sys.stderr)
