"""Reading the local files an operator names: regular files only.

Opening a FIFO for reading blocks until something writes to it (forever, in practice), and
a directory or device is never a data file. The check is made on the opened descriptor
(O_NONBLOCK makes opening a FIFO return at once), so a path swapped after a check is
never read in its place. Standard library only: the CLI and the program both use it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class NotTextError(ValueError):
    """Bytes that are not UTF-8 text; the message names the line of the first bad byte."""


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: Path | str) -> BinaryIO:
    """Open `path` for binary reading; an OSError (naming the path) if it is anything but a
    regular file, or symlink to one."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
            raise OSError(code, f"not a regular file ({kind_of(mode)})", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: Path | str) -> bytes:
    with open_regular(path) as handle:
        return handle.read()


def decode_utf8(data: bytes) -> str:
    """`data` as text (a leading byte-order mark dropped); NotTextError names the line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise NotTextError(f"line {line}: not UTF-8 text ({error.reason})") from None


def read_text(path: Path | str) -> str:
    """A regular file's UTF-8 text: OSError if unreadable or not a regular file,
    NotTextError if not UTF-8."""
    return decode_utf8(read_bytes(path))


def file_sha256(path: Path | str) -> str:
    """sha256 of a regular file's bytes, hex."""
    import hashlib

    with open_regular(path) as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
