"""The ``meshals`` command line: arguments, files, standard streams, processes and clocks.

The only package that touches the terminal, the environment and the clock; nothing
imports it.
"""

from ._main import (
    build_parser,
    entrypoint,
    main,
)

__all__ = ["build_parser", "entrypoint", "main"]
