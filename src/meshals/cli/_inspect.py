"""``meshals inspect``: one capture file's report, buffered, or one error line.

Per file: the container, each message's identifier and the role its node id implies, and a
one-line summary per entry (``--json``: one JSON object per entry). Each file's output is
buffered: a file that fails prints nothing to stdout, only ``meshals: error: <where>:
<reason>`` to stderr, and the exit status is 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from meshals._errors import Diagnostic, MeshalsError
from meshals.capture._detect import Container
from meshals.model._als import AlsMessage

from ._inputs import Input, nothing_read
from ._inspect_lines import _MISSING, _json_lines, _other_record_line, _Stream, _text_lines
from ._stderr import _PROG, _error

__all__: list[str] = []


def _inspect_file(
    source: Input, *, container: Container | None, strict: bool, as_json: bool, out: TextIO
) -> bool:
    """Print one input's report to *out*, or one error line to stderr; whether it succeeded."""
    try:
        lines, warnings = _render_file(source, container=container, strict=strict, as_json=as_json)
    except MeshalsError as exc:
        _error(str(exc))
        return False
    except OSError as exc:
        _error(f"{source.name}: {exc.strerror or exc}")
        return False
    out.writelines(line + "\n" for line in lines)
    _report_warnings(source.name, warnings)
    return True


def _render_file(
    source: Input, *, container: Container | None, strict: bool, as_json: bool
) -> tuple[list[str], list[Diagnostic]]:
    """The output lines of one file and its warnings in input order, all held until the end."""
    render = _json_lines if as_json else _text_lines
    lines: list[str] = []
    warnings: list[Diagnostic] = []
    reported = 0  # of the reader's diagnostics: it adds one per skipped message, as it skips
    path = source.name
    with source.open(container=container, strict=strict) as reader:
        stream = _Stream()
        for position, record in enumerate(reader):
            index = position if record.index is None else record.index
            warnings.extend(reader.diagnostics[reported:])
            reported = len(reader.diagnostics)
            if not isinstance(record, AlsMessage):  # an L4 log's connection, not ALS
                lines.append(_other_record_line(path, record, index, as_json=as_json))
                continue
            warnings.extend(record.diagnostics)
            stream.update(record, index)
            lines.extend(render(path, record, index, stream))
        warnings.extend(reader.diagnostics[reported:])
    empty = nothing_read(reader)
    if empty is not None:
        warnings.append(empty)
    if not as_json:
        detected = _MISSING if reader.container is None else reader.container.value
        compressed = "" if reader.compression is None else f" ({reader.compression})"
        lines.insert(0, f"{path}: container {detected}{compressed}")
    return lines, warnings


def _report_warnings(path: str, warnings: Sequence[Diagnostic]) -> None:
    for warning in warnings:
        print(f"{_PROG}: warning: {warning}", file=sys.stderr)
    if warnings:
        noun = "warning" if len(warnings) == 1 else "warnings"
        print(f"{_PROG}: {path}: {len(warnings)} {noun}", file=sys.stderr)
