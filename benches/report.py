#!/usr/bin/env python3
"""Prints the medians of the last `cargo bench -p breaker-benches` run as Markdown tables.

Reads criterion's target/criterion/<group>/<bench>/new/estimates.json; the overhead
column subtracts the group's "bare call" (or "bare async fn") median.
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
groups = {}
for est in sorted(root.glob("**/new/estimates.json")):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    median = json.loads(est.read_text())["median"]["point_estimate"]
    groups.setdefault(bench["group_id"], []).append((bench["function_id"], median))

order = ["closed success", "open rejection", "1% failures", "async fn"]
for group in sorted(groups, key=lambda g: ([i for i, o in enumerate(order) if g.startswith(o)] or [9])[0]):
    rows = groups[group]
    base = next((m for name, m in rows if name.startswith("bare")), None)
    print(f"\n**{group}** (median ns per call)\n")
    print("| contender | ns/call | overhead over bare |")
    print("|---|---:|---:|")
    for name, m in rows:
        overhead = "" if base is None or name.startswith("bare") else f"{m - base:+.1f}"
        print(f"| {name} | {m:.1f} | {overhead} |")
sys.exit(0)
