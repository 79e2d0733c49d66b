"""Bytes, text and protobuf objects to the model and back, sans-IO.

The binary decoder (a protobuf wire walker, then conversion), the proto3 JSON decoder, the
encoders, the L4 log-line parser, and the limits and diagnostics that keep hostile input
bounded. Nothing here opens a file: callers hand in bytes or text.
"""

from ._binary import (
    decode_binary,
    decode_message,
)
from ._encode import (
    encode_binary,
    encode_message,
)
from ._go_duration import (
    parse_go_duration,
)
from ._json import (
    decode_json,
)
from ._l4_lines import (
    parse_l4_line,
)
from ._limits import (
    Limits,
)

__all__ = [
    "Limits",
    "decode_binary",
    "decode_json",
    "decode_message",
    "encode_binary",
    "encode_message",
    "parse_go_duration",
    "parse_l4_line",
]
