#!/usr/bin/env python3
"""Summarise a compare.sh results file (JSON lines) as markdown tables.

    python3 bench/aggregate.py RESULTS.jsonl [--check]

Each line is one run of one implementation, as printed by crew's `bench` example, the Node peer
or the raw peer, with the `case` and `round` fields that compare.sh adds. For every case and
implementation the table shows the median of the runs' main figure (and its spread); the second
table shows the ratios issue 7's targets are stated in.

Messages that must not be lost (crew and raw always, Node only with a graceful exit) are checked:
a run that received fewer than it expected is listed as a loss. With --check a loss, or a line
without the fields of its kind, makes the exit status 1 (compare.sh --smoke uses this).
Stdlib only (Python 3.11).
"""

import json
import statistics
import sys
from collections import defaultdict

# kind -> (main field, label, unit, higher is better)
MAIN = {
    "ipc": ("msgs_per_s", "msgs/s", "", True),
    "pingpong": ("rtt_us_median", "rtt median", "µs", False),
    "spawn": ("online_ms_median", "fork→online median", "ms", False),
    "restart": ("restart_ms_median", "exit→replacement online median", "ms", False),
    "memory": ("rss_kb_per_worker", "primary RSS per worker", "KiB", False),
}

REQUIRED = {
    "ipc": ["workers", "per_worker", "payload", "batch", "received", "expected", "secs",
            "msgs_per_s", "mb_per_s"],
    "pingpong": ["round_trips", "round_trips_per_s", "rtt_us_median", "rtt_us_p99"],
    "spawn": ["online_ms_median", "online_ms_p99", "all_online_ms_median"],
    "restart": ["restart_ms_median", "restart_ms_p99"],
    "memory": ["rss_kb_before", "rss_kb_after", "rss_kb_per_worker"],
}

IMPL_ORDER = ["crew", "node-json", "node-advanced", "raw"]


def label(run):
    """The row a run belongs to: Node's ipc runs are split by how the worker exited."""
    impl = run["impl"]
    if run["kind"] == "ipc" and impl.startswith("node-"):
        return f"{impl} ({run.get('exit', '?')} exit)"
    return impl


def row_key(lbl):
    impl = lbl.split(" ")[0]
    rank = IMPL_ORDER.index(impl) if impl in IMPL_ORDER else len(IMPL_ORDER)
    return (rank, lbl)


def med(runs, field):
    xs = [r[field] for r in runs if isinstance(r.get(field), (int, float))]
    return statistics.median(xs) if xs else None


def fmt(x):
    if x is None:
        return "–"
    if float(x).is_integer() or abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def extra(kind, runs):
    if kind == "ipc":
        rec, exp = med(runs, "received"), med(runs, "expected")
        return f"received {fmt(rec)} of {fmt(exp)}, {fmt(med(runs, 'mb_per_s'))} MB/s"
    if kind == "pingpong":
        return f"p99 {fmt(med(runs, 'rtt_us_p99'))} µs, {fmt(med(runs, 'round_trips_per_s'))} round trips/s"
    if kind == "spawn":
        return (f"p99 {fmt(med(runs, 'online_ms_p99'))} ms, all online "
                f"{fmt(med(runs, 'all_online_ms_median'))} ms")
    if kind == "restart":
        also = f"p99 {fmt(med(runs, 'restart_ms_p99'))} ms"
        if med(runs, "from_worker_exit_ms_median") is not None:
            # crew only: from the worker's own clock just before it exits (see bench.rs).
            also += (f"; from the worker's exit: {fmt(med(runs, 'from_worker_exit_ms_median'))} ms,"
                     f" p99 {fmt(med(runs, 'from_worker_exit_ms_p99'))} ms")
        return also
    if kind == "memory":
        return (f"before {fmt(med(runs, 'rss_kb_before'))} KiB, after "
                f"{fmt(med(runs, 'rss_kb_after'))} KiB")
    return ""


def ratio(num, den):
    if num is None or den is None or den == 0:
        return None
    return num / den


