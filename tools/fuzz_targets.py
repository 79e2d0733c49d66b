"""The fuzz targets of ``tools/fuzz.py``: one function per entry point, bytes in, contract checked.

Each target raises (an AssertionError, or whatever escaped meshals) only for a finding:
an exception that is not a ``MeshalsError``, or a broken invariant. They are plain functions,
so the regression tests (``tests/capture/test_bad_inputs.py``) and ``--reproduce`` run them without
atheris.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import meshals
from meshals import (
    AlsMessage,
    DecodeError,
    EncodeError,
    MeshalsError,
    ResolverError,
    StaticResolver,
    analyze,
    decode_binary,
    decode_json,
    read,
)
from meshals.capture import Container
from meshals.codec import Limits, encode_binary
from meshals.resolve import NameTemplate

__all__ = ["TARGETS"]

_TESTS = Path(__file__).resolve().parent.parent / "tests"
_TEMPLATE_CONTEXT = {
    "pod": {"metadata": {"name": "reviews-v1-5b7c", "labels": {"app": "reviews", "v": 1}}},
    "service": {"metadata": {"name": "reviews"}, "spec": {"ports": [{"port": 9080}]}},
}
_RESOLVER = StaticResolver.from_mapping(
    {
        "10.0.0.1": {"service": "productpage", "instance": "productpage-1"},
        "10.0.0.2:9080": {"service": "reviews", "instance": "reviews-1"},
    }
)


def _check_message(message: AlsMessage) -> None:
    """What every decoded message satisfies: immutable and hashable, printable."""
    hash(message)
    repr(message)
    for diagnostic in message.diagnostics:
        str(diagnostic)


def _decode_pair(decode: Callable[..., AlsMessage], data: bytes | str) -> AlsMessage | None:
    """Decode strict and lenient; check that they agree where strict succeeds."""
    try:
        strict = decode(data, strict=True)
    except DecodeError:
        strict = None
    try:
        lenient = decode(data)
    except DecodeError:
        # Lenient mode may fail only where strict fails too.
        assert strict is None, "lenient decoding failed where strict decoding did not"
        return None
    _check_message(lenient)
    if strict is not None:
        assert lenient == strict, "strict and lenient decoding disagree"
        assert lenient.diagnostics == (), "a strict success has lenient diagnostics"
    return lenient


def fuzz_json(data: bytes) -> None:
    """decode_json on the bytes, and on their text where they are UTF-8."""
    _decode_pair(decode_json, data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    _decode_pair(decode_json, text)


def fuzz_binary(data: bytes) -> None:
    """decode_binary; what decodes strictly re-encodes to the same message."""
    message = _decode_pair(decode_binary, data)
    if message is None or message.diagnostics:
        return
    try:
        encoded = encode_binary(message)
    except EncodeError:
        return  # a value the wire cannot carry: the encoder says so, as it must
    assert decode_binary(encoded, strict=True) == message, "re-encoding changed the message"


def _read_all(data: bytes, container: Container | None) -> None:
    for strict in (False, True):
        try:
            with read(io.BytesIO(data), container=container, strict=strict) as reader:
                for record in reader:
                    if isinstance(record, AlsMessage):
                        _check_message(record)
        except DecodeError:
            pass


def fuzz_read(data: bytes) -> None:
    """read() with the container detected from the content."""
    _read_all(data, None)


def fuzz_framers(data: bytes) -> None:
    """read() with each container given: the first byte picks it, the rest is the input."""
    if not data:
        return
    containers = list(Container)
    _read_all(data[1:], containers[data[0] % len(containers)])


def fuzz_analyze(data: bytes) -> None:
    """read() then analyze(): every entry read is accounted for, analysed or skipped."""
    try:
        reader = read(io.BytesIO(data))
        messages: list[object] = []
        analysis = analyze(_collect(reader, messages), resolver=_RESOLVER)
        metrics = analysis.metrics()
    except MeshalsError:
        return
    accounting = analysis.accounting
    entries = sum(len(m.entries) for m in messages if isinstance(m, AlsMessage))
    assert accounting.entries_in == accounting.analyzed + accounting.skipped_total
    assert accounting.metrics_out == len(metrics)
    if all(isinstance(m, AlsMessage) for m in messages):
        assert accounting.entries_in == entries, "an entry read was not accounted for"
        assert accounting.messages == len(messages)
    for metric in metrics:
        hash(metric)
        metric.to_dict()


def _collect(reader: meshals.Reader, sink: list[object]) -> Iterator[object]:
    for record in reader:
        sink.append(record)
        yield record


def fuzz_template(data: bytes) -> None:
    """NameTemplate: parsed, never evaluated; malformed: ResolverError; render never raises."""
    text = data.decode("utf-8", errors="replace")
    try:
        template = NameTemplate(text, variables=("pod", "service"))
    except ResolverError:
        return
    rendered = template.render(_TEMPLATE_CONTEXT)
    assert isinstance(rendered, str)


def fuzz_static(data: bytes) -> None:
    """StaticResolver.from_json: a resolver table, or ResolverError."""
    try:
        resolver = StaticResolver.from_json(data)
    except ResolverError:
        return
    resolver.resolve("10.0.0.1", 80)
    resolver.resolve("::1", None)


def fuzz_kubernetes(data: bytes) -> None:
    """KubernetesResolver.from_json: a snapshot, or ResolverError."""
    try:
        resolver = meshals.KubernetesResolver.from_json(data)
    except ResolverError:
        return
    resolver.resolve("10.0.0.1", 9080)


def fuzz_l4(data: bytes) -> None:
    """parse_l4_line on one line of a ztunnel or Kmesh log: a connection, a skip, or DecodeError."""
    from meshals.codec._l4_lines import parse_l4_line as parse

    text = data.decode("utf-8", errors="replace")
    try:
        result = parse(text)
    except DecodeError:
        return
    hash(result)


# Tight limits, which the accelerator must enforce as the pure path does (see fuzz_accel).
_TIGHT_LIMITS = Limits(max_entries=2, max_string_length=16, max_nesting_depth=3, max_diagnostics=2)


def fuzz_accel(data: bytes) -> None:
    """decode_binary with the C accelerator and on the pure path: identical outcomes.

    The accelerator answers only for the canonical encodings Envoy writes and hands anything
    else to the pure path, so the two must give the same message (types, diagnostics, source
    and index included) or the same DecodeError, whatever the input, strict and lenient,
    within the default limits or, for a third of the inputs (chosen by length, so that a
    finding reproduces), tight ones. The comparison is the differential tests' own
    (``tests/property/accel_paths.py``). Where meshals was built without the accelerator both
    sides are the pure path and this checks the error contract only (``nox -s fuzz_accel``
    requires the extension).
    """
    if str(_TESTS) not in sys.path:
        sys.path.append(str(_TESTS))
    from property.accel_paths import both_paths

    limits = _TIGHT_LIMITS if len(data) % 3 == 0 else Limits()
    for strict in (False, True):
        (kind, value), _ = both_paths(data, strict=strict, limits=limits)
        if kind == "message":
            _check_message(value)


def fuzz_accel_json(data: bytes) -> None:
    """decode_json with the compiled converter (and orjson), and on the two Python paths.

    The compiled converter takes the entries Envoy writes and leaves anything else to Python,
    so the three must give the same message (types, diagnostics, source and index included)
    or the same DecodeError, strict and lenient, within the default limits or tight ones
    (as fuzz_accel). The comparison is the tests' own (``tests/property/accel_paths.py``).
    """
    if str(_TESTS) not in sys.path:
        sys.path.append(str(_TESTS))
    from property.accel_paths import json_paths

    limits = _TIGHT_LIMITS if len(data) % 3 == 0 else Limits()
    for strict in (False, True):
        kind, value = json_paths(data, strict=strict, limits=limits)
        if kind == "message":
            _check_message(value)


def fuzz_json_oracle(data: bytes) -> None:
    """decode_json held to json_format (tools/_oracle.py): same content, or a problem said."""
    from _oracle import check_json

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # bytes that are not UTF-8: the json target's business
    check_json(text)


def fuzz_binary_oracle(data: bytes) -> None:
    """decode_binary held to upb (tools/_oracle.py): same content, or a problem said."""
    from _oracle import check_binary

    check_binary(data)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "json": fuzz_json,
    "binary": fuzz_binary,
    "read": fuzz_read,
    "framers": fuzz_framers,
    "analyze": fuzz_analyze,
    "template": fuzz_template,
    "static": fuzz_static,
    "kubernetes": fuzz_kubernetes,
    "l4": fuzz_l4,
    "json_oracle": fuzz_json_oracle,
    "binary_oracle": fuzz_binary_oracle,
    "accel": fuzz_accel,
    "accel_json": fuzz_accel_json,
}
