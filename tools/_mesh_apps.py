"""The loopback "applications" behind the recorded Envoys, and the clients that call them.

Dev tooling for ``record_fixtures.py``; not part of meshals. Every socket here is bound to an
explicit loopback address: the source address of a client is the IP of the "pod" it plays.
"""

from __future__ import annotations

import http.client
import http.server
import socket
import socketserver
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc

__all__ = [
    "AppRequest",
    "AppResponse",
    "GrpcApp",
    "HttpApp",
    "HttpResult",
    "TcpEchoApp",
    "grpc_call_h2c",
    "http_call",
    "tcp_call",
]

IO_TIMEOUT = 5.0


@dataclass(frozen=True)
class AppRequest:
    """What an application received (HTTP/1.1 or gRPC)."""

    method: str
    path: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AppResponse:
    """What an application answers: an HTTP status, or for gRPC a ``grpc-status``."""

    status: int
    body: bytes = b""
    delay: float = 0.0


AppHandler = Callable[[AppRequest], AppResponse]


# --- servers ----------------------------------------------------------------------------------


class _QuietThreadingHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _make_request_handler(app: AppHandler) -> type[http.server.BaseHTTPRequestHandler]:
    class RequestHandler(http.server.BaseHTTPRequestHandler):
        # HTTP/1.1 so that Envoy can keep its upstream connections alive, as with real apps.
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def do_DELETE(self) -> None:
            self._answer()

        def _answer(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length) if length else b""
            request = AppRequest(
                method=self.command,
                path=self.path,
                body=body,
                headers={name.lower(): value for name, value in self.headers.items()},
            )
            response = app(request)
            if response.delay:
                time.sleep(response.delay)
            try:
                self.send_response(response.status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)
            except (BrokenPipeError, ConnectionResetError):
                # The caller gave up (a route timeout): nobody is left to answer.
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    return RequestHandler


class HttpApp:
    """A threaded HTTP/1.1 server on ``ip:port`` that answers with *app*."""

    def __init__(self, ip: str, port: int, app: AppHandler) -> None:
        self._server = _QuietThreadingHTTPServer((ip, port), _make_request_handler(app))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(IO_TIMEOUT)
        try:
            while chunk := sock.recv(65536):
                sock.sendall(chunk)
        except OSError:
            return


class _ThreadingTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class TcpEchoApp:
    """A TCP server on ``ip:port`` that echoes every byte until the client half-closes."""

    def __init__(self, ip: str, port: int) -> None:
        self._server = _ThreadingTCPServer((ip, port), _EchoHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class GrpcApp:
    """A grpcio server on ``ip:port`` answering the unary *methods* (``/pkg.Service/Method``).

    Messages stay raw bytes (no deserializers): the recorder only needs a real gRPC peer that
    sends real ``grpc-status`` trailers, not a real schema.
    """

    def __init__(self, ip: str, port: int, app: AppHandler, methods: Iterable[str]) -> None:
        self._app = app
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
        for path in methods:
            service, method = path.strip("/").split("/")
            by_service.setdefault(service, {})[method] = grpc.unary_unary_rpc_method_handler(
                self._unary_answer(path)
            )
        self._server.add_generic_rpc_handlers(
            tuple(
                grpc.method_handlers_generic_handler(service, handlers)
                for service, handlers in by_service.items()
            )
        )
        if self._server.add_insecure_port(f"{ip}:{port}") != port:
            raise RuntimeError(f"the gRPC app could not bind {ip}:{port}")

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=None).wait(timeout=5.0)

    def _unary_answer(self, path: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def answer(body: bytes, context: grpc.ServicerContext) -> bytes:
            response = self._app(AppRequest(method="POST", path=path, body=body))
            if response.status != grpc.StatusCode.OK.value[0]:
                code = next(code for code in grpc.StatusCode if code.value[0] == response.status)
                context.abort(code, response.body.decode())
            return response.body

        return answer


# --- clients ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: bytes


def http_call(
    address: tuple[str, int],
    *,
    source_ip: str,
    method: str,
    path: str,
    authority: str,
    headers: Mapping[str, str] | None = None,
    tls: tuple[str, Path] | None = None,
) -> HttpResult:
    """One HTTP/1.1 request on a fresh connection from *source_ip*.

    *tls*: (server name, CA file): HTTPS, sending that SNI and verifying the server's
    certificate for that name against the CA, without a client certificate.
    """
    connection: http.client.HTTPConnection
    if tls is None:
        connection = http.client.HTTPConnection(
            *address, timeout=IO_TIMEOUT, source_address=(source_ip, 0)
        )
    else:
        connection = _HttpsToName(address, source_ip, *tls)
    try:
        connection.request(
            method,
            path,
            headers={"host": authority, "user-agent": "meshals-recorder", **(headers or {})},
        )
        response = connection.getresponse()
        return HttpResult(status=response.status, body=response.read())
    finally:
        connection.close()


class _HttpsToName(http.client.HTTPConnection):
    """HTTPS to an IP address, with the SNI and certificate check of a host name.

    ``HTTPSConnection`` would take the name from the address, and Python sends no SNI for an
    IP address.
    """

    def __init__(self, address: tuple[str, int], source_ip: str, name: str, ca: Path) -> None:
        super().__init__(*address, timeout=IO_TIMEOUT, source_address=(source_ip, 0))
        self._name = name
        self._context = ssl.create_default_context(cafile=str(ca))

    def connect(self) -> None:
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._name)


