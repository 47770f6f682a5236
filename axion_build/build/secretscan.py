"""What a file holds: a PEM private key or a configured secret, found in a stream of any
size and inside what is packed in it (gzip, bzip2, xz, zip members), never by skipping.

Files are read in chunks with an overlap longer than anything searched for, so a key
across a chunk boundary is found. Unpacking is bounded (a decompression bomb is a
finding, not a pass): whatever the guard cannot read to its end is reported.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from typing import BinaryIO

PEM_PRIVATE = re.compile(
    rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\s+(?:[A-Za-z0-9+/=]{16,}\s+){2,}")
ELF_MAGIC = b"\x7fELF"
SYSTEM_LIBRARY_DIRS = ("/usr/lib/", "/lib/", "/usr/lib64/", "/lib64/")
CHUNK_BYTES = 1 << 20
# a PEM header and the two body lines the pattern needs fit in far less (a body line is
# 64 characters); a secret longer than this widens the overlap to its own length
OVERLAP_BYTES = 4096
MAX_UNPACKED_BYTES = 1 << 30  # per file, all its packed layers together
MAX_DEPTH = 4  # packed inside packed inside ...
STREAM_KINDS = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}
ZIP_MAGIC = b"PK\x03\x04"
UNPACK_ERRORS = (OSError, EOFError, lzma.LZMAError, zlib.error, zipfile.BadZipFile,
                 NotImplementedError, RuntimeError, ValueError)


class TooMuchPacked(Exception):
    """A file unpacks to more than the guard searches: refused, never passed."""


def what_in(data: bytes, secrets: tuple[bytes, ...], pem_exempt: bool = False) -> str:
    """What secret `data` holds, '' when none (pure): a PEM private key (unless exempt),
    or a configured secret value."""
    if not pem_exempt and b"PRIVATE KEY-----" in data and PEM_PRIVATE.search(data):
        return "a PEM private key"
    for secret in secrets:
        if secret in data:
            return "a configured secret value"
    return ""


def pem_exempt(head: bytes, path: str) -> bool:
    """System libraries may embed vendor self-test keys (libgnutls does): a PEM block in
    an ELF file under a system library folder is not a finding (pure)."""
    return head.startswith(ELF_MAGIC) and path.startswith(SYSTEM_LIBRARY_DIRS)


def scan_bytes(data: bytes, secrets: tuple[bytes, ...], path: str = "") -> str:
    """What secret `data` (the file at `path` in the image) holds, '' when none — pure.

    Packed content is searched too (see `scan_stream`); the package's own key material
    is a secret value and is found in any file.
    """
    return scan_stream(io.BytesIO(data), secrets, path)


def packed_kind(head: bytes) -> str:
    """'gzip', 'bzip2', 'xz' or 'zip' when `head` starts such a file, else '' (pure)."""
    if head.startswith(ZIP_MAGIC):
        return "zip"
    return next((kind for magic, kind in STREAM_KINDS.items() if head.startswith(magic)), "")


class Window:
    """The raw bytes of one stream seen chunk by chunk, with an overlap between chunks."""

    def __init__(self, secrets: tuple[bytes, ...], path: str):
        self.secrets, self.path = secrets, path
        self.overlap = max([OVERLAP_BYTES, *(len(s) for s in secrets)])
        self.tail, self.exempt, self.started, self.found = b"", False, False, ""

    def feed(self, chunk: bytes) -> None:
        """Search the overlap and `chunk`; the first finding is kept."""
        if not chunk or self.found:
            return
        if not self.started:
            self.started, self.exempt = True, pem_exempt(chunk, self.path)
        data = self.tail + chunk
        self.found = what_in(data, self.secrets, self.exempt)
        self.tail = data[-self.overlap:]


class Tee(io.RawIOBase):
    """A readable stream that shows every byte read through it to a Window, and counts."""

    def __init__(self, source: BinaryIO, window: Window, budget: list[int] | None = None):
        self.source, self.window, self.budget = source, window, budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        """Read from the source into `buffer`, searching what passes."""
        data = self.source.read(len(buffer))
        if self.budget is not None:
            self.budget[0] -= len(data)
            if self.budget[0] < 0:
                raise TooMuchPacked
        self.window.feed(data)
        buffer[:len(data)] = data
        return len(data)


def drain(stream: BinaryIO) -> None:
    """Read a stream to its end in chunks (what is read is searched by its Tee)."""
    while stream.read(CHUNK_BYTES):
        pass


def drain_quietly(stream: BinaryIO) -> None:
    """Read the rest of a file that failed to unpack, so its own bytes are searched."""
    try:
        drain(stream)
    except OSError:
        pass


def scan_stream(source: BinaryIO, secrets: tuple[bytes, ...], path: str = "",
                budget: list[int] | None = None, depth: int = 0) -> str:
    """What secret a readable stream holds, in its own bytes or packed inside them."""
    budget = [MAX_UNPACKED_BYTES] if budget is None else budget
    window = Window(secrets, path)
    # a file itself is read again from here for its zip members; unpacked content is held
    start = source.tell() if depth == 0 and source.seekable() else None
    # the bytes of a file count against nothing; what is unpacked from it does
    raw = io.BufferedReader(Tee(source, window, budget if depth else None), 1 << 16)
    kind = ""
    try:
        kind = packed_kind(raw.peek(8)[:8])
        if kind == "zip":
            unpacked = scan_zip(raw, source, start, secrets, path, budget, depth)
        else:
            unpacked = unpack(kind, raw, secrets, path, budget, depth) if kind else ""
        drain(raw)  # what follows a packed stream, and every byte of a plain one
    except TooMuchPacked:
        return f"packed content over {MAX_UNPACKED_BYTES >> 20} MiB (not searched to its end)"
    except UNPACK_ERRORS as exc:
        if depth:  # named by the outermost file, whose bytes are read to their end
            raise
        drain_quietly(raw)
        return window.found or f"a {kind} file the guard cannot unpack ({exc})"
    return window.found or unpacked


def unpack(kind: str, raw: BinaryIO, secrets: tuple[bytes, ...], path: str,
           budget: list[int], depth: int) -> str:
    """What the content packed in `raw` (a gzip, bzip2 or xz stream) holds."""
    if depth >= MAX_DEPTH:
        return f"content packed more than {MAX_DEPTH} levels deep (not searched)"
    opener: Callable[[BinaryIO], BinaryIO] = {
        "gzip": lambda f: gzip.GzipFile(fileobj=f), "bzip2": bz2.BZ2File,
        "xz": lzma.LZMAFile}[kind]
    with opener(raw) as inner:
        return scan_stream(inner, secrets, path, budget, depth + 1)


def scan_zip(raw: BinaryIO, source: BinaryIO, start: int | None, secrets: tuple[bytes, ...],
             path: str, budget: list[int], depth: int) -> str:
    """What any member of a zip archive holds (an encrypted member is a finding). Its
    own bytes are searched first, as they are read to the end; `start`: where the
    archive begins in `source`, None when it cannot be read again (then it is held in a
    temporary file, bounded as all unpacked content is)."""
    if depth >= MAX_DEPTH:
        return f"content packed more than {MAX_DEPTH} levels deep (not searched)"
    spool = tempfile.TemporaryFile() if start is None else None
    try:
        while chunk := raw.read(CHUNK_BYTES):
            if spool is not None:
                spool.write(chunk)
        handle = spool or source
        handle.seek(start or 0)
        with zipfile.ZipFile(handle) as archive:
            return scan_members(archive, secrets, path, budget, depth)
    finally:
        if spool is not None:
            spool.close()


def scan_members(archive: zipfile.ZipFile, secrets: tuple[bytes, ...], path: str,
                 budget: list[int], depth: int) -> str:
    """The first finding in the members of an open zip archive."""
    for member in archive.infolist():
        if member.flag_bits & 0x1:
            return f"an encrypted zip member {member.filename} (cannot be searched)"
        if member.is_dir():
            continue
        with archive.open(member) as inner:
            found = scan_stream(inner, secrets, path, budget, depth + 1)
        if found:
            return f"{found} (zip member {member.filename})"
    return ""
