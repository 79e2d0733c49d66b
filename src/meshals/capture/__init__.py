"""Capture files: which container a byte stream is, its framing, and ``read()``.

The one place on the ingest path that reads files (the paths or binary files it is given);
it detects JSON, JSON Lines, binary, varint-delimited, gRPC-framed and L4 log containers and
hands each message's bytes or text to :mod:`meshals.codec`.
"""

from ._containers import (
    Reader,
    Record,
    read,
)
from ._detect import (
    Container,
)

__all__ = ["Container", "Reader", "Record", "read"]
