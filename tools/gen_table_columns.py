#!/usr/bin/env python3
"""Print the column list of a CloudQuery table as trailsync catalog data.

Usage: tools/gen_table_columns.py aws_ec2_instances [more tables...]

Reads ../shared/reference/cloudquery-aws-tables.json (facts: names, types, keys) and prints the
`columns: &[...]` body to paste into a table declaration under crates/trailsync-catalog/src/tables/.
The _cq_* bookkeeping columns are added by the catalog itself and are skipped here.
"""
import json
import pathlib
import sys

REF = pathlib.Path(__file__).resolve().parents[2] / "shared/reference/cloudquery-aws-tables.json"
TYPES = {
    "utf8": "Text",
    "int64": "BigInt",
    "bool": "Boolean",
    "float64": "Double",
    "json": "Json",
    "timestamp[us, tz=UTC]": "Timestamp",
    "list<item: utf8, nullable>": "TextArray",
    "uuid": "Uuid",
}

tables = {t["name"]: t for t in json.loads(REF.read_text())["tables"]}
for name in sys.argv[1:]:
    t = tables[name]
    print(f"// {name}: primary key {t['primary_key']}")
    for c in t["columns"]:
        if c["name"].startswith("_cq_"):
            continue
        print(f'    col("{c["name"]}", {TYPES[c["type"]]}),')
