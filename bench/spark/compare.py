"""Compares the window results of ratings-stream and Spark field by field and prints a table.

Usage: python3 compare.py OURS.jsonl SPARK.jsonl   (one JSON window per line, as on `metrics`)
Exit status 0 when every window present on both sides is identical in every compared field.
"""

import json
import sys
from datetime import datetime


def epoch(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def load(path):
    windows = {}
    with open(path) as lines:
        for line in lines:
            if not line.strip():
                continue
            w = json.loads(line)
            key = (w["window_type"], epoch(w["window_start"]))
            if key in windows:
                windows.setdefault(("duplicate",) + key, 0)
            windows[key] = w
    return windows


def top(w):
    return [(m["movieId"], m["title"], m["count"], m["avg_rating"]) for m in w["top_movies"] or []]


def genres(w):
    return [(g["genre"], g["count"], g["avg_rating"]) for g in w["metrics_by_genre"] or []]


FIELDS = {
    "window_end": lambda w: epoch(w["window_end"]),
    "count": lambda w: w["count"],
    "avg_rating": lambda w: w["avg_rating"],
    "p50_rating": lambda w: w["p50_rating"],
    "p95_rating": lambda w: w["p95_rating"],
    "top_movies (ids, titles, counts, avgs)": top,
    "metrics_by_genre (genres, counts, avgs)": genres,
}


def main():
    ours, spark = load(sys.argv[1]), load(sys.argv[2])
    both = sorted(set(ours) & set(spark))
    only_ours = sorted(set(ours) - set(spark))
    only_spark = sorted(set(spark) - set(ours))
    print(f"windows: ratings-stream {len(ours)}, Spark {len(spark)}, on both {len(both)}")
    print(f"  only in ratings-stream: {len(only_ours)} {only_ours[:3]}")
    print(f"  only in Spark:          {len(only_spark)} {only_spark[:3]}")
    print(f"{'field':42} {'identical':>10} {'differ':>7}")
    failed = bool(only_ours or only_spark)
    for name, get in FIELDS.items():
        differ = [k for k in both if get(ours[k]) != get(spark[k])]
        print(f"{name:42} {len(both) - len(differ):>10} {len(differ):>7}")
        for key in differ[:3]:
            print(f"    {key}: ratings-stream {get(ours[key])!r:.200}")
            print(f"    {' ' * len(str(key))}  Spark          {get(spark[key])!r:.200}")
        failed |= bool(differ)
    identical = sum(all(get(ours[k]) == get(spark[k]) for get in FIELDS.values()) for k in both)
    print(f"identical windows: {identical} of {len(both)} ({100 * identical / max(1, len(both)):.2f}%)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