def main(argv):
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    if len(paths) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    runs = []
    problems = []
    with open(paths[0], encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                run = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"line {n}: not JSON ({e})")
                continue
            kind = run.get("kind")
            missing = [k for k in ["impl", "kind"] + REQUIRED.get(kind, ["?"]) if k not in run]
            if missing:
                problems.append(f"line {n}: {run.get('impl')} {kind}: missing {', '.join(missing)}")
                continue
            run.setdefault("case", kind)
            runs.append(run)

    losses = []
    for r in runs:
        must_deliver = r["impl"] in ("crew", "raw") or r.get("exit") == "graceful"
        if r["kind"] == "ipc" and must_deliver and r["received"] != r["expected"]:
            losses.append(f"{r['case']} round {r.get('round', '?')}: {label(r)} received "
                          f"{r['received']} of {r['expected']}")

    by_case = defaultdict(lambda: defaultdict(list))
    case_kind = {}
    for r in runs:
        by_case[r["case"]][label(r)].append(r)
        case_kind[r["case"]] = r["kind"]

    out = ["| case | impl | figure | median | min | max | runs | also (medians) |",
           "|---|---|---|---|---|---|---|---|"]
    medians = {}
    for case, rows in by_case.items():
        kind = case_kind[case]
        field, name, unit, _ = MAIN[kind]
        for lbl in sorted(rows, key=row_key):
            rs = rows[lbl]
            xs = [r[field] for r in rs if isinstance(r.get(field), (int, float))]
            m = statistics.median(xs) if xs else None
            medians[(case, lbl)] = m
            fig = f"{name} ({unit})" if unit else name
            out.append(f"| {case} | {lbl} | {fig} | {fmt(m)} | {fmt(min(xs) if xs else None)} | "
                       f"{fmt(max(xs) if xs else None)} | {len(rs)} | {extra(kind, rs)} |")

    def m(case, lbl):
        return medians.get((case, lbl))

    ratios = []
    for case in by_case:
        kind = case_kind[case]
        if kind == "ipc":
            for node in ("node-json", "node-advanced"):
                for exit_ in ("graceful", "immediate"):
                    nl = f"{node} ({exit_} exit)"
                    if (case, nl) in medians:
                        ratios.append((case, f"crew / {nl} msgs/s", ratio(m(case, "crew"), m(case, nl))))
            ratios.append((case, "crew / raw msgs/s", ratio(m(case, "crew"), m(case, "raw"))))
            if (case, "node-json (graceful exit)") in medians:
                ratios.append((case, "raw / node-json (graceful exit) msgs/s",
                               ratio(m(case, "raw"), m(case, "node-json (graceful exit)"))))
        elif kind == "pingpong":
            ratios.append((case, "crew rtt / raw rtt", ratio(m(case, "crew"), m(case, "raw"))))
            ratios.append((case, "node-json rtt / crew rtt", ratio(m(case, "node-json"), m(case, "crew"))))
            ratios.append((case, "node-json rtt / raw rtt", ratio(m(case, "node-json"), m(case, "raw"))))
        elif kind == "spawn":
            for node in ("node-json", "node-advanced"):
                ratios.append((case, f"{node} online / crew online", ratio(m(case, node), m(case, "crew"))))
            ratios.append((case, "crew online / raw online", ratio(m(case, "crew"), m(case, "raw"))))
        elif kind == "restart":
            ratios.append((case, "crew restart_ms_median (ms, not a ratio)", m(case, "crew")))
            ratios.append((case, "node-json restart / crew restart", ratio(m(case, "node-json"), m(case, "crew"))))
        elif kind == "memory":
            ratios.append((case, "crew rss_kb_per_worker (KiB, not a ratio)", m(case, "crew")))

    out += ["", "| case | ratio of medians | value |", "|---|---|---|"]
    for case, what, v in ratios:
        if v is not None:
            out.append(f"| {case} | {what} | {fmt(v)} |")
    if not any(r["impl"] == "crew" for r in runs):
        out += ["", "crew was not run: the ratios that involve crew are left out."]

    print("\n".join(out))
    for p in problems:
        print(f"\nBAD LINE: {p}", file=sys.stderr)
    for loss in losses:
        print(f"\nLOST MESSAGES: {loss}", file=sys.stderr)
    if check and (problems or losses or not runs):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
