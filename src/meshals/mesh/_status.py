"""The protocol, gRPC status and success of a call: one documented rule each.

Protocol (:func:`protocol_of`): a TCP entry is TCP. An HTTP entry is gRPC when any logged signal
says so, checked in this order:

1. the request header ``content-type`` starts with ``application/grpc`` (gRPC, gRPC-Web);
2. a ``grpc-status`` response trailer or header (trailers-only responses carry it as a header);
3. only when neither header was logged: HTTP/2, ``POST`` and a path shaped
   ``/package.Service/Method``.

Otherwise it is HTTP. (SkyWalking instead calls every request whose scheme starts with ``http``
HTTP, so plaintext gRPC is HTTP there.) Envoy logs a header only when the logger is configured
to (``additional_request_headers_to_log`` and friends), hence the fallback.

Status (:func:`status_of`), True meaning success:

- HTTP: no response code (the stream was reset) fails; 1xx-3xx succeed; 4xx fail on the client
  side and succeed on the server side (the server answered as designed: SkyWalking's rule);
  5xx and anything outside 100-599 fail.
- gRPC: the HTTP rule, and a ``grpc-status`` other than 0 fails.
- TCP: fails when a flag in :data:`TCP_FAILURE_FLAGS` says the connection was refused or
  never established; otherwise succeeds (bytes may be 0: a connection may carry nothing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from meshals._values import FrozenMap
from meshals.model._als import (
    _EMPTY_MAP,
    HttpEntry,
    HttpResponse,
    HttpVersion,
    RequestMethod,
    ResponseFlag,
)
from meshals.model._metrics import DetectPoint, MeshProtocol

__all__ = ["protocol_of", "status_of"]

# The rules run for every entry: enum members as module globals, as an enum class attribute is
# a metaclass lookup (Python 3.11: ten times a global's cost).
_HTTP, _GRPC, _TCP = MeshProtocol.HTTP, MeshProtocol.GRPC, MeshProtocol.TCP
_SERVER = DetectPoint.SERVER
_HTTP2 = HttpVersion.HTTP2
_POST = RequestMethod.POST
_NO_HEADERS = _EMPTY_MAP  # what the decoders give for a header map not logged

#: Flags that mean a TCP connection failed: no upstream was reached or the attempt was refused.
TCP_FAILURE_FLAGS: frozenset[ResponseFlag] = frozenset(
    {
        ResponseFlag.FAILED_LOCAL_HEALTHCHECK,  # LH
        ResponseFlag.NO_HEALTHY_UPSTREAM,  # UH
        ResponseFlag.UPSTREAM_REQUEST_TIMEOUT,  # UT
        ResponseFlag.UPSTREAM_CONNECTION_FAILURE,  # UF
        ResponseFlag.UPSTREAM_OVERFLOW,  # UO
        ResponseFlag.NO_ROUTE_FOUND,  # NR
        ResponseFlag.RATE_LIMITED,  # RL
        ResponseFlag.UNAUTHORIZED_EXTERNAL_SERVICE,  # UAEX
        ResponseFlag.UPSTREAM_RETRY_LIMIT_EXCEEDED,  # URX
        ResponseFlag.UPSTREAM_PROTOCOL_ERROR,  # UPE
        ResponseFlag.NO_CLUSTER_FOUND,  # NC
        ResponseFlag.OVERLOAD_MANAGER,  # OM
        ResponseFlag.DNS_RESOLUTION_FAILURE,  # DF
    }
)

_GRPC_PATH = re.compile(r"/[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+/[A-Za-z_]\w*", re.ASCII)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Envoy logs header names in lower case (HTTP/2 requires it); match case-insensitively anyway.
    if type(headers) is FrozenMap:  # the model's maps: ask their dict (len() is Python code)
        headers = headers._data
    if not headers:  # most entries log no headers, or few
        return None
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def grpc_status_of(entry: HttpEntry) -> int | None:
    """The ``grpc-status`` of an HTTP entry: trailer first, then header; None if not logged.

    Args:
        entry: an HTTP entry.

    Returns:
        The status code, or None when no ``grpc-status`` was logged or it is not a number.

    >>> from meshals import HttpResponse
    >>> grpc_status_of(HttpEntry(response=HttpResponse(response_trailers={"grpc-status": "5"})))
    5
    """
    response = entry.response
    if response is None:
        return None
    for headers in (response.response_trailers, response.response_headers):
        text = _header(headers, "grpc-status")
        if text is not None:
            text = text.strip()
            return int(text) if text.isascii() and text.isdigit() else None
    return None


def _has_grpc_status(response: HttpResponse) -> bool:
    return (
        _header(response.response_trailers, "grpc-status") is not None
        or _header(response.response_headers, "grpc-status") is not None
    )


def protocol_of(entry: HttpEntry) -> MeshProtocol:
    """HTTP or gRPC, by the rule in the module docstring.

    Args:
        entry: an HTTP entry (TCP entries are always :attr:`MeshProtocol.TCP`).

    Returns:
        :attr:`MeshProtocol.GRPC` or :attr:`MeshProtocol.HTTP`.

    >>> from meshals import HttpRequest
    >>> protocol_of(HttpEntry(protocol_version=HttpVersion.HTTP2, request=HttpRequest(
    ...     request_method=RequestMethod.POST, path="/bookinfo.ratings.v1.Ratings/GetRating")))
    <MeshProtocol.GRPC: 'gRPC'>
    """
    request = entry.request
    content_type = None
    # Most entries log no header: their maps are the model's shared empty one, nothing to ask.
    if request is not None and request.request_headers is not _NO_HEADERS:
        content_type = _header(request.request_headers, "content-type")
        if content_type is not None and content_type.strip().lower().startswith("application/grpc"):
            return _GRPC
    response = entry.response
    if (
        response is not None
        and (
            response.response_trailers is not _NO_HEADERS
            or response.response_headers is not _NO_HEADERS
        )
        and _has_grpc_status(response)
    ):
        return _GRPC
    if content_type is not None or request is None:
        return _HTTP
    looks_like_grpc = (
        entry.protocol_version == _HTTP2
        and request.request_method == _POST
        and _GRPC_PATH.fullmatch(request.path) is not None
    )
    return _GRPC if looks_like_grpc else _HTTP


def status_of(
    protocol: MeshProtocol,
    detect_point: DetectPoint,
    *,
    response_code: int | None = None,
    grpc_status: int | None = None,
    response_flags: frozenset[ResponseFlag] = frozenset(),
) -> bool:
    """Whether a call succeeded, by the rule in the module docstring.

    Args:
        protocol: the call's protocol.
        detect_point: the side that logged it.
        response_code: the HTTP status (HTTP and gRPC), None when none was sent.
        grpc_status: the gRPC status, None when none was logged.
        response_flags: the entry's flags (they decide TCP only).

    Returns:
        True for success.

    >>> status_of(MeshProtocol.HTTP, DetectPoint.SERVER, response_code=404)
    True
    >>> status_of(MeshProtocol.HTTP, DetectPoint.CLIENT, response_code=404)
    False
    >>> status_of(MeshProtocol.GRPC, DetectPoint.CLIENT, response_code=200, grpc_status=5)
    False
    >>> status_of(MeshProtocol.TCP, DetectPoint.CLIENT,
    ...           response_flags=frozenset({ResponseFlag.UPSTREAM_CONNECTION_FAILURE}))
    False
    """
    return call_status(protocol, detect_point, response_code, grpc_status, response_flags)


def call_status(
    protocol: MeshProtocol,
    detect_point: DetectPoint,
    response_code: int | None,
    grpc_status: int | None,
    response_flags: frozenset[ResponseFlag],
) -> bool:
    """:func:`status_of` with positional arguments, for the analysis's metric per entry."""
    if protocol is _TCP:
        return response_flags.isdisjoint(TCP_FAILURE_FLAGS)
    if protocol is _GRPC and grpc_status is not None and grpc_status != 0:
        return False
    # HTTP's rule (gRPC's too, past its status).
    if response_code is None:
        return False
    if 100 <= response_code < 400:
        return True
    if 400 <= response_code < 500:
        return detect_point is _SERVER
    return False
