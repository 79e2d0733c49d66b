"""Write ``tests/fixtures/diff``: the bookinfo recordings with changes injected, for ``diff``.

The AFTER capture is ``tests/fixtures/envoy/*.bin`` decoded with meshals and re-encoded with
its own encoder (:func:`meshals.codec.encode_binary`), with three changes:

- **reviews fails**: every response reviews gives (its own inbound entries, and productpage's
  outbound entries to it) becomes a 503;
- **a new call**: productpage calls ``reviews-v2`` (127.0.0.10, named in ``resolver.json``), a
  service the BEFORE capture never called: a copy of its first outbound call to reviews, sent
  to the new address;
- **a vanished edge**: productpage's call to recommendations is gone.

Every other entry, and every timestamp, is kept. Deterministic: running it twice writes the
same bytes. Usage: ``python tools/make_diff_fixtures.py [--output DIR]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs

import meshals
from meshals.codec import encode_binary
from meshals.codec._wire import encode_varint
from meshals.model import AlsMessage, HttpEntry, SocketAddress

REPO_ROOT = Path(__file__).resolve().parent.parent
BEFORE = REPO_ROOT / "tests" / "fixtures" / "envoy"
DEFAULT_OUTPUT = REPO_ROOT / "tests" / "fixtures" / "diff"
EXAMPLE_RESOLVER = REPO_ROOT / "src" / "meshals" / "examples" / "bookinfo" / "resolver.json"
CAPTURES = (
    "details-http",
    "istio-ingressgateway-http",
    "mongodb-tcp",
    "productpage-http",
    "productpage-tcp",
    "reviews-http",
)
REVIEWS = "127.0.0.3"
RECOMMENDATIONS = "127.0.0.6"
NEW_SERVICE_IP = "127.0.0.10"
NEW_SERVICE = {
    "service": "reviews-v2",
    "instance": "reviews-v2-new",
    "namespace": "default",
    "tags": {"app": "reviews", "version": "v2"},
}


def _upstream_ip(entry: HttpEntry) -> str | None:
    common = entry.common_properties
    address = None if common is None else common.upstream_remote_address
    return address.address if isinstance(address, SocketAddress) else None


def _local_ip(entry: HttpEntry) -> str | None:
    common = entry.common_properties
    address = None if common is None else common.downstream_local_address
    return address.address if isinstance(address, SocketAddress) else None


def _outbound(entry: HttpEntry) -> bool:
    common = entry.common_properties
    return common is not None and common.upstream_cluster.startswith("outbound|")


def _failing(entry: HttpEntry) -> HttpEntry:
    """*entry* answered 503 (the response's sizes and headers are kept)."""
    if entry.response is None:
        return entry
    return attrs.evolve(entry, response=attrs.evolve(entry.response, response_code=503))


def _to_new_service(entry: HttpEntry) -> HttpEntry:
    """*entry* sent to the new service instead (cluster and upstream address)."""
    common = entry.common_properties
    assert common is not None
    assert isinstance(common.upstream_remote_address, SocketAddress)
    return attrs.evolve(
        entry,
        common_properties=attrs.evolve(
            common,
            upstream_cluster="outbound|9080||reviews-v2.default.svc.cluster.local",
            upstream_remote_address=attrs.evolve(
                common.upstream_remote_address, address=NEW_SERVICE_IP
            ),
        ),
    )


def changed_entries(name: str, entries: Sequence[HttpEntry], *, first: bool) -> list[HttpEntry]:
    """One message's HTTP entries of capture *name* with the changes injected; *first*: the
    capture's first message (the new call is added there)."""
    changed: list[HttpEntry] = []
    for entry in entries:
        if _outbound(entry) and _upstream_ip(entry) == RECOMMENDATIONS:
            continue  # the vanished edge
        served_by_reviews = name == "reviews-http" and not _outbound(entry)
        called_reviews = _outbound(entry) and _upstream_ip(entry) == REVIEWS
        changed.append(_failing(entry) if served_by_reviews or called_reviews else entry)
    if name == "productpage-http" and first:
        calls = [entry for entry in entries if _outbound(entry) and _upstream_ip(entry) == REVIEWS]
        if calls:
            changed.append(_to_new_service(calls[0]))
    return changed


def after_capture(name: str) -> bytes:
    """The AFTER capture of *name*: each message re-encoded, varint length-delimited."""
    frames = []
    new_call_added = False
    with meshals.read(BEFORE / f"{name}.bin") as reader:
        for record in reader:
            assert isinstance(record, AlsMessage), "an ALS capture holds ALS messages"
            message = record
            if message.kind == "http":
                has_reviews_call = any(
                    _outbound(entry) and _upstream_ip(entry) == REVIEWS
                    for entry in message.http_entries
                )
                entries = changed_entries(
                    name, message.http_entries, first=has_reviews_call and not new_call_added
                )
                new_call_added = new_call_added or has_reviews_call
                message = AlsMessage(
                    identifier=message.identifier, kind=message.kind, entries=tuple(entries)
                )
            body = encode_binary(message)
            frames.append(encode_varint(len(body)) + body)
    return b"".join(frames)


def resolver_table() -> str:
    """The example's resolver table, plus the new service."""
    table = json.loads(EXAMPLE_RESOLVER.read_text(encoding="utf-8"))
    table[NEW_SERVICE_IP] = NEW_SERVICE
    return json.dumps(table, indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    after = args.output / "after"
    after.mkdir(parents=True, exist_ok=True)
    for name in CAPTURES:
        (after / f"{name}.bin").write_bytes(after_capture(name))
    (args.output / "resolver.json").write_text(resolver_table(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
