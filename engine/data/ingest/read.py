"""Reading a CSV or Parquet file (a table's rows or a raw event log) into a frame, and
matching its columns to the table's.

* Encoding: CSV files must be UTF-8 (a BOM is fine). Anything else is refused with the
  line of the first bad byte and how to re-save as UTF-8: guessing Windows-1252 or
  Latin-1 would load wrong customer names without a word.
* Delimiter: sniffed from the header among `,` `;` tab and `|` (whichever splits it
  into the most columns); a data row with more values than the header is refused with
  its row number. Blank lines are skipped and not counted.
* Extra file columns that are not part of the table are ignored and named in the
  report. `mapping` is {warehouse column: file column}; file column names match
  case-insensitively.

CSV cells come back as text (typing is engine.data.ingest.coerce's job); Parquet columns
keep their types.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from engine.data.ingest.names import guess_mapping
from engine.data.ingest.report import IngestError, Problem, file_problem, map_hint, refuse
from engine.data.ingest.specs import TableSpec

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "';'", "\t": "tab", "|": "'|'"}
SAVE_AS_CSV = "In Excel use Save As → 'CSV UTF-8 (Comma delimited)'."
PREVIEW_BYTES = 4 << 20  # a preview reads at most this much of a CSV file


@dataclass
class Read:
    """A file as read: its rows, notes for the report, and whether `1,234` may be a thousands group."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    thousands_ok: bool = True


def check_path(path: Path) -> str:
    """The file's lower-case suffix, once it is an existing, non-empty CSV/Parquet file."""
    if not path.exists():
        raise refuse(
            "",
            path.name,
            file_problem(f"file not found: {path}.", f"Check the path (relative paths start at {Path.cwd()})."),
        )
    if path.is_dir():
        raise refuse("", path.name, file_problem(f"{path} is a folder.", "Give the path of a .csv or .parquet file."))
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        fix = f"Only CSV ({', '.join(CSV_SUFFIXES)}) and Parquet ({', '.join(PARQUET_SUFFIXES)}) files can be loaded."
        if suffix in (".xlsx", ".xls"):
            fix += " Excel workbooks: use Save As → 'CSV UTF-8 (Comma delimited)'."
        raise refuse("", path.name, file_problem(f"'{path.name}' has the extension '{suffix or '(none)'}'.", fix))
    if path.stat().st_size == 0:
        raise refuse("", path.name, file_problem(f"{path.name} is empty (0 bytes): there is nothing to load."))
    return suffix


def read_file(path: Path, nrows: int | None = None) -> Read:
    """The rows of a CSV/Parquet file (the first `nrows` when given); refuses unreadable files."""
    path = Path(path)
    suffix = check_path(path)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, nrows)
    if nrows is not None:
        with path.open("rb") as handle:
            data = handle.read(PREVIEW_BYTES)
        if len(data) == PREVIEW_BYTES and b"\n" in data:
            data = data[: data.rindex(b"\n") + 1]
    else:
        data = path.read_bytes()
    return read_csv_bytes(data, path.name, nrows)


