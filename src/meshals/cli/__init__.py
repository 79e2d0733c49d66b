"""The ``meshals`` command line: arguments, files, standard streams, processes and clocks.

The only package that touches the terminal, the environment and the clock; nothing
imports it.
"""

from ._main import (
    entrypoint,
    main,
)
from ._parser import build_parser

__all__ = ["build_parser", "entrypoint", "main"]