def tcp_call(address: tuple[str, int], *, source_ip: str, payload: bytes) -> bytes:
    """Send *payload* on a fresh connection, half-close, and return all bytes received."""
    with socket.create_connection(
        address, timeout=IO_TIMEOUT, source_address=(source_ip, 0)
    ) as sock:
        if payload:
            sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        return b"".join(_read_until_eof(sock))


def _read_until_eof(sock: socket.socket) -> Iterable[bytes]:
    try:
        while chunk := sock.recv(65536):
            yield chunk
    except ConnectionResetError:
        # A proxy that could not reach its upstream may reset instead of closing.
        return


# A hand-rolled HTTP/2 client (RFC 9113) for a single unary gRPC call. The recorder needs
# the call to leave from the pod's IP, which grpcio's channels cannot be told to do.
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _PING, _GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
_END_STREAM, _ACK, _END_HEADERS = 0x1, 0x1, 0x4
_STREAM_ID = 1


def _frame(frame_type: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + struct.pack(">BBI", frame_type, flags, stream_id)
        + payload
    )


def _hpack_literal(name: str, value: str) -> bytes:
    # RFC 7541 6.2.2 "Literal Header Field without Indexing -- New Name", no Huffman coding;
    # short strings only, so every length fits the 7-bit prefix.
    encoded_name, encoded_value = name.encode(), value.encode()
    if len(encoded_name) >= 127 or len(encoded_value) >= 127:
        raise ValueError(f"header too long for this minimal encoder: {name}")
    return (
        b"\x00"
        + bytes([len(encoded_name)])
        + encoded_name
        + bytes([len(encoded_value)])
        + encoded_value
    )


def grpc_call_h2c(
    address: tuple[str, int],
    *,
    source_ip: str,
    path: str,
    authority: str,
    message: bytes,
    headers: Mapping[str, str] | None = None,
) -> None:
    """One unary gRPC call over cleartext HTTP/2; returns once the response stream has ended.

    The response is not decoded (that would need HPACK decoding): Envoy's access log, not
    this client, is what the fixtures are about.
    """
    header_block = b"".join(
        _hpack_literal(name, value)
        for name, value in {
            ":method": "POST",
            ":scheme": "http",
            ":path": path,
            ":authority": authority,
            "content-type": "application/grpc",
            "te": "trailers",
            "user-agent": "meshals-recorder",
            **(headers or {}),
        }.items()
    )
    # gRPC length-prefixed message: compressed flag, 4-byte big-endian length, bytes.
    grpc_message = b"\x00" + struct.pack(">I", len(message)) + message
    with socket.create_connection(
        address, timeout=IO_TIMEOUT, source_address=(source_ip, 0)
    ) as sock:
        sock.sendall(
            _PREFACE
            + _frame(_SETTINGS, 0, 0, b"")
            + _frame(_HEADERS, _END_HEADERS, _STREAM_ID, header_block)
            + _frame(_DATA, _END_STREAM, _STREAM_ID, grpc_message)
        )
        _read_until_stream_end(sock)
        sock.sendall(_frame(_GOAWAY, 0, 0, struct.pack(">II", _STREAM_ID, 0)))


def _read_until_stream_end(sock: socket.socket) -> None:
    while True:
        length, frame_type, flags, stream_id = _read_frame_header(sock)
        payload = _read_exactly(sock, length)
        if frame_type in (_SETTINGS, _PING) and not flags & _ACK:
            sock.sendall(_frame(frame_type, _ACK, 0, payload if frame_type == _PING else b""))
        elif frame_type in (_HEADERS, _DATA) and stream_id == _STREAM_ID and flags & _END_STREAM:
            return
        elif frame_type in (_RST_STREAM, _GOAWAY):
            raise ConnectionError(f"HTTP/2 peer ended the call (frame type {frame_type})")


def _read_frame_header(sock: socket.socket) -> tuple[int, int, int, int]:
    header = _read_exactly(sock, 9)
    length = int.from_bytes(header[:3], "big")
    frame_type, flags, stream_id = struct.unpack(">BBI", header[3:])
    return length, frame_type, flags, stream_id & 0x7FFF_FFFF


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("HTTP/2 peer closed the connection mid-frame")
        chunks += chunk
    return bytes(chunks)
