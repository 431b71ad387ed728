"""The epochs' commit phases from a processor's debug log (`RUST_LOG=ratings_runtime::delivery=debug`):
sealing, the Kafka steps, and finalizing (data files moved into place, the Delta commits, the
markers), each as p50 / p99 / max per epoch.
Usage: python3 scripts/lib/commit_phases.py RUN_LOG
"""

import re
import statistics
import sys

UNITS = {"ns": 1e-6, "µs": 1e-3, "ms": 1.0, "s": 1e3}
LINE = re.compile(r"committed: sealed in (\S+), Kafka steps (\S+), finalized in (\S+)")


def millis(text):
    number, unit = re.fullmatch(r"([0-9.]+)(ns|µs|ms|s)", text).groups()
    return float(number) * UNITS[unit]


def quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main():
    phases = {"sealed": [], "Kafka steps": [], "finalized": []}
    with open(sys.argv[1], encoding="utf-8", errors="replace") as log:
        for line in log:
            found = LINE.search(line)
            if found:
                for values, text in zip(phases.values(), found.groups()):
                    values.append(millis(text))
    if not phases["finalized"]:
        print("no epoch commits in the log (is RUST_LOG at debug for ratings_runtime::delivery?)")
        return
    print(f"{len(phases['finalized'])} epochs committed; per epoch, p50 / p99 / max:")
    for name, values in phases.items():
        print(
            f"  {name:12} {statistics.median(values):8.2f} / {quantile(values, 0.99):8.2f}"
            f" / {max(values):8.2f} ms"
        )


if __name__ == "__main__":
    main()
