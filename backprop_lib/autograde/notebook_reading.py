"""Read a submitted notebook leniently, repairing what can be repaired.

Learners' notebooks arrive mangled: edited by hand, merged badly, saved by an old
Jupyter, with cells deleted, duplicated or moved, ids and metadata missing. Only the
code of the cells matters to the autograder (outputs, metadata and execution counts are
ignored: nothing in them is trusted), so this reader keeps going wherever it can and
says what it repaired:

- a UTF-8 byte-order mark, control characters inside strings, and text after the
  notebook's JSON object are tolerated;
- nbformat 3 notebooks (``worksheets``, ``input``) are read like version 4;
- ``source`` may be a string or a list of strings;
- a cell without ``cell_type`` counts as code if it has outputs or an execution count;
- cells that are not JSON objects, and missing or duplicated ids, are noted.

What cannot be read (not JSON at all, no list of cells) gives a :class:`ReadNotebook`
with ``error`` set and no cells; it never raises for the file's content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Cell", "ReadNotebook", "read_notebook", "parse_notebook", "MAX_NOTEBOOK_BYTES"]

#: Larger files are not read (a notebook full of images is a few MB).
MAX_NOTEBOOK_BYTES = 64 * 2**20


@dataclass
class Cell:
    """One cell of a submitted notebook.

    Attributes
    ----------
    index : int
        Position in the submission, from 0.
    cell_type : str
        ``"code"``, ``"markdown"`` or ``"raw"``.
    source : str
        The cell's text.
    cell_id : str or None
        The nbformat cell id, if it has one.
    """

    index: int
    cell_type: str
    source: str
    cell_id: str | None = None

    @property
    def label(self):
        """How messages name the cell: ``"cell 7 (id 3b1572f49d78)"``."""
        return f"cell {self.index + 1}" + (f" (id {self.cell_id})" if self.cell_id else "")


@dataclass
class ReadNotebook:
    """The readable part of a notebook.

    Attributes
    ----------
    cells : list of Cell
    repairs : list of str
        What was wrong with the file and how it was read anyway.
    error : str or None
        Why nothing could be read, or None.
    """

    cells: list = field(default_factory=list)
    repairs: list = field(default_factory=list)
    error: str | None = None

    @property
    def code_cells(self):
        return [c for c in self.cells if c.cell_type == "code"]


def read_notebook(path, max_bytes=MAX_NOTEBOOK_BYTES):
    """Read the notebook file at `path` (see the module docstring)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return ReadNotebook(error=f"the file is {size / 2**20:.0f} MB, more than the "
                                      f"{max_bytes / 2**20:.0f} MB a notebook may have")
        data = path.read_bytes()
    except OSError as exc:
        return ReadNotebook(error=f"the file could not be read ({exc.strerror or exc})")
    return parse_notebook(data)


def _decode_text(data, repairs):
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        repairs.append("removed a byte-order mark at the start of the file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        repairs.append("the file is not valid UTF-8; unreadable characters were replaced")
        return data.decode("utf-8", errors="replace")


def _load_json(text, repairs):
    """The JSON object in `text`, or (None, why)."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        first_error = exc
    try:
        value = json.loads(text, strict=False)
        repairs.append("control characters inside strings were accepted")
        return value, None
    except json.JSONDecodeError:
        pass
    try:
        start = text.index("{")
        value, end = json.JSONDecoder(strict=False).raw_decode(text, start)
        repairs.append(f"ignored {len(text) - end} characters after the notebook's JSON")
        return value, None
    except (ValueError, json.JSONDecodeError):
        pass
    return None, (f"the file is not a notebook: its JSON is invalid ({first_error.msg} at "
                  f"line {first_error.lineno}, column {first_error.colno})")


def _text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(v if isinstance(v, str) else str(v) for v in value)
    return "" if value is None else str(value)


def parse_notebook(data):
    """Parse notebook bytes or text; see the module docstring.

    Parameters
    ----------
    data : bytes or str

    Returns
    -------
    ReadNotebook
    """
    repairs = []
    text = _decode_text(data, repairs) if isinstance(data, bytes) else data
    document, error = _load_json(text, repairs)
    if error:
        return ReadNotebook(repairs=repairs, error=error)
    if not isinstance(document, dict):
        return ReadNotebook(repairs=repairs, error="the file is JSON but not a notebook "
                                                   f"(a {type(document).__name__} at the top)")
    raw_cells = document.get("cells")
    if raw_cells is None and isinstance(document.get("worksheets"), list):
        raw_cells = [c for sheet in document["worksheets"] if isinstance(sheet, dict)
                     for c in sheet.get("cells") or []]
        repairs.append("read an nbformat 3 notebook (worksheets)")
    if not isinstance(raw_cells, list):
        return ReadNotebook(repairs=repairs, error="the file is JSON but has no list of cells")
    cells, skipped, no_id, ids = [], 0, 0, {}
    for raw in raw_cells:
        if not isinstance(raw, dict):
            skipped += 1
            continue
        cell_type = raw.get("cell_type")
        if cell_type not in ("code", "markdown", "raw"):
            cell_type = "code" if ("outputs" in raw or "execution_count" in raw
                                   or "input" in raw) else "markdown"
            repairs.append(f"cell {len(cells) + 1} had no valid cell_type; read as {cell_type}")
        source = _text(raw.get("source", raw.get("input")))
        cell_id = raw.get("id") if isinstance(raw.get("id"), str) and raw.get("id") else None
        if cell_id is None:
            no_id += 1
        else:
            ids[cell_id] = ids.get(cell_id, 0) + 1
        cells.append(Cell(index=len(cells), cell_type=cell_type, source=source,
                          cell_id=cell_id))
    if skipped:
        repairs.append(f"skipped {skipped} cell(s) that were not JSON objects")
    if no_id:
        repairs.append(f"{no_id} cell(s) have no id")
    repeated = sorted(i for i, n in ids.items() if n > 1)
    if repeated:
        repairs.append(f"{len(repeated)} cell id(s) appear more than once "
                       "(duplicated cells are all run, in order)")
    return ReadNotebook(cells=cells, repairs=repairs)
