"""Independent readers for the Parquet outputs of ratings-stream (pyarrow and DuckDB).

Usage: read_datasets.py BASE_DIR EXPECTED_JSON

EXPECTED_JSON maps each dataset folder (relative to BASE_DIR) to the rows expected per
`date=…/hour=…` partition, e.g. {"streams/ratings/raw": {"2025-10-29/19": 1200}}. Exits non-zero,
saying why, when a dataset cannot be read with Hive partitioning, has other column types, or
other row counts per partition.
"""

import json
import sys

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

TS = pa.timestamp("us", tz="UTC")
RAW = {"userId": pa.int32(), "movieId": pa.int32(), "rating": pa.float64(), "timestamp": pa.int64(), "event_time": TS}
AGG = {
    "window_start": TS,
    "window_end": TS,
    "window_type": pa.string(),
    "count": pa.int64(),
    "avg_rating": pa.float64(),
    "p50_rating": pa.float64(),
    "p95_rating": pa.float64(),
    "processing_time": TS,
}


def check_pyarrow(path, columns, expected):
    dataset = ds.dataset(path, format="parquet", partitioning="hive")
    table = dataset.to_table()
    for name, kind in columns.items():
        actual = table.schema.field(name).type
        assert actual == kind, f"{path}: column {name} is {actual}, expected {kind}"
    if "top_movies" in table.schema.names:
        top = table.schema.field("top_movies").type
        assert pa.types.is_list(top) and pa.types.is_struct(top.value_type), f"top_movies is {top}"
        assert [f.name for f in top.value_type] == ["movieId", "title", "count", "avg_rating"], top
        genres = table.schema.field("metrics_by_genre").type
        assert [f.name for f in genres.value_type] == ["genre", "count", "avg_rating"], genres
    counts = {}
    for date, hour in zip(table.column("date").to_pylist(), table.column("hour").to_pylist()):
        key = f"{date}/{int(hour):02d}"
        counts[key] = counts.get(key, 0) + 1
    assert counts == expected, f"{path}: pyarrow rows per partition {counts}, expected {expected}"
    return table.num_rows


def check_duckdb(path, expected):
    query = (
        f"SELECT date::VARCHAR AS d, hour, count(*) FROM read_parquet('{path}/**/*.parquet', hive_partitioning = true) "
        "GROUP BY ALL"
    )
    counts = {f"{d}/{int(h):02d}": n for d, h, n in duckdb.sql(query).fetchall()}
    assert counts == expected, f"{path}: DuckDB rows per partition {counts}, expected {expected}"


def main():
    base, expected = sys.argv[1], json.loads(sys.argv[2])
    for folder, partitions in expected.items():
        path = f"{base}/{folder}"
        columns = RAW if folder.endswith("raw") else AGG
        rows = check_pyarrow(path, columns, partitions)
        check_duckdb(path, partitions)
        print(f"ok {folder}: {rows} rows in {len(partitions)} partitions (pyarrow {pa.__version__}, duckdb {duckdb.__version__})")


if __name__ == "__main__":
    main()
