"""``meshals names``: the workloads the captures name themselves, written as the static table
``--resolver`` reads, for review and editing; the conflicts as warnings on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from meshals._errors import MeshalsError
from meshals.capture._detect import Container

from ._inputs import Spool, inputs
from ._naming import observed_names
from ._run import _failed, _plural
from ._stderr import _PROG

__all__: list[str] = []


def _names(args: argparse.Namespace, *, container: Container | None, out: TextIO) -> int:
    """``names``: IP -> service and instance, as JSON."""
    try:
        sources, notes = inputs(args.files)
        with Spool() as spool:  # standard input, read by a worker process or not
            observed = observed_names(
                [spool.of(source) for source in sources],
                container=container,
                strict=args.strict,
                reidentify=args.reidentify,
                jobs=args.jobs,
            )
    except (MeshalsError, OSError) as exc:
        return _failed(exc)
    out.write(observed.to_json())
    for warning in (*notes, *observed.diagnostics):
        print(f"{_PROG}: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        print(
            f"{_PROG}: {_plural(len(sources), 'file')}: {_plural(len(observed), 'IP')} named",
            file=sys.stderr,
        )
    return 0
