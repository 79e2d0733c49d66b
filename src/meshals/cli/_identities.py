"""``meshals identities``: the SPIFFE ids each workload presented, with their conflicts, as a
table, JSON or JSON Lines; the conflicts also as warnings on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from meshals._errors import MeshalsError
from meshals.aggregate._identities import Identities, IdentitiesAccumulator, identities
from meshals.capture._detect import Container

from ._run import _analyze_all, _failed, _finish
from ._stderr import _PROG
from ._tables import identities_table

__all__: list[str] = []


def _identities(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``identities``: workload -> SPIFFE ids as a table, JSON or JSON Lines."""
    accumulator = IdentitiesAccumulator()
    try:
        run = _analyze_all(
            args, container=container, summarise=identities, merge=accumulator.add_identities
        )
        table = accumulator.result()
        text = _render(table, args.format)
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(text)
    for conflict in table.conflicts:
        print(f"{_PROG}: warning: identity conflict: {conflict.reason}", file=sys.stderr)
    _finish(run)
    return 0


def _render(table: Identities, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(table.to_dict(), indent=2) + "\n"
    if fmt == "jsonl":
        return "".join(json.dumps(record) + "\n" for record in table.records())
    return identities_table(table)
