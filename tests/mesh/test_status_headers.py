"""The protocol rule's inputs: header names in any case, and the shape of a gRPC path."""

from __future__ import annotations

import contextlib
from pathlib import Path

import attrs
import pytest

import meshals
from meshals import HttpEntry, HttpRequest, HttpResponse
from meshals._values import FrozenMap
from meshals.codec._accelerated import pure_path
from meshals.mesh._status import grpc_status_of, protocol_of
from meshals.model import HttpVersion, RequestMethod
from meshals.model._als import _EMPTY_MAP
from meshals.model._metrics import MeshProtocol

GRPC, HTTP = MeshProtocol.GRPC, MeshProtocol.HTTP
GRPC_PATH = "/bookinfo.ratings.v1.Ratings/GetRating"
ENVOY_FIXTURES = Path(__file__).parents[1] / "fixtures" / "envoy"


def _entry(
    path: str = GRPC_PATH,
    *,
    request_headers: dict[str, str] | None = None,
    response_headers: dict[str, str] | None = None,
    trailers: dict[str, str] | None = None,
) -> HttpEntry:
    return HttpEntry(
        protocol_version=HttpVersion.HTTP2,
        request=HttpRequest(
            request_method=RequestMethod.POST,
            path=path,
            request_headers=FrozenMap(request_headers or {}),
        ),
        response=HttpResponse(
            response_code=200,
            response_headers=FrozenMap(response_headers or {}),
            response_trailers=FrozenMap(trailers or {}),
        ),
    )


# (entry, protocol, grpc status): a path that is not gRPC-shaped, so only a header can say gRPC.
HEADER_CASES = [
    (_entry("/x", request_headers={"Content-Type": "application/grpc"}), GRPC, None),
    (_entry("/x", request_headers={"CONTENT-TYPE": "application/grpc"}), GRPC, None),
    (_entry("/x", trailers={"Grpc-Status": "7"}), GRPC, 7),
    (_entry("/x", response_headers={"GRPC-STATUS": "14"}), GRPC, 14),
    # A trailers-only response: the status in the headers, as Envoy logs it (lower case).
    (_entry("/x", response_headers={"grpc-status": "0"}), GRPC, 0),
    (_entry("/x", request_headers={"content-type": "text/plain"}), HTTP, None),
    # The exact name wins over another spelling of it, wherever that one comes.
    (_entry("/x", trailers={"Grpc-Status": "1", "grpc-status": "2"}), GRPC, 2),
    (_entry("/x", trailers={"grpc-status": "2", "Grpc-Status": "1"}), GRPC, 2),
    # Headers that are logged but unrelated say nothing: the path still decides.
    (_entry(request_headers={"x-request-id": "application/grpc"}), GRPC, None),
    (_entry("/x", request_headers={"x-request-id": "application/grpc"}), HTTP, None),
    (_entry("/x", trailers={"grpc-message": "3"}), HTTP, None),
    (_entry(response_headers={"x-envoy-upstream-service-time": "4"}), GRPC, None),
]


@pytest.mark.parametrize(("entry", "protocol", "grpc_status"), HEADER_CASES)
def test_header_names_in_any_case(
    entry: HttpEntry, protocol: MeshProtocol, grpc_status: int | None
) -> None:
    assert (protocol_of(entry), grpc_status_of(entry)) == (protocol, grpc_status)


@pytest.mark.parametrize(
    ("path", "protocol"),
    [
        ("/a.B/C", GRPC),
        ("/_pkg._Svc/_M", GRPC),
        ("/pkg9.v1.Svc2/M3", GRPC),
        ("/1pkg.Svc/M", HTTP),  # a name starts with a letter or _
        ("/pkg.1Svc/M", HTTP),
        ("/pkg.Svc/1M", HTTP),
        ("/.Svc/M", HTTP),
        ("/pkg./M", HTTP),
        ("/pkg..Svc/M", HTTP),
        ("/pkg.Svc/", HTTP),
        ("//pkg.Svc/M", HTTP),
        ("pkg.Svc/M", HTTP),
        ("/pkg-a.Svc/M", HTTP),
        ("/pkg.Sérvice/M", HTTP),  # names are ASCII
        ("/pkg.Svc/Métode", HTTP),
        ("/pkg.Svc/M٣", HTTP),
        ("/ékg.Svc/M", HTTP),
    ],
)
def test_grpc_path_shape(path: str, protocol: MeshProtocol) -> None:
    assert protocol_of(_entry(path)) is protocol


def _shared_empty_maps(entry: HttpEntry) -> HttpEntry:
    """*entry* with each empty header map replaced by the model's shared one, as decoded."""
    request, response = entry.request, entry.response
    assert request is not None
    assert response is not None
    return attrs.evolve(
        entry,
        request=attrs.evolve(request, request_headers=request.request_headers or _EMPTY_MAP),
        response=attrs.evolve(
            response,
            response_headers=response.response_headers or _EMPTY_MAP,
            response_trailers=response.response_trailers or _EMPTY_MAP,
        ),
    )


def _header_maps(entry: HttpEntry) -> tuple[FrozenMap[str, str], ...]:
    request, response = entry.request, entry.response
    assert request is not None
    assert response is not None
    return request.request_headers, response.response_headers, response.response_trailers


@pytest.mark.parametrize(("entry", "protocol", "grpc_status"), HEADER_CASES)
def test_the_shared_empty_map_reads_as_any_empty_map(
    entry: HttpEntry, protocol: MeshProtocol, grpc_status: int | None
) -> None:
    # The rules skip the shared empty map without asking it (most entries log no header): the
    # same answers as for maps of their own, empty or not.
    shared = _shared_empty_maps(entry)
    assert any(headers is _EMPTY_MAP for headers in _header_maps(shared))
    assert (protocol_of(shared), grpc_status_of(shared)) == (protocol, grpc_status)


@pytest.mark.parametrize("pure", [False, True])
def test_decoded_entries_share_the_empty_map(pure: bool) -> None:
    # What makes the shortcut pay: every decoder gives an unlogged header map as the shared one.
    paths = sorted(ENVOY_FIXTURES.glob("*.bin")) + sorted(ENVOY_FIXTURES.glob("*.jsonl"))
    empty: list[FrozenMap[str, str]] = []
    with pure_path() if pure else contextlib.nullcontext():
        for path in paths:
            for message in meshals.read(path).messages():
                for entry in message.http_entries:
                    empty.extend(headers for headers in _header_maps(entry) if not headers)
    assert len(empty) == 194
    assert all(headers is _EMPTY_MAP for headers in empty)