def _read_parquet(path: Path, nrows: int | None) -> Read:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a bad file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise refuse(
            "",
            path.name,
            file_problem(
                f"{path.name} could not be read as Parquet ({first}).",
                "Check that it is a Parquet file, or save the data as CSV UTF-8.",
            ),
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return Read(frame.head(nrows) if nrows is not None else frame)


def read_csv_bytes(data: bytes, name: str, nrows: int | None = None) -> Read:
    """CSV bytes as a frame of text cells, after the encoding, header and shape checks."""

    def refused(message: str, fix: str = "") -> IngestError:
        return refuse("", name, file_problem(message, fix))

    text = _decoded(data, name)
    first_line = text.lstrip("\r\n").split("\n", 1)[0].rstrip("\r")
    delimiter, header = ",", [first_line]
    for candidate in DELIMITERS:
        fields = next(csv.reader([first_line], delimiter=candidate))
        if len(fields) > len(header):
            delimiter, header = candidate, fields
    header = [h.strip() for h in header]
    seen: dict[str, int] = {}
    for i, col in enumerate(header, start=1):
        if col.lower() in seen and col:
            raise refused(
                f"the header names column '{col}' twice (columns {seen[col.lower()]} and {i}).",
                "Rename or remove one of them.",
            )
        seen[col.lower()] = i
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            encoding="utf-8-sig",
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            nrows=nrows,
            engine="c",
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError:
        raise refused(f"{name} has no header row: there is nothing to load.") from None
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            expected, line, saw = found.groups()
            sep = DELIMITER_NAMES[delimiter]
            problem = Problem(
                row=int(line),
                message=f"has {saw} values but the header has {expected} columns ({sep}-separated)",
                fix=f"a value probably contains an unquoted {sep}: put such values in double quotes, or fix the row",
            )
            raise refuse("", name, problem) from None
        raise refused(f"{name} could not be read as CSV: {str(exc).strip().splitlines()[0]}") from None
    frame.columns = header if len(header) == frame.shape[1] else [str(c).strip() for c in frame.columns]
    notes = [] if delimiter == "," else [f"read as {DELIMITER_NAMES[delimiter]}-separated"]
    return Read(frame, notes, thousands_ok=delimiter == ",")


def _decoded(data: bytes, name: str) -> str:
    """The file's text, once it is UTF-8 text with something in it."""

    def refused(message: str, fix: str = "") -> IngestError:
        return refuse("", name, file_problem(message, fix))

    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise refused(f"{name} is UTF-16 text (Excel's 'Unicode Text').", "Save it as 'CSV UTF-8 (Comma delimited)'.")
    if data[:4] == b"PK\x03\x04":
        raise refused(f"{name} is an Excel workbook or zip archive, not CSV text.", SAVE_AS_CSV)
    if data[:4] == b"PAR1":
        raise refused(f"{name} is a Parquet file.", "Give it the extension .parquet.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        end = data.find(b"\n", exc.start)
        snippet = data[start : end if end >= 0 else len(data)].decode("utf-8", "replace").strip()[:80]
        raise refused(
            f"{name} is not UTF-8 text: line {line} has the byte 0x{data[exc.start]:02X}, which UTF-8 does not "
            f'allow (near "{snippet}"; the file was probably saved as Windows-1252/Latin-1).',
            "Save it as UTF-8 (Excel: Save As → 'CSV UTF-8 (Comma delimited)'; LibreOffice: character set "
            "'Unicode (UTF-8)') and load it again.",
        ) from None
    if "\x00" in text:
        raise refused(f"{name} contains NUL bytes: it is a binary file, not CSV text.")
    if not text or text.isspace():
        raise refused(f"{name} is empty (only blank lines): there is nothing to load.")
    return text


@contextlib.contextmanager
def private_upload(name: str, data: bytes) -> Iterator[Path]:
    """A private copy of uploaded bytes for the path-based readers, deleted on exit.

    Uploads hold customer data, so the copy lives in a fresh folder only this user can
    open (mode 0700, from `tempfile.mkdtemp`) as a file only this user can read (0600),
    under the upload's own name (messages name the file the person knows). The folder is
    removed when the block ends, however it ends (an error, `st.stop`, `st.rerun`).
    """
    base = Path(str(name).replace("\\", "/")).name.strip()
    if base in ("", ".", ".."):
        base = "upload"
    folder = Path(tempfile.mkdtemp(prefix="radar_upload_"))
    try:
        path = folder / base
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def preview_file(path: str | Path, n: int = 20) -> pd.DataFrame:
    """The first `n` rows of a CSV/Parquet file, read exactly as `load_file` reads it.

    No validation: CSV cells come back as text. Unreadable files raise `IngestError`.
    """
    return read_file(Path(path), nrows=max(int(n), 0)).frame.head(n)


# -- column resolution ---------------------------------------------------------------------
def resolve_columns(
    spec: TableSpec, file_columns: list[str], mapping: Mapping[str, str]
) -> tuple[dict[str, str], list[str], list[Problem]]:
    """Which file column feeds each table column; returns (sources, ignored, problems).

    `mapping` is {table column: file column}; file column names match case-insensitively.
    """
    problems: list[Problem] = []
    exact = set(file_columns)
    lower: dict[str, str] = {}
    for name in file_columns:
        lower.setdefault(name.lower(), name)

    def find(name: str) -> str | None:
        return name if name in exact else lower.get(name.strip().lower())

    found_list = ", ".join(f"'{c}'" for c in file_columns) or "(none)"
    sources: dict[str, str] = {}
    for dst, src in mapping.items():
        source = find(src)
        if dst not in spec.names:
            problems.append(
                file_problem(
                    f"The column mapping {dst}={src}: {spec.name} has no column '{dst}'.",
                    f"Its columns are: {', '.join(spec.names)}.",
                )
            )
        elif source is None:
            problems.append(
                file_problem(
                    f"The column mapping {dst}={src}: the file has no column '{src}'.", f"Columns found: {found_list}."
                )
            )
        else:
            sources[dst] = source
    missing = []
    for col in spec.columns:
        if col.name in mapping:
            continue
        source = find(col.name)
        if source is not None:
            sources[col.name] = source
        elif col.required:
            missing.append(col.name)
    if missing:
        plural = "s" if len(missing) > 1 else ""
        guesses = {m: g for m, g in guess_mapping(spec, file_columns).items() if m in missing}
        if guesses:  # "the file's 'account_id' looks like customer_id": the fix in the file's own names
            looks = " and ".join(f"'{src}' like {dst}" for dst, src in guesses.items()).replace(
                " like ", " looks like ", 1
            )
            maps = " ".join(f"--map {dst}={src}" for dst, src in guesses.items())
            fix = (
                f"The file's {looks}: pick {'them' if len(guesses) > 1 else 'it'} under Columns on the Data page "
                f"(command line: {maps})."
            )
        else:
            fix = f"If the file names a column differently, {map_hint(missing[0])}."
        if len(file_columns) == 1:
            fix += " Only one column was found: check that the values are separated by commas."
        problems.append(
            file_problem(
                f"missing required column{plural} {', '.join(missing)}. Columns found in the file: {found_list}.", fix
            )
        )
    used = set(sources.values())
    ignored = [c for c in file_columns if c not in used and c]  # an empty trailing header cell is noise
    return sources, ignored, problems
