"""The semantics' names and the rules where SkyWalking's differ, taken one at a time."""

from __future__ import annotations

import re

import pytest

from meshals.mesh._semantics import checked_semantics, skywalking_protocol
from meshals.model import HttpEntry, HttpRequest, MeshProtocol


@pytest.mark.parametrize("semantics", ["meshals", "skywalking"])
def test_checked_semantics_keeps_a_known_name(semantics: str) -> None:
    assert checked_semantics(semantics) == semantics


@pytest.mark.parametrize("semantics", ["", "SkyWalking", "istio"])
def test_checked_semantics_refuses_any_other(semantics: str) -> None:
    message = f"semantics must be 'meshals' or 'skywalking', not {semantics!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        checked_semantics(semantics)


PROTOCOL_CASES: list[tuple[str, HttpRequest | None, MeshProtocol]] = [
    ("http", HttpRequest(scheme="http"), MeshProtocol.HTTP),
    ("https", HttpRequest(scheme="https"), MeshProtocol.HTTP),
    ("plaintext gRPC is http too", HttpRequest(scheme="http", path="/a.B/C"), MeshProtocol.HTTP),
    ("no scheme", HttpRequest(), MeshProtocol.GRPC),
    ("another scheme", HttpRequest(scheme="grpc"), MeshProtocol.GRPC),
    ("no request", None, MeshProtocol.GRPC),
]


@pytest.mark.parametrize(
    ("request_", "protocol"),
    [case[1:] for case in PROTOCOL_CASES],
    ids=[case[0] for case in PROTOCOL_CASES],
)
def test_skywalking_protocol(request_: HttpRequest | None, protocol: MeshProtocol) -> None:
    assert skywalking_protocol(HttpEntry(request=request_)) is protocol
