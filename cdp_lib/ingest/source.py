"""Opening one input file: what it is, whether it is whole, and a path the engine reads as is.

The file is opened once and read through its descriptor (`/proc/self/fd/N` on Linux), so a
name with glob characters (`g[12].csv`, `ev*.csv`) is never expanded by the engine, a file
deleted or renamed mid-ingest is still read whole, and the recorded SHA-256 is the one of
the bytes that were loaded. Compressed files are checked to the end before anything is read:
a cut `.gz` or `.zst` is refused whole instead of loading the rows before the cut.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from cdp_lib.errors import InputError

# Suffix -> reader. Compressed CSV/JSONL are decompressed by DuckDB.
FORMATS = {
    ".csv": "csv", ".csv.gz": "csv", ".csv.zst": "csv", ".tsv": "csv", ".tsv.gz": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonl.gz": "jsonl", ".ndjson.gz": "jsonl",
}
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# First bytes of content that is not text, with what to tell the person.
_NOT_TEXT = (
    (_GZIP_MAGIC, "is gzip-compressed data; name it {name}.gz so it is decompressed"),
    (_ZSTD_MAGIC, "is zstd-compressed data; name it {name}.zst so it is decompressed"),
    (b"PK\x03\x04", "is a ZIP archive; unzip it and ingest the file inside"),
    (b"BZh", "is bzip2-compressed data, which is not supported; decompress it first"),
    (b"\xfd7zXZ\x00", "is xz-compressed data, which is not supported; decompress it first"),
    (b"PAR1", "is a Parquet file; name it with a .parquet extension"),
    (b"\xff\xfe", "is UTF-16 text, not UTF-8; re-save it as UTF-8 (iconv -f utf-16 -t utf-8)"),
    (b"\xfe\xff", "is UTF-16 text, not UTF-8; re-save it as UTF-8 (iconv -f utf-16 -t utf-8)"),
)
_BLOCK = 1 << 22


def detect_format(path: Path) -> str:
    """Reader for `path` by its suffix; InputError if missing, not a file or unknown type."""
    name = path.name.lower()
    fmt = next((f for suffix, f in FORMATS.items() if name.endswith(suffix)), None)
    if not path.exists():
        raise InputError(f"file {path} does not exist; check the path")
    if not path.is_file():
        raise InputError(f"{path} is not a file; give one CSV, Parquet or JSON Lines file")
    if fmt is None:
        raise InputError(
            f"file {path} has an unsupported type; expected one of "
            f"{', '.join(sorted(FORMATS))}"
        )
    return fmt


def compression_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".gz"):
        return "gzip"
    if name.endswith(".zst"):
        return "zstd"
    return None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Source:
    """One opened input file; `read_path` is what the engine is given."""

    path: Path
    fmt: str
    compression: str | None
    fd: int
    read_path: str
    sha256: str = ""
    _tmpdir: str | None = field(default=None, repr=False)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


def open_source(path: Path, fmt: str) -> Source:
    """Open `path`, hash it, check its content against its name; InputError when unusable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise InputError(f"file {path} does not exist (was it moved or deleted?); check the path") from None
    except OSError as exc:
        raise InputError(f"cannot open {path}: {exc.strerror}; check its permissions") from None
    source = Source(path, fmt, compression_of(path), fd, "")
    try:
        if os.fstat(fd).st_size == 0:
            raise InputError(f"file {path} is empty; expected a header line and rows")
        source.sha256 = _hash_and_check(source)
        source.read_path = _engine_path(source)
    except BaseException:
        source.close()
        raise
    return source


def _engine_path(source: Source) -> str:
    """A name for the open file that the engine reads literally (no glob characters)."""
    proc = f"/proc/self/fd/{source.fd}"
    if os.path.exists(proc):
        return proc
    # Elsewhere: a link with a plain name in a private folder, keeping the suffix that tells
    # DuckDB the compression.
    source._tmpdir = tempfile.mkdtemp(prefix="cdp-ingest-")
    suffix = {"gzip": ".gz", "zstd": ".zst"}.get(source.compression or "", "")
    link = os.path.join(source._tmpdir, f"input{suffix}")
    os.symlink(os.path.abspath(source.path), link)
    return link


