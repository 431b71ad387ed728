"""The seed's Spark Structured Streaming job, as the reference ratings-stream is compared with.

Kafka topic of JSON ratings -> 10-minute watermark -> tumbling 1-minute and sliding
5-minute/1-minute windows with count, avg, percentile_approx p50/p95, the top-N movies and
per-genre metrics (a stream-static join with MovieLens movies.csv) -> raw and aggregate Parquet
(Hive-partitioned date=/hour=) and one JSON object per window on a Kafka metrics topic.

Run by bench/spark/compare.sh and bench/spark/cost.sh; see --help. Spark runs local[2]; the
Kafka connector comes from Maven Central (spark.jars.packages) and is cached in .cache/spark/ivy.
"""

import argparse
import json
import os
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

RATING_SCHEMA = T.StructType(
    [
        T.StructField("userId", T.LongType()),
        T.StructField("movieId", T.LongType()),
        T.StructField("rating", T.DoubleType()),
        T.StructField("timestamp", T.LongType()),
    ]
)

TOP_MOVIE = T.StructType(
    [
        T.StructField("movieId", T.IntegerType()),
        T.StructField("title", T.StringType()),
        T.StructField("count", T.LongType()),
        T.StructField("avg_rating", T.DoubleType()),
    ]
)
GENRE = T.StructType(
    [
        T.StructField("genre", T.StringType()),
        T.StructField("count", T.LongType()),
        T.StructField("avg_rating", T.DoubleType()),
    ]
)


def arguments():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", default="ratings")
    p.add_argument("--metrics-topic", default="metrics")
    p.add_argument("--output", required=True, help="folder of the Parquet outputs and checkpoints")
    p.add_argument("--movies", required=True, help="MovieLens movies.csv")
    p.add_argument("--top-n", type=int, default=10)
    p.add_argument(
        "--available-now",
        action="store_true",
        help="process what the topic holds, then stop (Trigger.AvailableNow)",
    )
    p.add_argument("--spark-version", default=os.environ.get("SPARK_VERSION", "4.1.1"))
    p.add_argument("--ivy", default=".cache/spark/ivy")
    p.add_argument("--started-file", help="write the time the first record was processed here")
    return p.parse_args()


def session(args):
    return (
        SparkSession.builder.master("local[2]")
        .appName("ratings-stream-reference")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config(
            "spark.jars.packages",
            f"org.apache.spark:spark-sql-kafka-0-10_2.13:{args.spark_version}",
        )
        .config("spark.jars.ivy", os.path.abspath(args.ivy))
        .getOrCreate()
    )


def movies(spark, path):
    """movieId, title, genres (array; '(no genres listed)' is none)."""
    frame = spark.read.option("header", True).option("quote", '"').option("escape", '"').csv(path)
    genres = F.when(F.col("genres") == "(no genres listed)", F.array().cast("array<string>"))
    return frame.select(
        F.col("movieId").cast("long").alias("movieId"),
        F.trim(F.col("title")).alias("title"),
        genres.otherwise(F.split(F.col("genres"), r"\|")).alias("genres"),
    )


def ratings(spark, args):
    raw = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", args.bootstrap)
        .option("subscribe", args.topic)
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "false")
        .load()
    )
    parsed = raw.select(F.from_json(F.col("value").cast("string"), RATING_SCHEMA).alias("r"))
    valid = (
        (F.col("userId") > 0)
        & (F.col("movieId") > 0)
        & F.col("rating").between(0.5, 5.0)
        & F.col("timestamp").isNotNull()
    )
    return (
        parsed.select("r.*")
        .where(valid)
        .withColumn("event_time", F.timestamp_seconds("timestamp"))
    )


