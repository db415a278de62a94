"""XLSX rosters: read by a streaming reader within limits, written by openpyxl.

Reading never trusts the workbook: the zip's parts are checked before anything is parsed (how many,
their uncompressed sizes, how much they are compressed), XML goes through expat with every DTD,
entity and external reference refused at its first byte (what defusedxml's forbid_dtd does, without
ElementTree's per-element wrappers, which cost half the reading time), shared strings are kept
compactly up to a total size, and the sheet is parsed row by row, counting row *numbers* (a row
numbered 20,000,000 stops the file at once; blank rows count).
openpyxl only writes workbooks and lends its date-format helpers.
"""

from __future__ import annotations

import io
import posixpath
import re
import struct
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any
from xml.parsers import expat

from locator.coords import CRS
from locator.formats.base import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_ROWS,
    TEMPLATE_EXAMPLE,
    TEMPLATE_HEADERS,
    FileInvalid,
    Format,
    RawRow,
    export_headers,
    neutralise_formula,
    over_limit,
    record_cells,
    text_too_long,
    too_many_rows,
)
from locator.stations import Station

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .xlsx and old .xls are OLE compound files
SHEET_TITLE = "驿站名册"

# Limits, checked on the zip's directory before any part is parsed (sizes as the zip declares them:
# zipfile never inflates a part beyond its declared size) and while parsing.
MAX_PARTS = 1_000  # a workbook has a few dozen
MAX_SHEET_BYTES = 256 * 1024 * 1024  # uncompressed sheet XML: 200,000 rows written by openpyxl take ~160 MB
MAX_STRINGS_BYTES = 256 * 1024 * 1024  # uncompressed sharedStrings.xml (its text is bounded below)
MAX_PART_BYTES = 4 * 1024 * 1024  # workbook.xml, styles.xml, relationships
MAX_RATIO = 100  # uncompressed / compressed, for parts over RATIO_FROM bytes (zip bombs inflate ~1000x)
RATIO_FROM = 1024 * 1024
MAX_SHARED_TEXT = 24 * 1024 * 1024  # UTF-8 bytes of all shared strings together
MAX_SHARED_STRINGS = 1_000_000
MAX_ROW_ELEMENTS = 8 * MAX_COLUMNS  # XML elements within one row (a cell takes 2 to 4)
MAX_OTHER_ELEMENTS = 100_000  # XML elements of the sheet outside its rows, before the rows end
CHUNK = 64 * 1024

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CJK_DATE_FORMATS = frozenset(range(27, 37)) | frozenset(range(50, 59))  # 年月日 formats of Chinese Excel


def _cell_text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) > 1000:
        return str(int(value))  # phone numbers typed as numbers
    if isinstance(value, int | float):
        return value
    return str(value)


# What reading a damaged or unusual zip member can raise (NotImplementedError: a compression method
# zipfile does not support; RuntimeError: an encrypted member): each means the workbook is unreadable.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError)


def _unreadable(reason: str) -> FileInvalid:
    return FileInvalid(
        f"not a readable .xlsx workbook ({reason})", "无法读取该 .xlsx 工作簿，请在 Excel 中另存为 .xlsx 后重试。"
    )


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# -- the zip ------------------------------------------------------------------------------------------


def _open_zip(data: bytes) -> zipfile.ZipFile:
    """The workbook's zip, once its directory is within MAX_PARTS (read from the end record, before zipfile)."""
    if data.startswith(OLE_MAGIC):
        raise FileInvalid(
            "the workbook is password-protected (encrypted) or an old .xls file: remove the password "
            "(文件 → 信息 → 保护工作簿) and save as .xlsx",
            "工作簿受密码保护（已加密）或是旧版 .xls 文件：请取消密码（文件 → 信息 → 保护工作簿）并另存为 .xlsx。",
        )
    tail = data[-(65535 + 22) :]
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) < end + 22:
        raise _unreadable("not a zip file")
    entries, directory_size = struct.unpack("<HI", tail[end + 10 : end + 16])
    zip64 = end >= 20 and tail[end - 20 : end - 16] == b"PK\x06\x07"
    if entries > MAX_PARTS or zip64 or directory_size > MAX_PARTS * 1024:
        raise over_limit(
            f"the workbook's zip holds more than {MAX_PARTS:,} parts",
            f"{MAX_PARTS:,} parts",
            f"工作簿（zip）包含超过 {MAX_PARTS:,} 个部件",
            f" {MAX_PARTS:,} 个部件",
        )
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, struct.error) as exc:
        raise _unreadable(exc.__class__.__name__) from None


