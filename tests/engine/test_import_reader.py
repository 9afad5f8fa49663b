"""Reading CSV files in whatever state they come: encodings and broken quoting (T-I1, T-I2)."""

from __future__ import annotations

import codecs
import csv
from pathlib import Path

import pytest

from engine.imports.reader import BadRow, FileError, Reader, Row, detect

FIXTURES = Path(__file__).parent.parent / "fixtures" / "csv"
TEXT = "email,会社名\na@x.com,株式会社髙橋①\n"


def read(path: Path, encoding: str | None = None) -> list[Row | BadRow]:
    return list(Reader(path, detect(path, encoding)))


def rows(got: list[Row | BadRow]) -> list[tuple[int, list[str]] | tuple[int, str]]:
    return [(r.number, r.cells) if isinstance(r, Row) else (r.number, r.reason) for r in got]


@pytest.mark.parametrize(("data", "note"), [
    (TEXT.encode("utf-8"), "UTF-8"),
    (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "UTF-8 with BOM"),
    (TEXT.encode("cp932"), "CP932 (Shift_JIS)"),
    (TEXT.replace("\n", "\r\n").encode("cp932"), "CP932 (Shift_JIS)"),
    (TEXT.encode("utf-16"), "UTF-16 (BOM)"),
    (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "UTF-16 (BOM)"),
])
def test_encodings_are_detected_and_the_bom_stripped(tmp_path: Path, data: bytes,
                                                      note: str) -> None:  # T-I1
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    assert detect(path).note == note
    assert rows(read(path)) == [(1, ["email", "会社名"]), (2, ["a@x.com", "株式会社髙橋①"])]


def test_the_cp932_fixture(tmp_path: Path) -> None:
    got = read(FIXTURES / "crm_cp932.csv")
    assert detect(FIXTURES / "crm_cp932.csv").encoding == "cp932"
    assert isinstance(got[1], Row) and got[1].cells[1] == "株式会社髙橋商事"
    assert len(got) == 4 and all(isinstance(r, Row) for r in got)


def test_shift_jis_means_cp932(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(TEXT.encode("cp932"))
    assert detect(path, "Shift_JIS").encoding == "cp932"
    assert rows(read(path, "shift_jis"))[1] == (2, ["a@x.com", "株式会社髙橋①"])
    with pytest.raises(FileError, match="unknown encoding"):
        detect(path, "klingon")


def test_utf16_without_bom_and_empty_files_are_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(TEXT.encode("utf-16-le"))
    with pytest.raises(FileError, match="--encoding utf-16-le"):
        detect(path)
    assert rows(read(path, "utf-16-le"))[1] == (2, ["a@x.com", "株式会社髙橋①"])
    path.write_bytes(b"")
    with pytest.raises(FileError, match="empty"):
        detect(path)


def test_a_row_in_another_encoding_is_rejected_with_its_row_number(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes("email,name\na@x.com,山田\n".encode() + "b@x.com,山田\n".encode("cp932") +
                     b"c@x.com,ok\n")
    assert detect(path).encoding == "utf-8"  # not CP932 mojibake of the UTF-8 rows
    got = rows(read(path))
    assert got[1] == (2, ["a@x.com", "山田"]) and got[3] == (4, ["c@x.com", "ok"])
    assert got[2][0] == 3 and "not valid utf-8" in str(got[2][1])


def test_broken_quoting_is_reported_and_reading_goes_on() -> None:  # T-I2
    got = rows(read(FIXTURES / "broken_quotes.csv"))
    assert got[0] == (1, ["email", "company", "title"])
    assert got[1] == (2, ["ok1@example.com", "Alpha", "Manager"])
    assert got[2][0] == 3 and "text after a closing quote" in str(got[2][1])
    assert got[3][0] == 4 and "not closed" in str(got[3][1]) and "(line 4)" in str(got[3][1])
    assert got[4] == (5, ["ok2@example.com", "Delta", "Staff"])


def test_quoted_line_breaks_stay_in_one_row(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b'email,note\r\na@x.com,"one\r\ntwo"\r\nb@x.com,x\r\n')
    assert rows(read(path)) == [(1, ["email", "note"]), (2, ["a@x.com", "one\r\ntwo"]),
                                (3, ["b@x.com", "x"])]


def test_a_huge_field_is_rejected_without_raising_the_limit(tmp_path: Path) -> None:  # T-I2
    path = tmp_path / "f.csv"
    limit = csv.field_size_limit()
    path.write_bytes(b"email,note\na@x.com," + b"x" * 200_000 + b'\nb@x.com,"' +
                     b"y\n" * 70_000 + b'"\nc@x.com,ok\n')
    got = read(path)
    assert csv.field_size_limit() == limit == 131072
    assert isinstance(got[1], BadRow) and got[1].number == 2 and "128 KB" in got[1].reason
    assert isinstance(got[2], BadRow) and got[2].number == 3
    assert isinstance(got[-1], Row) and got[-1].cells == ["c@x.com", "ok"]


def test_a_line_over_a_megabyte_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"email,note\n" + b"a" * 2_000_000 + b"\nb@x.com,ok\n")
    got = read(path)
    assert isinstance(got[1], BadRow) and "longer than 1024 KB" in got[1].reason
    assert isinstance(got[2], Row) and got[2].number == 3


def test_the_file_hash_covers_every_byte(tmp_path: Path) -> None:
    import hashlib

    data = codecs.BOM_UTF8 + TEXT.encode()
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    reader = Reader(path, detect(path))
    list(reader)
    assert reader.sha256 == hashlib.sha256(data).hexdigest()
    assert reader.bytes_read == len(data)


def test_many_short_rows_are_not_one_long_row(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"email,note\n" + b"".join(b"u%d@x.com,%s\n" % (i, b"n" * 60)
                                                 for i in range(40_000)))  # 2.9 MB
    got = read(path)
    assert len(got) == 40_001 and all(isinstance(r, Row) for r in got)
