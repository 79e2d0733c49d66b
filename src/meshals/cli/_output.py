"""Where a command's output goes: stdout, or the file ``-o PATH`` names, written atomically.

A file is written as a temporary file beside it (same directory, so on the same file system),
and renamed over PATH (:func:`os.replace`) only when the command succeeds: a reader of PATH
never sees half of it, and a failed or interrupted run (an error, Ctrl-C, a closed pipe)
leaves PATH as it was and no temporary file behind. A new file gets the permissions
:func:`open` would give it (``0o666`` less the umask); a replaced one keeps its own.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from typing import TextIO

__all__: list[str] = []

STDOUT = "-"  # ``-o -``: stdout, as without -o


class AtomicFile:
    """A text file at *path*, written to a temporary file until :meth:`commit` renames it.

    Raises:
        OSError: the temporary file cannot be created (no such directory, no permission).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        if os.path.isdir(path):  # found now, not when renaming over it at the end
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        directory, name = os.path.split(path)
        try:
            descriptor, self.temporary = tempfile.mkstemp(
                dir=directory or os.curdir, prefix=f".{name}.", suffix=".tmp"
            )
        except OSError as exc:  # named by the path asked for, not the temporary file's
            raise OSError(exc.errno, exc.strerror, path) from None
        try:
            os.chmod(self.temporary, _mode_for(path))
            self.file: TextIO = open(descriptor, "w", encoding="utf-8")  # noqa: SIM115
        except BaseException as exc:
            os.close(descriptor)
            os.unlink(self.temporary)
            if isinstance(exc, OSError):
                raise OSError(exc.errno, exc.strerror, path) from None
            raise

    def commit(self) -> None:
        """Close the file and put it at its path, replacing what was there.

        Raises:
            OSError: writing or renaming failed (the temporary file is then removed).
        """
        try:
            self.file.close()
            os.replace(self.temporary, self.path)
        except OSError as exc:
            self.discard()
            raise OSError(exc.errno, exc.strerror, self.path) from None
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Close and remove the temporary file; the path is left as it was."""
        with contextlib.suppress(OSError):
            self.file.close()  # flushing may fail (a full disk): nothing to keep anyway
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temporary)


class Destination:
    """A command's output: :attr:`stream` to write to, and :meth:`commit` once it succeeded."""

    def __init__(self, path: str | None) -> None:
        self.path = None if path == STDOUT else path
        self._file = None if self.path is None else AtomicFile(self.path)
        self.stream: TextIO = sys.stdout if self._file is None else self._file.file

    def commit(self) -> None:
        """Put the file in place (nothing for stdout).

        Raises:
            OSError: writing or renaming failed.
        """
        if self._file is not None:
            self._file.commit()
            self._file = None

    def discard(self) -> None:
        if self._file is not None:
            self._file.discard()
            self._file = None


@contextlib.contextmanager
def destination(path: str | None) -> Iterator[Destination]:
    """The output of ``-o PATH`` (None or ``-``: stdout); not committed, a file is discarded.

    Raises:
        OSError: the file cannot be created.
    """
    output = Destination(path)
    try:
        yield output
    finally:
        output.discard()  # after commit(), nothing is left to discard


def _mode_for(path: str) -> int:
    """The permissions of the file at *path*, or those a new file gets under the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)  # the only way to read it; set back at once
        os.umask(umask)
        return 0o666 & ~umask
