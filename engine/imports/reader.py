"""Reading a CSV file as a stream of rows, in constant memory, whatever state the file is in.

- **Encoding**: a BOM decides (UTF-8, UTF-16); otherwise the file is scanned once, in chunks:
  valid UTF-8 is UTF-8, else valid CP932 is CP932 (what Japanese Excel calls Shift_JIS; ``--encoding
  shift_jis`` means CP932 too, so ①, ㈱ and 髙 decode). A file valid in neither is read in the one
  that got further, and each undecodable row is rejected with the row number. NUL bytes without a
  BOM mean UTF-16 without a BOM: a file error asking for ``--encoding``.
- **Rows** are numbered as a spreadsheet shows them: the header is row 1, and a quoted value
  spanning several lines stays one row.
- **Broken quoting** is a rejected row, never a crash: ``"abc"def`` (text after a closing quote)
  rejects that row; an unterminated quote rejects the row it starts on and reading resumes on the
  next line. A field over 128 KB (the csv module's default limit, which stays as it is) or a row
  over 1 MB is rejected the same way; memory stays bounded by those limits.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

FIELD_LIMIT = 128 * 1024
ROW_LIMIT = 1024 * 1024
CHUNK = 1 << 20
ALIASES = {"shift_jis": "cp932", "sjis": "cp932", "shift-jis": "cp932", "s_jis": "cp932",
           "ms932": "cp932", "windows-31j": "cp932", "utf8": "utf-8"}


class FileError(Exception):
    """The file cannot be read at all (exit 2): missing, empty, an unknown encoding."""


@dataclass(frozen=True, slots=True)
class Row:
    number: int  # as a spreadsheet shows it: the header is row 1
    cells: list[str]


@dataclass(frozen=True, slots=True)
class BadRow:
    number: int
    line: int  # the physical line it starts on
    reason: str
    raw: str  # the start of the offending text, for the report


@dataclass
class Detected:
    encoding: str  # a Python codec name
    bom: int = 0  # bytes to skip
    note: str = ""


def _bom(head: bytes) -> Detected | None:
    if head.startswith(codecs.BOM_UTF8):
        return Detected("utf-8", 3, "UTF-8 with BOM")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Detected("utf-16", 0, "UTF-16 (BOM)")
    return None


def _decodes(path: Path, encoding: str) -> tuple[bool, int, int]:
    """Whether the whole file decodes, how many bytes did, and where the first non-ASCII byte is
    (-1: none)."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    done, first_high = 0, -1
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            if first_high < 0 and not chunk.isascii():
                first_high = done + next(i for i, b in enumerate(chunk) if b >= 0x80)
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return False, done + exc.start, first_high
            done += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False, done, first_high
    return True, done, first_high


def detect(path: Path, forced: str | None = None) -> Detected:
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise FileError(f"{path}: cannot read the file ({exc.strerror})") from None
    bom = _bom(head)
    if forced:
        name = ALIASES.get(forced.lower(), forced)
        try:
            name = codecs.lookup(name).name
        except LookupError:
            raise FileError(f"--encoding {forced}: unknown encoding (try utf-8 or cp932)") from None
        skip = bom.bom if bom and name in ("utf-8", "utf-8-sig") else 0
        return Detected("utf-8" if name == "utf-8-sig" else name, skip, f"{name} (given)")
    if bom:
        return bom
    if not head:
        raise FileError(f"{path}: the file is empty")
    if b"\x00" in head:
        raise FileError(f"{path}: the file has NUL bytes and no byte order mark: probably UTF-16 "
                        "without a BOM; pass --encoding utf-16-le (or utf-16-be)")
    ok, failed_at, first_high = _decodes(path, "utf-8")
    if ok:
        return Detected("utf-8", 0, "UTF-8")
    if 0 <= first_high < failed_at:
        # Real UTF-8 text came before the bad bytes: a UTF-8 file with some broken rows (UTF-8
        # bytes would often decode as CP932 too, as mojibake, so CP932 must not be tried).
        return Detected("utf-8", 0, "UTF-8 (some rows are not valid UTF-8: rejected)")
    ok, _, _ = _decodes(path, "cp932")
    if ok:
        return Detected("cp932", 0, "CP932 (Shift_JIS)")
    return Detected("cp932", 0, "CP932 (guessed: the file is valid in no encoding tried; rows "
                    "that do not decode are rejected; --encoding sets it)")