def _check_part(info: zipfile.ZipInfo, max_bytes: int) -> None:
    """A part's declared size and compression ratio within the limits (checked before it is read)."""
    mb = max_bytes // (1024 * 1024)
    if info.file_size > max_bytes:
        raise over_limit(
            f"the workbook part {info.filename} is {info.file_size:,} bytes uncompressed (a zip bomb?)",
            f"{mb} MB",
            f"工作簿中的 {info.filename} 解压后有 {info.file_size:,} 字节（疑似压缩炸弹）",
            f" {mb} MB",
        )
    if info.file_size > RATIO_FROM and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        ratio = info.file_size // max(info.compress_size, 1)
        raise over_limit(
            f"the workbook part {info.filename} is compressed {ratio:,} times (a zip bomb?)",
            f"{MAX_RATIO} times",
            f"工作簿中的 {info.filename} 压缩比为 {ratio:,} 倍（疑似压缩炸弹）",
            f" {MAX_RATIO} 倍",
        )


class _Stop(Exception):
    """Raised by a parse target that has read all it needs."""


class _Forbidden(Exception):
    """Raised at a DTD, an entity declaration or an external reference: such parts are refused."""


def _forbid(*_args: Any) -> None:
    raise _Forbidden


def _expat(target: Any) -> Any:
    """An expat parser feeding `target` (start(tag, attrib), end(tag), data(text)) that refuses any DTD or entity.

    Tags arrive as `namespace}local` (or `local`), which `_local` reads like ElementTree's `{namespace}local`.
    """
    parser = expat.ParserCreate(None, "}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    parser.UnparsedEntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = _forbid
    parser.SkippedEntityHandler = _forbid  # an undeclared entity reference: never expanded, refused
    parser.buffer_text = True  # one data() call per text run, not one per buffer refill
    parser.StartElementHandler = target.start
    parser.EndElementHandler = target.end
    parser.CharacterDataHandler = target.data
    return parser


def _parse(zf: zipfile.ZipFile, name: str, target: Any, max_bytes: int) -> None:
    """Feed one part, checked first, through expat (no DTD, no entities) into `target`, chunk by chunk."""
    info = zf.getinfo(name)
    _check_part(info, max_bytes)
    parser = _expat(target)
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(CHUNK):
                parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except _Stop:
        pass
    except _Forbidden:
        raise _dtd(name) from None
    except expat.ExpatError as exc:
        raise _unreadable(f"{name}: {exc}") from None
    except _ZIP_ERRORS as exc:
        raise _unreadable(f"{name}: {exc.__class__.__name__}") from None


def _dtd(name: str) -> FileInvalid:
    return FileInvalid(
        f"the workbook part {name} holds a DTD or entity declarations, which are not accepted",
        f"工作簿中的 {name} 含有 DTD 或实体声明，不予接受。",
    )


class _Collect:
    """A parse target that hands (local tag, attributes) of every start tag to a function (small parts)."""

    def __init__(self, on_start: Callable[[str, dict], None]):
        self.on_start = on_start

    def start(self, tag: str, attrib: dict) -> None:
        self.on_start(_local(tag), attrib)

    def end(self, tag: str) -> None:
        pass

    def data(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _relationships(zf: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Id -> (type, part name) of a part's relationships."""
    folder, base = posixpath.split(part)
    rels_name = posixpath.join(folder, "_rels", base + ".rels")
    found: dict[str, tuple[str, str]] = {}
    if rels_name not in zf.NameToInfo:
        return found

    def on_start(tag: str, attrib: dict) -> None:
        if tag == "Relationship" and attrib.get("TargetMode") != "External":
            target = attrib.get("Target", "")
            name = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            found[attrib.get("Id", "")] = (attrib.get("Type", "").rsplit("/", 1)[-1], name)

    _parse(zf, rels_name, _Collect(on_start), MAX_PART_BYTES)
    return found


# -- shared strings -----------------------------------------------------------------------------------


class SharedStrings:
    """The shared string table, kept compactly (UTF-8 bytes and offsets), within MAX_SHARED_TEXT."""

    def __init__(self) -> None:
        self.text = bytearray()
        self.ends = array("L")
        self._pieces: list[str] | None = None
        self._chars = 0
        self._phonetic = 0

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, index: int) -> str:
        start = self.ends[index - 1] if index > 0 else 0
        return self.text[start : self.ends[index]].decode("utf-8")

    # the parse target: <si> holds <t>, or runs <r><t>; <rPh> (phonetic guides) is not the text
    def start(self, tag: str, attrib: dict) -> None:
        local = _local(tag)
        if local == "si":
            self._pieces, self._chars = [], 0
        elif local == "rPh":
            self._phonetic += 1

    def end(self, tag: str) -> None:
        local = _local(tag)
        if local == "rPh":
            self._phonetic -= 1
        elif local == "si" and self._pieces is not None:
            self.text += "".join(self._pieces).encode("utf-8")
            self._pieces = None
            if len(self.text) > MAX_SHARED_TEXT:
                mb = MAX_SHARED_TEXT // (1024 * 1024)
                raise over_limit(
                    f"the workbook's shared strings hold more than {mb} MB of text",
                    f"{mb} MB",
                    f"工作簿的共享字符串超过 {mb} MB",
                    f" {mb} MB",
                )
            if len(self.ends) >= MAX_SHARED_STRINGS:
                raise over_limit(
                    f"the workbook holds more than {MAX_SHARED_STRINGS:,} shared strings",
                    f"{MAX_SHARED_STRINGS:,} strings",
                    f"工作簿的共享字符串超过 {MAX_SHARED_STRINGS:,} 个",
                    f" {MAX_SHARED_STRINGS:,} 个",
                )
            self.ends.append(len(self.text))

    def data(self, text: str) -> None:
        if self._pieces is not None and not self._phonetic:
            self._pieces.append(text)
            self._chars += len(text)
            if self._chars > MAX_CELL_CHARS:
                raise text_too_long("a shared string of the workbook", "工作簿中的某个共享字符串")

    def close(self) -> None:
        pass


# -- styles: which cell styles are dates ----------------------------------------------------------------


def _date_styles(zf: zipfile.ZipFile, name: str | None) -> tuple[frozenset[int], frozenset[int]]:
    """Indexes of the cell styles (cellXfs) that show dates, and those that show durations."""
    if not name or name not in zf.NameToInfo:
        return frozenset(), frozenset()
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format

    custom: dict[int, str] = {}
    xf_formats: list[int] = []
    depth = {"cellXfs": 0}

    def on_start(tag: str, attrib: dict) -> None:
        if tag == "numFmt":
            try:
                custom[int(attrib.get("numFmtId", ""))] = attrib.get("formatCode", "")
            except ValueError:
                pass
        elif tag == "cellXfs":
            depth["cellXfs"] = 1
        elif tag == "xf" and depth["cellXfs"]:
            try:
                xf_formats.append(int(attrib.get("numFmtId", "0")))
            except ValueError:
                xf_formats.append(0)
        elif tag in ("cellStyles", "dxfs"):
            depth["cellXfs"] = 0  # the xf elements that follow are not cell formats

    _parse(zf, name, _Collect(on_start), MAX_PART_BYTES)
    dates, durations = set(), set()
    for index, fmt_id in enumerate(xf_formats):
        code = custom.get(fmt_id) or BUILTIN_FORMATS.get(fmt_id)
        if code and is_timedelta_format(code):
            durations.add(index)
        elif (code and is_date_format(code)) or (fmt_id in CJK_DATE_FORMATS and fmt_id not in custom):
            dates.add(index)
    return frozenset(dates), frozenset(durations)


# -- the sheet --------------------------------------------------------------------------------------------


def _column(ref: str) -> int:
    """1 for 'A1', 28 for 'AB7'; 0 for a reference that is not one."""
    number = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            number = number * 26 + ord(ch) - 64
        elif "a" <= ch <= "z":
            number = number * 26 + ord(ch) - 96
        else:
            break
        if number > MAX_COLUMNS:
            return MAX_COLUMNS + 1
    return number


def _number(text: str) -> Any:
    try:
        return float(text) if ("." in text or "E" in text or "e" in text) else int(text)
    except ValueError:
        return text  # not a number after all (or longer than Python reads): validation names it


class _Sheet:
    """The parse target of a worksheet: collects finished rows as (row number, {column: value}, formulas)."""

    def __init__(self, shared: SharedStrings | None, dates: frozenset[int], durations: frozenset[int], epoch: Any):
        self.shared = shared
        self.dates, self.durations, self.epoch = dates, durations, epoch
        self.ready: list[tuple[int, dict[int, Any], list[int]]] = []
        self.number = 0  # the current (or last) row's number
        self.width = MAX_COLUMNS  # columns that matter: the header row's, once read
        self.in_row = False
        self.row_elements = 0
        self.other_elements = 0
        self.cells: dict[int, Any] = {}
        self.formulas: list[int] = []
        self.count = 0
        self.col = 0
        self.cell: tuple[str, str | None] | None = None  # (type, style) of the cell being read
        self.pieces: list[str] | None = None  # text of the cell's <v>, <t> or <f> being read
        self.chars = 0
        self.phonetic = 0
        self.value: str | None = None
        self.has_formula = False

    def start(self, tag: str, attrib: dict) -> None:
        local = _local(tag)
        if not self.in_row:
            if local == "row":
                self._start_row(attrib)
                return
            self.other_elements += 1
            if self.other_elements > MAX_OTHER_ELEMENTS:
                raise over_limit(
                    f"the sheet holds more than {MAX_OTHER_ELEMENTS:,} XML elements outside its rows",
                    f"{MAX_OTHER_ELEMENTS:,} elements",
                    f"工作表在行之外含有超过 {MAX_OTHER_ELEMENTS:,} 个 XML 元素",
                    f" {MAX_OTHER_ELEMENTS:,} 个元素",
                )
            return
        self.row_elements += 1
        if self.row_elements > MAX_ROW_ELEMENTS:
            raise self._too_wide()
        if local == "c":
            self.count += 1
            ref = attrib.get("r")
            col = _column(ref) if ref else self.col + 1
            if col <= self.col:
                col = self.col + 1  # cells go left to right; a repeated reference still takes a column
            if col > MAX_COLUMNS or self.count > MAX_COLUMNS:
                raise self._too_wide()
            self.col = col
            self.cell = (attrib.get("t", "n"), attrib.get("s")) if col <= self.width else None
            self.value, self.has_formula = None, False
        elif self.cell is None:
            return
        elif local in ("v", "t", "f"):
            self.pieces, self.chars = [], 0
        elif local == "rPh":
            self.phonetic += 1

    def data(self, text: str) -> None:
        if self.pieces is not None and not self.phonetic:
            self.pieces.append(text)
            self.chars += len(text)
            if self.chars > MAX_CELL_CHARS:
                raise text_too_long(f"row {self.number}", f"第 {self.number} 行的某个单元格")

    def end(self, tag: str) -> None:
        local = _local(tag)
        if local == "sheetData":
            raise _Stop
        if not self.in_row:
            return
        if local == "row":
            self.in_row = False
            self.ready.append((self.number, self.cells, self.formulas))
            if self.number == 1:
                self.width = max(self.cells, default=0)
            return
        if self.cell is None:
            return
        if local == "rPh":
            self.phonetic -= 1
        elif local in ("v", "t", "f") and self.pieces is not None:
            text = "".join(self.pieces)
            self.pieces = None
            if local == "f":
                self.has_formula = True
            elif local == "t":
                self.value = (self.value or "") + text
            else:
                self.value = text
        elif local == "c":
            if self.has_formula:
                self.formulas.append(self.col)
            else:
                value = self._value(*self.cell)
                if value is not None:
                    self.cells[self.col] = value
            self.cell = None

    def close(self) -> None:
        pass

    def _start_row(self, attrib: dict) -> None:
        given = attrib.get("r", "")
        number = int(given) if given.isdigit() and len(given) < 12 else self.number + 1
        self.number = max(number, self.number + 1)  # rows only go down: a repeated number still counts
        if self.number > MAX_ROWS + 1:
            raise too_many_rows(self.number)
        self.in_row, self.row_elements, self.count, self.col = True, 0, 0, 0
        self.cells, self.formulas = {}, []

    def _too_wide(self) -> FileInvalid:
        return over_limit(
            f"row {self.number} of the sheet has more than {MAX_COLUMNS:,} cells or columns",
            f"{MAX_COLUMNS:,} columns",
            f"工作表第 {self.number} 行超过 {MAX_COLUMNS:,} 列",
            f" {MAX_COLUMNS:,} 列",
        )

    def _value(self, kind: str, style: str | None) -> Any:
        text = self.value
        if text is None:
            return None
        if kind == "s":
            try:
                return self.shared[int(text)] if self.shared is not None else None
            except (ValueError, IndexError):
                raise _unreadable(f"row {self.number} refers to a shared string that does not exist") from None
        if kind in ("inlineStr", "str", "e"):
            return text
        if kind == "b":
            return text.strip() in ("1", "true")
        if kind == "d":
            from openpyxl.utils.datetime import from_ISO8601

            try:
                return from_ISO8601(text)
            except (ValueError, TypeError):
                return text
        number = _number(text.strip())
        if style is not None and isinstance(number, int | float) and style.isdigit():
            index = int(style)
            if index in self.dates or index in self.durations:
                from openpyxl.utils.datetime import from_excel

                try:
                    return from_excel(number, self.epoch, timedelta=index in self.durations)
                except (ValueError, OverflowError, TypeError):
                    return number
        return number


class _Workbook:
    """Where the first sheet, the shared strings and the styles are, and the date system."""

    def __init__(self, zf: zipfile.ZipFile):
        from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

        package = _relationships(zf, "")
        book = next((name for kind, name in package.values() if kind == "officeDocument"), "xl/workbook.xml")
        if book not in zf.NameToInfo:
            raise _unreadable("no workbook part")
        rels = _relationships(zf, book)
        sheets: list[str] = []
        flags = {"1904": False}

        def on_start(tag: str, attrib: dict) -> None:
            if tag == "sheet":
                rel = rels.get(attrib.get(f"{REL}}}id", ""))  # expat names it namespace}local
                if rel and rel[0] == "worksheet":
                    sheets.append(rel[1])
            elif tag == "workbookPr":
                flags["1904"] = attrib.get("date1904", "").lower() in ("1", "true")

        _parse(zf, book, _Collect(on_start), MAX_PART_BYTES)
        self.sheet = sheets[0] if sheets else None
        self.shared = next((name for kind, name in rels.values() if kind == "sharedStrings"), None)
        self.styles = next((name for kind, name in rels.values() if kind == "styles"), None)
        self.epoch = CALENDAR_MAC_1904 if flags["1904"] else CALENDAR_WINDOWS_1900


def _sheet_rows(data: bytes) -> Iterator[tuple[int, dict[int, Any], list[int]]]:
    """(row number, {column: value}, formula columns) for each row of the first sheet, as parsed."""
    with _open_zip(data) as zf:
        book = _Workbook(zf)
        if book.sheet is None or book.sheet not in zf.NameToInfo:
            raise FileInvalid("the workbook has no sheet", "工作簿中没有工作表。")
        shared = None
        if book.shared and book.shared in zf.NameToInfo:
            shared = SharedStrings()
            _parse(zf, book.shared, shared, MAX_STRINGS_BYTES)
        dates, durations = _date_styles(zf, book.styles)
        sheet = _Sheet(shared, dates, durations, book.epoch)
        info = zf.getinfo(book.sheet)
        _check_part(info, MAX_SHEET_BYTES)
        parser = _expat(sheet)
        # Fed chunk by chunk: the rows finished in each chunk are handed on before the next is read
        # (a generator cannot yield from inside the parser's callbacks).
        try:
            with zf.open(info) as fh:
                while chunk := fh.read(CHUNK):
                    try:
                        parser.Parse(chunk, False)
                    except _Stop:  # the end of <sheetData>: nothing after it matters
                        break
                    yield from sheet.ready
                    sheet.ready.clear()
                else:
                    parser.Parse(b"", True)
        except _Forbidden:
            raise _dtd(book.sheet) from None
        except expat.ExpatError as exc:
            raise _unreadable(f"{book.sheet}: {exc}") from None
        except _ZIP_ERRORS as exc:
            raise _unreadable(f"{book.sheet}: {exc.__class__.__name__}") from None
        yield from sheet.ready


_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row(?=[\s/>])([^<>]{0,4096})>")
_ROW_NUMBER = re.compile(rb"""\sr\s*=\s*["'](\d{1,12})["']""")


def count_rows(data: bytes) -> int:
    """The first sheet's highest row number, found by scanning its inflated bytes for row tags (no XML parse).

    Refuses the file (FileInvalid) as soon as a row number passes MAX_ROWS + 1, and any part beyond
    its limits: a 200,001-row workbook is refused in a second, before any row is parsed or validated.
    """
    with _open_zip(data) as zf:
        book = _Workbook(zf)
        if book.sheet is None or book.sheet not in zf.NameToInfo:
            raise FileInvalid("the workbook has no sheet", "工作簿中没有工作表。")
        info = zf.getinfo(book.sheet)
        _check_part(info, MAX_SHEET_BYTES)
        number, carry = 0, b""
        try:
            with zf.open(info) as fh:
                while chunk := fh.read(CHUNK * 16):
                    text = carry + chunk
                    cut = text.rfind(b"<")  # a tag cut by the chunk's end is scanned with the next chunk
                    cut = cut if cut >= 0 and len(text) - cut < 4096 else len(text)
                    for match in _ROW_TAG.finditer(text, 0, cut):
                        given = _ROW_NUMBER.search(match.group(1))
                        number = max(int(given.group(1)) if given else 0, number + 1)
                        if number > MAX_ROWS + 1:
                            raise too_many_rows(number)
                    carry = text[cut:]
        except _ZIP_ERRORS as exc:
            raise _unreadable(f"{book.sheet}: {exc.__class__.__name__}") from None
    return number


def read_rows(data: bytes) -> Iterator[RawRow]:
    """Rows of the first sheet; a cell holding a formula makes that row an error (values, not formulas)."""
    rows = _sheet_rows(data)
    first = next(rows, None)
    if first is None:
        raise FileInvalid(
            "the sheet is empty: the first row must hold the column headers", "工作表是空的：第一行应为列标题。"
        )
    number, cells, _ = first
    width = max(cells, default=0) if number == 1 else 0
    headers = [str(_cell_text(cells.get(col)) or "").strip() if cells.get(col) is not None else "" for col in
               range(1, width + 1)]  # fmt: skip
    if not any(headers):
        raise FileInvalid(
            "the first row of the sheet must hold the column headers (名称, 经度, 纬度 …)",
            "工作表的第一行应为列标题（名称、经度、纬度 …）。",
        )
    for number, cells, formula_cols in rows:
        raw: dict[str, Any] = {}
        formulas = []
        for col, header in enumerate(headers, start=1):
            if not header:
                continue
            value = cells.get(col)
            if col in formula_cols or (isinstance(value, str) and value.startswith("=") and len(value) > 1):
                formulas.append(header)
                continue
            raw[header] = _cell_text(value)
        if not any(v not in (None, "") for v in raw.values()) and not formulas:
            continue  # blank row
        if formulas:
            raw["__error__"] = f"cell(s) {', '.join(formulas)} hold a formula: paste values only (选择性粘贴 → 数值)"
            raw["__field__"] = formulas[0]
        yield number, raw


def _workbook_bytes(header: Iterable[str], rows: Iterable[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_TITLE
    ws.append(list(header))
    for row in rows:
        ws.append([neutralise_formula(v) if isinstance(v, str) else v for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write(stations: Sequence[Station], crs: CRS = CRS.WGS84) -> bytes:
    """One sheet, one row per station, the same columns as the CSV export; formulas neutralised."""
    return _workbook_bytes(export_headers(crs), (record_cells(s, crs) for s in stations))


def template() -> bytes:
    """The import template: Chinese headers and one example row."""
    return _workbook_bytes(TEMPLATE_HEADERS, [TEMPLATE_EXAMPLE])


FORMAT = Format(
    "xlsx",
    "Excel 工作簿",
    (".xlsx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    read_rows,
    write,
    template,
    any_crs=True,
    precheck=count_rows,
)