def top_and_genres(top_n):
    """A UDF: (movieId, title, rating, genres) of a window -> top movies, metrics by genre."""

    @F.udf(
        T.StructType(
            [
                T.StructField("top_movies", T.ArrayType(TOP_MOVIE)),
                T.StructField("metrics_by_genre", T.ArrayType(GENRE)),
            ]
        )
    )
    def summarize(items):
        movies, genres = {}, {}
        for movie_id, title, rating, movie_genres in items:
            entry = movies.setdefault(movie_id, [title, 0, 0.0])
            entry[1] += 1
            entry[2] += rating
            for genre in movie_genres or []:
                g = genres.setdefault(genre, [0, 0.0])
                g[0] += 1
                g[1] += rating
        top = sorted(movies.items(), key=lambda kv: (-kv[1][1], kv[0]))[:top_n]
        by_genre = sorted(genres.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return (
            [(int(m), t, c, s / c) for m, (t, c, s) in top],
            [(g, c, s / c) for g, (c, s) in by_genre],
        )

    return summarize


def aggregate(joined, window, name, top_n):
    summarize = top_and_genres(top_n)
    items = F.struct("movieId", "title", "rating", "genres")
    return (
        joined.groupBy(window.alias("w"))
        .agg(
            F.count(F.lit(1)).alias("count"),
            F.avg("rating").alias("avg_rating"),
            F.percentile_approx("rating", F.array(F.lit(0.5), F.lit(0.95))).alias("p"),
            F.collect_list(items).alias("items"),
        )
        .select(
            F.col("w.start").alias("window_start"),
            F.col("w.end").alias("window_end"),
            F.lit(name).alias("window_type"),
            "count",
            "avg_rating",
            F.col("p")[0].alias("p50_rating"),
            F.col("p")[1].alias("p95_rating"),
            summarize("items").alias("s"),
        )
        .select("*", "s.top_movies", "s.metrics_by_genre")
        .drop("s")
        .withColumn("processing_time", F.current_timestamp())
    )


def partitioned(frame, column):
    return frame.withColumn("date", F.date_format(column, "yyyy-MM-dd")).withColumn(
        "hour", F.date_format(column, "HH")
    )


def sink_windows(args, root):
    """foreachBatch: the batch's final windows to Parquet and to the metrics topic."""

    def write(batch, _batch_id):
        batch.persist()
        partitioned(batch, "window_start").write.mode("append").partitionBy("date", "hour").parquet(
            os.path.join(args.output, root)
        )
        batch.select(F.to_json(F.struct(*batch.columns)).alias("value")).write.format("kafka").option(
            "kafka.bootstrap.servers", args.bootstrap
        ).option("topic", args.metrics_topic).save()
        batch.unpersist()

    return write


def start(writer, args, name):
    writer = writer.option("checkpointLocation", os.path.join(args.output, "_checkpoints", name))
    if args.available_now:
        writer = writer.trigger(availableNow=True)
    return writer.queryName(name).start()


def main():
    args = arguments()
    spark = session(args)
    spark.sparkContext.setLogLevel("WARN")
    catalog = F.broadcast(movies(spark, args.movies))
    stream = ratings(spark, args)
    joined = stream.join(catalog, "movieId", "left").withWatermark("event_time", "10 minutes")
    queries = [
        start(
            partitioned(stream, "event_time")
            .select("userId", "movieId", "rating", "timestamp", "event_time", "date", "hour")
            .writeStream.format("parquet")
            .partitionBy("date", "hour")
            .option("path", os.path.join(args.output, "streams/ratings/raw")),
            args,
            "raw",
        )
    ]
    for name, window, root in [
        ("tumbling_1min", F.window("event_time", "1 minute"), "streams/ratings/agg/tumbling"),
        (
            "sliding_5min_1min",
            F.window("event_time", "5 minutes", "1 minute"),
            "streams/ratings/agg/sliding",
        ),
    ]:
        frame = aggregate(joined, window, name, args.top_n)
        queries.append(
            start(
                frame.writeStream.outputMode("append").foreachBatch(sink_windows(args, root)),
                args,
                name,
            )
        )
    if args.started_file:
        wait_for_first_rows(queries, args.started_file)
    for query in queries:
        query.awaitTermination()
    rows = sum(p["numInputRows"] for q in queries[:1] for p in q.recentProgress)
    print(json.dumps({"spark": spark.version, "raw_rows_last_progresses": rows}), file=sys.stderr)
    spark.stop()


def wait_for_first_rows(queries, path):
    """Records when a query first reports processed input rows."""
    while True:
        if any(p["numInputRows"] > 0 for q in queries for p in q.recentProgress):
            with open(path, "w") as out:
                out.write(f"{time.time():.3f}\n")
            return
        if all(not q.isActive for q in queries):
            return
        time.sleep(0.05)


if __name__ == "__main__":
    main()