class _Lines:
    """Decoded lines with their physical numbers; each line's bytes are decoded on their own,
    so an undecodable byte is pinned to its line (UTF-8 and CP932 never use byte 0x0A inside a
    character). UTF-16 is decoded as a stream instead."""

    def __init__(self, fh: BinaryIO, encoding: str) -> None:
        self.fh = fh
        self.encoding = encoding
        self.line = 0
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0
        self.stream: io.TextIOWrapper | None = None
        if encoding.startswith("utf-16"):
            self.stream = io.TextIOWrapper(fh, encoding, errors="strict", newline="")

    def next_line(self) -> tuple[str | None, str | None]:
        """-> (text, problem). ``(None, None)`` at the end of the file."""
        if self.stream is not None:
            try:
                text = self.stream.readline(ROW_LIMIT)
            except UnicodeDecodeError as exc:
                self.line += 1
                return "", f"not valid {self.encoding} text ({exc.reason}); reading stopped here"
            self.bytes_read = self.fh.tell()
            if not text:
                return None, None
            self.line += 1
            return text, None
        data = self.fh.readline(ROW_LIMIT + 1)
        if not data:
            return None, None
        self.line += 1
        self.sha256.update(data)
        self.bytes_read += len(data)
        if len(data) > ROW_LIMIT:
            while data and not data.endswith(b"\n"):  # skip the rest of the line
                data = self.fh.readline(CHUNK)
                self.sha256.update(data)
                self.bytes_read += len(data)
            return "", f"a line longer than {ROW_LIMIT // 1024} KB"
        try:
            return data.decode(self.encoding), None
        except UnicodeDecodeError as exc:
            bad = data[exc.start:exc.start + 2].hex(" ")
            return (data.decode(self.encoding, "replace"),
                    f"not valid {self.encoding} text (bytes {bad} at byte {exc.start + 1} of "
                    "the line): the file mixes encodings; --encoding sets the one to use")


class _Undecodable(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass
class Reader:
    """Iterate :class:`Row` and :class:`BadRow`; the first :class:`Row` is the header."""

    path: Path
    detected: Detected
    size: int = 0
    _lines: _Lines | None = field(default=None, repr=False)

    @property
    def bytes_read(self) -> int:
        return self._lines.bytes_read if self._lines else 0

    @property
    def sha256(self) -> str | None:
        """Of the file's bytes (``None`` for UTF-16, which is decoded as a stream)."""
        if self._lines is None or self._lines.stream is not None:
            return None
        return self._lines.sha256.hexdigest()

    def __iter__(self) -> Iterator[Row | BadRow]:
        self.size = self.path.stat().st_size
        with self.path.open("rb") as fh:
            bom = fh.read(self.detected.bom)
            self._lines = _Lines(fh, self.detected.encoding)
            self._lines.sha256.update(bom)
            self._lines.bytes_read = len(bom)
            yield from self._records(self._lines)

    def _records(self, lines: _Lines) -> Iterator[Row | BadRow]:
        pending: deque[tuple[int, str]] = deque()
        record: list[tuple[int, str]] = []
        number = 0

        size = [0]  # characters in the current record

        def feed() -> Iterator[str]:
            while True:
                if pending:
                    no, text = pending.popleft()
                else:
                    got, problem = lines.next_line()
                    if got is None:
                        return
                    no, text = lines.line, got
                    if problem:
                        record.append((no, text))
                        raise _Undecodable(problem)
                record.append((no, text))
                size[0] += len(text)
                if size[0] > ROW_LIMIT:
                    raise csv.Error(f"a row longer than {ROW_LIMIT // 1024} KB")
                yield text

        while True:
            reader = csv.reader(feed(), strict=True)
            while True:
                record.clear()
                size[0] = 0
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except _Undecodable as exc:
                    number += 1
                    yield BadRow(number, record[0][0], exc.reason, _snippet(record))
                    break
                except csv.Error as exc:
                    number += 1
                    yield self._broken(number, record, str(exc), pending)
                    break
                number += 1
                if any(len(c) > FIELD_LIMIT for c in cells):
                    yield BadRow(number, record[0][0] if record else lines.line,
                                 f"a value longer than {FIELD_LIMIT // 1024} KB", _snippet(record))
                    continue
                yield Row(number, cells)

    @staticmethod
    def _broken(number: int, record: list[tuple[int, str]], error: str,
                pending: deque[tuple[int, str]]) -> BadRow:
        first = record[0][0] if record else 0
        if "expected after" in error and len(record) == 1:
            reason = "broken quoting: text after a closing quote (a \" inside a value must be \"\")"
        else:
            # A quote that does not close where it should swallowed the lines after it: reject
            # the line it opened on and read the others again as rows of their own.
            pending.extendleft(reversed(record[1:]))
            if "field larger" in error:
                reason = (f"a value longer than {FIELD_LIMIT // 1024} KB, or a quote that is "
                          "never closed")
            elif "longer than" in error:
                reason = error + ", or a quote that is never closed"
            else:
                reason = "broken quoting: a quote that is not closed on its line"
        return BadRow(number, first, f"{reason} (line {first})", _snippet(record[:1]))


def _snippet(record: list[tuple[int, str]]) -> str:
    text = "".join(t for _, t in record).rstrip("\r\n")
    return text if len(text) <= 200 else text[:200] + "…"
