"""Files per hour of the Delta tables under a local storage folder, from their logs: how many
files the stream added to each hour (dataChange=true) and how many the latest version holds (after
compaction). Prints one line per table and one for the hours compacted so far.
Usage: python3 scripts/lib/delta_files.py STORAGE_FOLDER
"""

import json
import os
import statistics
import sys

TABLES = ["streams/ratings/raw", "streams/ratings/agg/tumbling", "streams/ratings/agg/sliding"]


def replay(log_dir):
    """(files the stream added per hour, live files per hour) from every JSON commit."""
    added, live = {}, {}
    commits = sorted(f for f in os.listdir(log_dir) if f.endswith(".json"))
    for name in commits:
        with open(os.path.join(log_dir, name)) as commit:
            for line in commit:
                action = json.loads(line)
                if "add" in action:
                    add = action["add"]
                    hour = (add["partitionValues"]["date"], add["partitionValues"]["hour"])
                    live.setdefault(hour, set()).add(add["path"])
                    if add.get("dataChange", True):
                        added[hour] = added.get(hour, 0) + 1
                elif "remove" in action:
                    remove = action["remove"]
                    for files in live.values():
                        files.discard(remove["path"])
    return added, {hour: len(files) for hour, files in live.items()}, len(commits)


def main():
    root = sys.argv[1]
    for table in TABLES:
        log_dir = os.path.join(root, table, "_delta_log")
        if not os.path.isdir(log_dir):
            print(f"{table}: no Delta log")
            continue
        added, live, versions = replay(log_dir)
        compacted = [h for h in added if live.get(h, 0) < added[h]]
        line = f"{table}: {versions} versions, {len(added)} hours"
        if compacted:
            before = [added[h] for h in compacted]
            after = [live[h] for h in compacted]
            line += (
                f"; {len(compacted)} compacted: files per hour {min(before)}–{max(before)}"
                f" (median {statistics.median(before):g}) → {min(after)}–{max(after)}"
            )
        open_hours = [h for h in added if h not in compacted]
        if open_hours:
            line += f"; not compacted: {', '.join(f'{d} {h}: {added[(d, h)]}' for d, h in sorted(open_hours))}"
        print(line)


if __name__ == "__main__":
    main()
