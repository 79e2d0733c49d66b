"""Type stub of the compiled extension ``_accel.c`` (see ``meshals.codec._compiled``)."""

from collections.abc import Callable
from typing import Any, TypeVar

from meshals.model._als import AlsMessage

_T = TypeVar("_T")

def decode(
    data: bytes,
    source: str,
    index: int | None,
    max_entries: int,
    max_string_length: int,
    context: object,
    /,
) -> AlsMessage | None: ...
def init(
    *,
    models: tuple[tuple[type, tuple[str, ...], tuple[Any, ...]], ...],
    http_versions: tuple[Any, ...],
    request_methods: tuple[Any, ...],
    access_log_types: tuple[Any, ...],
    socket_protocols: tuple[Any, ...],
    unauthorized_reasons: tuple[Any, ...],
    response_flags: tuple[Any, ...],
    empty_str_map: object,
    empty_any_map: object,
    frozen_map: tuple[type, Any, Any],
    identifier: Callable[[Any, bytes], tuple[object] | None],
    common_extra: Callable[[Any, bytes], tuple[object, object, object, object] | None],
    address: Callable[[Any, bytes], tuple[object] | None],
) -> None: ...
def constructor(cls: type[_T], slots: tuple[Any, ...], /) -> Callable[..., _T]: ...
def tally(spec: tuple[Any, ...], /) -> Callable[[list[Any], int, dict[Any, Any]], int]: ...
def json_converter(
    spec: tuple[Any, tuple[type, Any, Any], int, tuple[Any, ...]], /
) -> Callable[[object], tuple[Any, int] | None]: ...
def member_count(text: str, start: int, end: int, /) -> int: ...
def orjson_reads_alike(text: str, /) -> bool: ...
