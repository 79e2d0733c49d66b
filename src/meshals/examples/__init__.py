"""Bundled examples: real Envoy ALS recordings shipped with meshals, each with its resolver.

``bookinfo``: a small bookinfo-like mesh (an ingress gateway, productpage, reviews, details,
ratings, mongodb; 40 entries, HTTP, gRPC and TCP, with failures) recorded from real Envoys on
loopback; see ``bookinfo/README.md`` beside this file.

>>> from meshals import analyze
>>> bookinfo = example("bookinfo")
>>> [capture.name for capture in bookinfo.captures()][:2]
['details-http.bin', 'istio-ingressgateway-http.bin']
>>> len(analyze(bookinfo.streams(), resolver=bookinfo.resolver()).metrics())
45
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from importlib import resources
from typing import TYPE_CHECKING

import attrs

from meshals._errors import MeshalsError
from meshals.capture._containers import Reader, read
from meshals.resolve._resolvers import StaticResolver

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = ["Example", "example", "names"]

_CAPTURE_SUFFIX = ".bin"
_RESOLVER = "resolver.json"


@attrs.frozen
class Example:
    """One bundled example: its capture files (one ALS stream each) and its resolver table.

    Attributes:
        name: the example's name (``"bookinfo"``).
        root: its directory inside the installed package.
    """

    name: str
    root: Traversable = attrs.field(eq=False, repr=False)

    def captures(self) -> tuple[Traversable, ...]:
        """The capture files (varint length-delimited ALS messages), sorted by name."""
        found = (item for item in self.root.iterdir() if item.name.endswith(_CAPTURE_SUFFIX))
        return tuple(sorted(found, key=lambda item: item.name))

    def resolver(self) -> StaticResolver:
        """The static resolver that names the example's pods (the outside client stays unknown)."""
        resolver_file = self.root / _RESOLVER
        return StaticResolver.from_json(
            resolver_file.read_bytes(), source=f"example {self.name}: {_RESOLVER}"
        )

    def streams(self) -> Generator[Reader, None, None]:
        """Each capture read as one stream, opened in turn and closed when it is done.

        Give it to :func:`~meshals.analyze` as is (each reader is read to the end before the
        next file is opened).
        """
        for capture in self.captures():
            with resources.as_file(capture) as path, read(path) as reader:
                yield reader


def names() -> tuple[str, ...]:
    """The names of the bundled examples.

    >>> names()
    ('bookinfo',)
    """
    root = resources.files(__name__)
    return tuple(sorted(item.name for item in root.iterdir() if (item / _RESOLVER).is_file()))


def example(name: str) -> Example:
    """A bundled example by name.

    Args:
        name: one of :func:`names`.

    Returns:
        The example.

    Raises:
        MeshalsError: there is no example of that name.
    """
    if name not in names():
        raise MeshalsError(f"no example named {name!r} (examples: {', '.join(names())})")
    return Example(name, resources.files(__name__) / name)
