"""``python -m meshals``: the same as the ``meshals`` command."""

from __future__ import annotations

from meshals.cli import entrypoint

if __name__ == "__main__":
    entrypoint()
