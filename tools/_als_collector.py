"""A loopback gRPC Access Log Service collector that keeps every message Envoy sends, verbatim.

Dev tooling for ``record_fixtures.py``; not part of meshals. It can also end the streams it
has open with a gRPC status (:meth:`AlsCollector.end_streams`), as a restarting collector does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from envoy.service.accesslog.v3 import als_pb2

__all__ = ["AlsCollector", "RecordedStream"]

_SERVICE = als_pb2.DESCRIPTOR.services_by_name["AccessLogService"]
_METHOD = _SERVICE.methods_by_name["StreamAccessLogs"]


@dataclass
class RecordedStream:
    """One gRPC stream: the raw bytes of each ``StreamAccessLogsMessage``, in arrival order."""

    number: int
    raw_messages: list[bytes] = field(default_factory=list)
    node_id: str = ""
    log_name: str = ""
    ended_by_collector: bool = False  # False: Envoy ended it (when it shut down)

    def messages(self) -> list[als_pb2.StreamAccessLogsMessage]:
        return [als_pb2.StreamAccessLogsMessage.FromString(raw) for raw in self.raw_messages]

    def entry_count(self) -> int:
        return sum(_entry_count(message) for message in self.messages())


def _entry_count(message: als_pb2.StreamAccessLogsMessage) -> int:
    if message.HasField("http_logs"):
        return len(message.http_logs.log_entry)
    if message.HasField("tcp_logs"):
        return len(message.tcp_logs.log_entry)
    return 0


class AlsCollector:
    """``AccessLogService/StreamAccessLogs`` on 127.0.0.1, recording each stream separately.

    The handler is registered with no request deserializer, so it receives each message as
    the exact bytes Envoy put on the wire: the fixtures then hold what Envoy encoded, not
    what Python's protobuf re-encodes.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._streams: list[RecordedStream] = []
        # The streams whose handler still runs: number -> (wake the handler, handler returned).
        self._open: dict[int, tuple[threading.Event, threading.Event]] = {}
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        handler = grpc.stream_unary_rpc_method_handler(
            self._stream_access_logs,
            request_deserializer=None,
            response_serializer=als_pb2.StreamAccessLogsResponse.SerializeToString,
        )
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(_SERVICE.full_name, {_METHOD.name: handler}),)
        )
        self._code = grpc.StatusCode.UNAVAILABLE
        self.port: int = self._server.add_insecure_port(f"{host}:0")
        if self.port == 0:
            raise RuntimeError(f"the ALS collector could not bind {host}")

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=1.0).wait(timeout=5.0)

    def streams(self) -> list[RecordedStream]:
        with self._lock:
            return list(self._streams)

    def wait_for(
        self, is_complete: Callable[[list[RecordedStream]], bool], *, timeout: float
    ) -> bool:
        """Poll until *is_complete* holds for the recorded streams; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if is_complete(self.streams()):
                return True
            time.sleep(0.05)
        return is_complete(self.streams())

    def end_streams(self, code: grpc.StatusCode, *, timeout: float) -> list[RecordedStream]:
        """End every open stream with *code*, as a collector that restarts does; the streams
        ended, once each handler has returned its status (or *timeout* has passed)."""
        with self._lock:
            ending = [(self._streams[number], events) for number, events in self._open.items()]
            self._code = code
            for stream, (wake, _) in ending:
                stream.ended_by_collector = True
                wake.set()
        deadline = time.monotonic() + timeout
        for _, (_, returned) in ending:
            returned.wait(max(0.0, deadline - time.monotonic()))
        return [stream for stream, _ in ending]

    def _stream_access_logs(
        self, request_iterator: Iterator[bytes], context: grpc.ServicerContext
    ) -> als_pb2.StreamAccessLogsResponse:
        stream, (wake, returned) = self._open_stream()
        # A handler blocked on the next message cannot answer; a reader thread takes them, so
        # that the handler can end the stream whenever end_streams() asks.
        reader = threading.Thread(
            target=self._read, args=(stream, request_iterator, wake), daemon=True
        )
        reader.start()
        wake.wait()
        with self._lock:
            del self._open[stream.number]
            ended = stream.ended_by_collector
        if ended:
            context.set_code(self._code)
            context.set_details("the access log collector is restarting")
        else:
            reader.join()
        returned.set()
        return als_pb2.StreamAccessLogsResponse()

    def _read(
        self, stream: RecordedStream, request_iterator: Iterator[bytes], done: threading.Event
    ) -> None:
        try:
            for raw in request_iterator:
                self._record(stream, raw)
        except grpc.RpcError:
            # Envoy ends its streams by closing the connection when it shuts down (and the
            # iterator fails once the handler has ended a stream); what arrived before that
            # is already recorded.
            pass
        finally:
            done.set()

    def _open_stream(self) -> tuple[RecordedStream, tuple[threading.Event, threading.Event]]:
        with self._lock:
            stream = RecordedStream(number=len(self._streams))
            self._streams.append(stream)
            events = (threading.Event(), threading.Event())
            self._open[stream.number] = events
            return stream, events

    def _record(self, stream: RecordedStream, raw: bytes) -> None:
        message = als_pb2.StreamAccessLogsMessage.FromString(raw)
        with self._lock:
            if message.HasField("identifier"):
                stream.node_id = message.identifier.node.id
                stream.log_name = message.identifier.log_name
            stream.raw_messages.append(raw)
