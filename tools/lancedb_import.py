#!/usr/bin/env python3
"""Import a `conan embed --out DIR` Parquet dataset into LanceDB and search it.

    .venv/bin/python tools/lancedb_import.py DIR DB [--table NAME] [--query-id N] [--top K]

pyarrow reads every whole part of DIR (files starting with "_" or "." are skipped: the run's
metadata and an unfinished part); the vector column comes back as fixed_size_list<float32>,
the type LanceDB searches. The table is created (or replaced) in the LanceDB folder DB, then
searched with the vector of row --query-id; the hits print as JSON lines {id, text, distance},
after one line {"rows": N, "dims": D}.
"""
import argparse
import json

import lancedb
import pyarrow.dataset as ds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir", help="the folder `conan embed --out` wrote")
    p.add_argument("db", help="a LanceDB folder (created if missing)")
    p.add_argument("--table", default="conan")
    p.add_argument("--query-id", type=int, default=0)
    p.add_argument("--top", type=int, default=5)
    args = p.parse_args()

    data = ds.dataset(args.dir, format="parquet").to_table()
    dims = data.schema.field("vector").type.list_size
    db = lancedb.connect(args.db)
    table = db.create_table(args.table, data=data, mode="overwrite")
    print(json.dumps({"rows": table.count_rows(), "dims": dims}))

    rows = data.filter(ds.field("id") == args.query_id).to_pylist()
    if not rows:
        raise SystemExit(f"no row has id {args.query_id}")
    for hit in table.search(rows[0]["vector"]).limit(args.top).to_list():
        print(json.dumps({"id": hit["id"], "text": hit["text"], "distance": hit["_distance"]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
