#!/usr/bin/python3
"""Turn tests/bench/run.sh's results.tsv into a markdown section.

Medians over the runs of each server; the per-run numbers follow so the
spread is visible.  CPU time per query = (utime+stime ticks of the server
process during the dnsperf run) / CLK_TCK / queries completed.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def main() -> int:
    ap = argparse.ArgumentParser()
    for k in ("results", "date", "machine", "versions", "dnsperf-version",
              "command", "params", "warm", "log-lines", "rss", "servers"):
        ap.add_argument("--" + k, required=True)
    ap.add_argument("--parasold-args", default="")
    ap.add_argument("--dnsmasq-args", default="")
    a = ap.parse_args()
    servers = a.servers.split()

    with open(a.results, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    for r in rows:
        comp = int(r["completed"])
        cpu_s = int(r["cpu_ticks"]) / int(r["clk_tck"])
        r["cpu_us_q"] = cpu_s / comp * 1e6 if comp else float("nan")
        r["util"] = cpu_s / float(r["run_s"]) * 100 if float(r["run_s"]) else 0

    out = []
    w = out.append
    w(f"## Cached-answer throughput, {a.date}")
    w("")
    w(f"- Machine: {a.machine}")
    w(f"- {a.versions}; {a.dnsperf_version}")
    w(f"- Load: {a.params}. Server on core 0, dnsperf and upstream on core 1.")
    if "parasold" in servers:
        w(f"- parasold command: `parasold {a.parasold_args}`")
    if "dnsmasq" in servers:
        w(f"- dnsmasq command: `dnsmasq {a.dnsmasq_args}`")
    if "bare" in servers:
        w("- bare: `bench-bare PORT` (tests/bench/bare.c), a UDP echo that only "
          "sets QR (recvmmsg/sendmmsg, batch 32): no DNS work, the floor of "
          "what any server can do. Its answers are the queries echoed back "
          "(NOERROR, no records), so it has no cache and no upstream.")
    w(f"- Rerun: `{a.command}`")
    w("")
    w("| server | queries/s (median) | queries/s (min–max) | lost queries "
      "(median) | server CPU µs/query (median) | server core busy | "
      "upstream queries during runs | avg latency (median) | "
      "kernel drops at server socket (median) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    med_cpu: dict[str, float] = {}
    for s in servers:
        rs = [r for r in rows if r["server"] == s]
        if not rs:
            continue
        qps = [float(r["qps"]) for r in rs]
        lost = [int(r["lost"]) for r in rs]
        sent = [int(r["sent"]) for r in rs]
        lost_pct = statistics.median(
            [lo / se * 100 if se else 0 for lo, se in zip(lost, sent)])
        cpu = statistics.median([r["cpu_us_q"] for r in rs])
        med_cpu[s] = cpu
        util = statistics.median([r["util"] for r in rs])
        upq = sum(int(r["upstream_q"]) for r in rs)
        lat = statistics.median([float(r["lat_avg_s"]) for r in rs]) * 1e3
        drops = statistics.median([int(r["sock_drops"]) for r in rs])
        w(f"| {s} | {fmt_int(statistics.median(qps))} | "
          f"{fmt_int(min(qps))}–{fmt_int(max(qps))} | "
          f"{fmt_int(statistics.median(lost))} ({lost_pct:.3f} %) | "
          f"{cpu:.2f} | {util:.0f} % | {upq} | {lat:.3f} ms | "
          f"{fmt_int(drops)} |")
    w("")
    refs = [x for x in ("unbound", "bare") if x in med_cpu and med_cpu[x] > 0]
    if refs:
        parts = []
        for s in servers:
            if s not in med_cpu or s in refs and len(refs) == 1:
                continue
            rel = [f"{med_cpu[s] / med_cpu[x]:.2f}× {x}" for x in refs
                   if x != s]
            if rel:
                parts.append(f"{s} {med_cpu[s]:.2f} µs = " + ", ".join(rel))
        if parts:
            w("Server CPU µs/query (medians) relative to "
              + " and ".join(refs) + ": " + "; ".join(parts) + ".")
            w("")
    w("<details><summary>Per-run numbers</summary>")
    w("")
    w("| server | run | queries/s | sent | completed | lost | server CPU s "
      "| µs/query | upstream queries | parasold queries / cache_hits / "
      "forwarded (SIGUSR1 delta) | kernel drops at server socket "
      "| response codes |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
    for r in rows:
        cpu_s = int(r["cpu_ticks"]) / int(r["clk_tck"])
        pstats = "–" if r["p_queries"] == "-" else (
            f"{r['p_queries']} / {r['p_cache_hits']} / {r['p_forwarded']}")
        w(f"| {r['server']} | {r['run']} | {fmt_int(float(r['qps']))} | "
          f"{r['sent']} | {r['completed']} | {r['lost']} | {cpu_s:.2f} | "
          f"{r['cpu_us_q']:.2f} | {r['upstream_q']} | {pstats} | "
          f"{r['sock_drops']} | {r['rcodes']} |")
    w("")
    w("</details>")
    w("")
    prs = [r for r in rows if r["server"] == "parasold"]
    checks = "Checks: "
    if prs:
        q = sum(int(r["p_queries"]) for r in prs)
        h = sum(int(r["p_cache_hits"]) for r in prs)
        fw = sum(int(r["p_forwarded"]) for r in prs)
        rate = h / q * 100 if q else float("nan")
        checks += (f"parasold cache hits during the measured runs "
                   f"{h:,} of {q:,} queries ({rate:.3f} %), forwarded {fw}; ")
    w(checks + f"upstream queries left in the last warm-up pass: {a.warm}; "
      f"server warning/error log lines: {a.log_lines}; "
      f"resident memory at the end: {a.rss}.")
    w("")
    sys.stdout.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