def _hash_and_check(source: Source) -> str:
    """SHA-256 of the file, reading it once; gzip members are inflated to their end on the way."""
    fd, path = source.fd, source.path
    head = os.pread(fd, 16, 0)
    if source.compression == "gzip" and not head.startswith(_GZIP_MAGIC):
        raise InputError(f"file {path} is named .gz but is not gzip data; rename it or compress it")
    if source.compression == "zstd" and not head.startswith(_ZSTD_MAGIC):
        raise InputError(f"file {path} is named .zst but is not zstd data; rename it or compress it")
    if source.compression is None and source.fmt != "parquet":
        for magic, message in _NOT_TEXT:
            if head.startswith(magic):
                raise InputError(f"file {path} {message.format(name=path.name)}")
        if _utf16_like(fd):
            raise InputError(
                f"file {path} is not UTF-8 text (it holds NUL bytes, as UTF-16 does); re-save it "
                "as UTF-8 (iconv -f utf-16 -t utf-8) and ingest again"
            )
    digest = hashlib.sha256()
    inflate = zlib.decompressobj(31) if source.compression == "gzip" else None
    offset = 0
    while True:
        block = os.pread(fd, _BLOCK, offset)
        if not block:
            break
        digest.update(block)
        offset += len(block)
        if inflate is not None:
            inflate = _inflate(inflate, block, path)
    if inflate is not None and not inflate.eof:
        raise _cut(path, "gzip")
    if source.compression == "zstd" and not _zstd_complete(fd, offset):
        raise _cut(path, "zstd")
    return digest.hexdigest()


def _utf16_like(fd: int) -> bool:
    """True when the first KB has NUL bytes in every other position (UTF-16 without a BOM)."""
    head = os.pread(fd, 1024, 0)
    half = max(len(head) // 2, 1)
    return head[0::2].count(0) > 0.3 * half or head[1::2].count(0) > 0.3 * half


def _cut(path: Path, kind: str) -> InputError:
    return InputError(
        f"file {path} is not a complete {kind} stream (it ends before the compressed data "
        "does, e.g. a cut download or copy); nothing was loaded: fetch or copy it again"
    )


def _inflate(inflate, block: bytes, path: Path):
    """Feed `block` to a gzip decompressor (output discarded, at most 1 MB at a time); a new
    member after the end of one gets a new decompressor. Returns the current decompressor."""
    data = block
    while data:
        if inflate.eof:
            if data.strip(b"\x00") == b"":  # zero padding after the last member
                return inflate
            inflate = zlib.decompressobj(31)
        try:
            inflate.decompress(data, 1 << 20)
        except zlib.error as exc:
            raise InputError(f"file {path} is corrupt gzip data ({exc}); fetch or copy it again") from None
        data = inflate.unused_data if inflate.eof else inflate.unconsumed_tail
    return inflate


def _zstd_complete(fd: int, size: int) -> bool:
    """Walk the zstd frames and blocks (RFC 8878) to the end of the file without decompressing;
    False when a frame or block would run past the end (a cut file) or the layout is broken."""
    pos = 0
    while pos < size:
        head = os.pread(fd, 14, pos)
        if len(head) < 8:
            return False
        magic = int.from_bytes(head[:4], "little")
        if 0x184D2A50 <= magic <= 0x184D2A5F:  # skippable frame
            pos += 8 + int.from_bytes(head[4:8], "little")
            continue
        if magic != 0xFD2FB528:
            return False
        fhd = head[4]
        single = (fhd >> 5) & 1
        fcs_size = (1 if single else 0, 2, 4, 8)[fhd >> 6]
        header = 1 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + fcs_size
        pos += 4 + header
        while True:
            bh = os.pread(fd, 3, pos)
            if len(bh) < 3:
                return False
            value = int.from_bytes(bh, "little")
            last, kind, n = value & 1, (value >> 1) & 3, value >> 3
            if kind == 3:
                return False
            pos += 3 + (1 if kind == 1 else n)
            if pos > size:
                return False
            if last:
                break
        if (fhd >> 2) & 1:
            pos += 4
    return pos == size


@dataclass
class RowsSource:
    """Rows already read (a pandas DataFrame or pyarrow Table) standing in for a file."""

    path: str
    rows: object
    fmt: str = "rows"
    compression: str | None = None
    sha256: str | None = None

    def close(self) -> None:
        pass
