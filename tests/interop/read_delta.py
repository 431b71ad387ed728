"""Independent readers for the Delta tables of ratings-stream: delta-rs's Python package
(`deltalake`) or Spark with delta-spark.

Usage: read_delta.py deltalake|spark BASE EXPECTED_JSON
       read_delta.py deltalake-loop BASE EXPECTED_JSON STOP_FILE

EXPECTED_JSON maps each table folder (relative to BASE, a local folder or a URL) to what a
reader must see: {"streams/ratings/raw": {"partitions": {"2025-10-29/19": 1200, ...},
"versions": {"3": 500}}} — the rows per `date/hour` partition of the latest version, and the
rows of earlier versions (time travel: versionAsOf). Exits non-zero, saying why, when a table
cannot be read or a count differs; prints `ok <table>` for each table that matches.
`deltalake-loop` reads the latest version of every table over and over (while the tables are
being compacted) until STOP_FILE exists, each read checked; it prints how many it made.
"""

import json
import os
import sys

# delta-spark built for the Spark of bench/spark/env.sh (4.1)
DELTA_SPARK = "io.delta:delta-spark_2.13:4.1.0"


def partition_key(date, hour):
    return f"{date}/{int(hour):02d}"


def read_deltalake(base, tables):
    from deltalake import DeltaTable

    for folder, expected in tables.items():
        table = DeltaTable(f"{base}/{folder}")
        data = table.to_pyarrow_table(columns=["date", "hour"])
        counts = {}
        for date, hour in zip(data.column("date").to_pylist(), data.column("hour").to_pylist()):
            key = partition_key(date, hour)
            counts[key] = counts.get(key, 0) + 1
        check(folder, "deltalake", counts, expected["partitions"])
        for version, rows in expected.get("versions", {}).items():
            old = DeltaTable(f"{base}/{folder}", version=int(version))
            check(folder, f"deltalake version {version}", old.to_pyarrow_table(columns=["hour"]).num_rows, rows)
        print(f"ok {folder}")


def read_deltalake_loop(base, tables, stop_file):
    from deltalake import DeltaTable

    reads = 0
    while True:
        stopping = os.path.exists(stop_file)
        for folder, expected in tables.items():
            data = DeltaTable(f"{base}/{folder}").to_pyarrow_table(columns=["hour"])
            check(folder, f"deltalake read {reads}", data.num_rows, sum(expected["partitions"].values()))
            reads += 1
        if stopping:
            break
    print(f"ok {reads} reads")


def read_spark(base, tables):
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("ratings-stream delta interop")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.jars.packages", os.environ.get("DELTA_SPARK_PACKAGES", DELTA_SPARK))
        .config("spark.jars.ivy", os.environ["SPARK_IVY"])
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        for folder, expected in tables.items():
            path = f"{base}/{folder}"
            rows = spark.read.format("delta").load(path).groupBy("date", "hour").count().collect()
            counts = {partition_key(r["date"], r["hour"]): r["count"] for r in rows}
            check(folder, "spark", counts, expected["partitions"])
            for version, count in expected.get("versions", {}).items():
                old = spark.read.format("delta").option("versionAsOf", int(version)).load(path)
                check(folder, f"spark versionAsOf {version}", old.count(), count)
            print(f"ok {folder}")
    finally:
        spark.stop()


def check(folder, reader, actual, expected):
    if actual != expected:
        print(f"{folder}: {reader} sees {actual}, expected {expected}", file=sys.stderr)
        leave(1)


def leave(status):
    """Exits at once: deltalake's native threads may still run while the interpreter shuts
    down, which now and then ends the process with "terminate called without an active
    exception" after everything was read and checked."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def main():
    reader, base, expected = sys.argv[1], sys.argv[2].rstrip("/"), json.loads(sys.argv[3])
    if reader == "deltalake-loop":
        read_deltalake_loop(base, expected, sys.argv[4])
    else:
        {"deltalake": read_deltalake, "spark": read_spark}[reader](base, expected)
    leave(0)


if __name__ == "__main__":
    main()
