"""Read CSV text into rows of typed values."""

import csv
import io


def infer(cell):
    """'' -> None, '12' -> 12, '1.5' -> 1.5, anything else stays a string."""
    text = cell.strip()
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_rows(text):
    reader = csv.DictReader(io.StringIO(text))
    return [{k.strip(): infer(v or "") for k, v in row.items()} for row in reader]
