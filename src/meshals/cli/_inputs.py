"""What the commands read: FILE arguments as inputs (``-`` standard input, a directory its
files), each opened with :func:`~meshals.read`, and the note for an input that held nothing.

A directory stands for the files directly in it, in name order (code point order, the same on
every machine): not its subdirectories (nothing is read recursively) and not its hidden files
(names starting with ``.``, such as editors' swap files). Standard input is read as a binary
stream, through the same detection as a file (compression included); it can be named once.
When it has to be read twice, or in another process, it is first copied to a temporary file
(:class:`Spool`), which keeps its name, ``<stdin>``, in every message.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO, Final

import attrs

from meshals._errors import Diagnostic, DiagnosticKind, Location
from meshals.capture._containers import Reader, read
from meshals.capture._detect import Container

from ._progress import counted

__all__: list[str] = []

#: The FILE argument that means standard input.
STDIN_ARGUMENT: Final = "-"
#: What messages call standard input (as Python names ``sys.stdin.buffer``).
STDIN_NAME: Final = "<stdin>"

#: The help text of FILE arguments.
FILE_HELP: Final = (
    "a capture file; '-' for standard input; a directory for the files in it, in name order"
    " (not its subdirectories, not its hidden files)"
)


@attrs.frozen
class Input:
    """One input of a command: a file, or this process' standard input (``path`` None).

    ``name`` is what errors, warnings and each record's source call it: the path as given
    (under its directory's), or ``<stdin>``. Picklable, for worker processes (which get a
    spooled copy of standard input, never standard input itself).
    """

    path: str | None
    name: str

    @property
    def is_stdin(self) -> bool:
        """Whether this is this process' standard input, not yet spooled."""
        return self.path is None

    @contextlib.contextmanager
    def open(
        self,
        *,
        container: Container | None,
        strict: bool,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Iterator[Reader]:
        """The records of this input, read lazily; *on_bytes* is told the bytes read from a
        file as they are read (the progress bar's).

        Raises:
            OSError: the file cannot be opened.
        """
        if self.path is None:
            stream = _stdin()
        elif on_bytes is not None:
            stream = counted(self.path, on_bytes)
        else:
            with read(self.path, container=container, strict=strict, name=self.name) as reader:
                yield reader
            return
        try:
            with read(stream, container=container, strict=strict, name=self.name) as reader:
                yield reader
        finally:
            if stream is not _stdin():
                stream.close()


def _stdin() -> BinaryIO:
    # The binary stream under sys.stdin: captures are bytes (and maybe compressed).
    return sys.stdin.buffer


def inputs(arguments: Sequence[str]) -> tuple[list[Input], list[Diagnostic]]:
    """The inputs FILE *arguments* name, in order, and a note for each directory without files.

    Raises:
        OSError: a directory cannot be listed.
    """
    found: list[Input] = []
    notes: list[Diagnostic] = []
    for argument in arguments:
        if argument == STDIN_ARGUMENT:
            found.append(Input(None, STDIN_NAME))
        elif os.path.isdir(argument):
            files = list(_directory_files(argument))
            if not files:
                notes.append(_note(argument, "a directory without files to read: nothing read"))
            found.extend(Input(path, path) for path in files)
        else:
            found.append(Input(argument, argument))  # opening it says what is wrong
    return found, notes


def _directory_files(directory: str) -> Iterator[str]:
    """The files directly in *directory*, in name order, hidden ones left out."""
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not name.startswith(".") and os.path.isfile(path):  # a symlink to a file counts
            yield path


def stdin_count(arguments: Iterable[str]) -> int:
    """How often standard input is named among FILE *arguments*."""
    return sum(argument == STDIN_ARGUMENT for argument in arguments)


def nothing_read(reader: Reader) -> Diagnostic | None:
    """The note for an input that held nothing (no bytes, or only whitespace), once it is read.

    Not an error: an empty file is a valid capture of no traffic, but most likely a mistake
    (a recorder that never ran, an empty pipe), so the commands say so on stderr.
    """
    if reader.container is not None:
        return None
    return _note(reader.source, "empty input: nothing was read")


def _note(source: str, reason: str) -> Diagnostic:
    return Diagnostic(kind=DiagnosticKind.NOTE, location=Location(source=source), reason=reason)


class Spool(contextlib.AbstractContextManager["Spool"]):
    """Standard input copied to a temporary file, when it must be read twice or elsewhere.

    :meth:`of` gives each input as it can then be read any number of times, in any process;
    the file is removed on exit.
    """

    def __init__(self) -> None:
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._copy: Input | None = None

    def of(self, source: Input) -> Input:
        """*source*, or the spooled copy of standard input with its name."""
        if not source.is_stdin:
            return source
        if self._copy is None:
            self._directory = tempfile.TemporaryDirectory(prefix="meshals-stdin-")
            path = os.path.join(self._directory.name, "stdin")
            with open(path, "wb") as copy:
                shutil.copyfileobj(_stdin(), copy)
            self._copy = Input(path, source.name)
        return self._copy

    def __exit__(self, *exc_info: object) -> None:
        if self._directory is not None:
            self._directory.cleanup()
