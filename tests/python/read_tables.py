"""Reads snni's tables with tools other than snni, and prints what they saw as JSON lines.

    python read_tables.py parquet FILE...   # pyarrow: rows, column names and Arrow types
    python read_tables.py csv FILE...       # Python's csv module: header and row widths

Used by tests/tests/report.rs, which compares the output with what snni wrote.
"""

import csv
import json
import sys

import pyarrow.parquet as pq


def parquet(paths):
    for path in paths:
        table = pq.read_table(path)  # decodes every column, not just the footer
        print(json.dumps({
            "path": path,
            "rows": table.num_rows,
            "columns": [[field.name, str(field.type)] for field in table.schema],
        }))


def csv_files(paths):
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f, strict=True))
        print(json.dumps({
            "path": path,
            "header": rows[0] if rows else [],
            "widths": sorted({len(r) for r in rows[1:]}),
            "rows": len(rows) - 1,
        }))


if __name__ == "__main__":
    {"parquet": parquet, "csv": csv_files}[sys.argv[1]](sys.argv[2:])
