#!/usr/bin/env bash
# High-availability takeover time: two `run --standby` processors (release build) share a lease
# while `generate` writes 1,000 ratings/s; the active one is stopped N times with SIGKILL, then N
# times with SIGTERM (a clean stop), a fresh standby started each time, and the time from the
# signal to the new active's first committed epoch (its log line) is measured. Prints each and
# p50 / p95 / max per kind.
# Usage: scripts/bench-takeover.sh [N]     (default 20)
#   KINDS=SIGTERM scripts/bench-takeover.sh ...   one kind only (SIGKILL or SIGTERM).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
. scripts/lib/bench.sh
kafka_topics takeover
dir="$work/takeover-$run_id"
mkdir -p "$dir"
"$bin" generate --bootstrap-servers "$bootstrap" --ratings-topic "takeover-ratings-$run_id" \
  --rate 1000 > /dev/null 2>&1 &
generator=$!
trap 'kill $generator 2>/dev/null; pkill -f "takeover-ratings-$run_id" 2>/dev/null || true' EXIT
KINDS=${KINDS:-SIGKILL SIGTERM} python3 - "$bin" "$bootstrap" "$run_id" "$dir" "$n" <<'PY'
import datetime, os, re, signal, statistics, subprocess, sys, time

bin, bootstrap, run_id, folder, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
args = [bin, "run", "--bootstrap-servers", bootstrap, "--ratings-topic", f"takeover-ratings-{run_id}",
        "--metrics-topic", f"takeover-metrics-{run_id}", "--dead-letter-topic", f"takeover-dead-{run_id}",
        "--group-id", f"takeover-{run_id}", "--storage", os.path.abspath(folder) + "/storage",
        "--metrics-address", "off", "--standby"]
members, count = [], 0

def spawn():
    global count
    log = f"{folder}/member-{count}.log"
    count += 1
    members.append((subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(log, "w")), log))

def lines(log, text):
    return [l for l in open(log, errors="replace") if text in l]

def stamp(line):
    return datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()

def active():
    """The live member whose last word on the lease says active, once its first epoch committed."""
    for process, log in members:
        if process.poll() is None:
            said = lines(log, "high availability: active") + lines(log, "standing by")
            said.sort(key=stamp)
            if said and "active" in said[-1] and lines(log, "first epoch committed"):
                return process, log
    return None

def wait_active(after, within=60):
    deadline = time.time() + within
    while time.time() < deadline:
        for process, log in members:
            done = [stamp(l) for l in lines(log, "first epoch committed") if stamp(l) > after]
            if done and process.poll() is None:
                return min(done)
        time.sleep(0.05)
    sys.exit("no takeover within a minute")

spawn(); spawn()
wait_active(0)
kinds = os.environ["KINDS"].split()
results = {kind: [] for kind in kinds}
for kind in kinds:
    sig = getattr(signal, kind)
    for i in range(n):
        time.sleep(2)
        process, log = active()
        at = time.time()
        process.send_signal(sig)
        process.wait()
        spawn()
        took = wait_active(at) - at
        results[kind].append(took)
        print(f"{kind} {i + 1}/{n}: first epoch of the new active {took:.2f} s later", flush=True)
for process, _ in members:
    if process.poll() is None:
        process.terminate(); process.wait()
for kind, times in results.items():
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
    print(f"{kind}: {len(times)} takeovers, p50 {statistics.median(times):.2f} s, p95 {p95:.2f} s, max {times[-1]:.2f} s")
PY
