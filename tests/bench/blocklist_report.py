#!/usr/bin/python3
"""Turn tests/bench/blocklist.sh's TSV files into a markdown section.

Reads from --tmp: startup.tsv, stop.tsv, results.tsv, end.tsv, spot.tsv,
end-stats.txt.  Medians over runs/starts; per-run numbers in a <details>
block.  CPU time per query = (utime+stime ticks of the server process during
the dnsperf run) / CLK_TCK / queries completed.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys

LABEL = {
    "parasold": "parasold, 1.1M-name list",
    "unbound": "unbound, 1.1M always_null local-zones",
    "parasold-nolist": "parasold, no list (empty lists.db)",
}


def rows(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def fi(x: float) -> str:
    return f"{x:,.0f}"


def mib(kb: str) -> str:
    return f"{int(kb) / 1024:,.1f} MiB"


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def span(xs, f=fi) -> str:
    if len(xs) == 1:
        return f(xs[0])
    return f"{f(med(xs))} ({f(min(xs))}–{f(max(xs))})"


def main() -> int:
    ap = argparse.ArgumentParser()
    for k in ("tmp", "date", "machine", "parasold-version", "unbound-version",
              "dnsperf-version", "command", "set", "blocked-queries",
              "cache-queries", "load", "parasold-args", "verify",
              "upstream-blocked", "warm", "probe"):
        ap.add_argument("--" + k, required=True)
    a = ap.parse_args()
    t = a.tmp

    start = rows(os.path.join(t, "startup.tsv"))
    stop = rows(os.path.join(t, "stop.tsv"))
    res = rows(os.path.join(t, "results.tsv"))
    end = {r["server"]: r for r in rows(os.path.join(t, "end.tsv"))}
    spot = rows(os.path.join(t, "spot.tsv"))
    for r in res:
        comp = int(r["completed"])
        cpu_s = int(r["cpu_ticks"]) / int(r["clk_tck"])
        r["cpu_s"] = cpu_s
        r["cpu_us_q"] = cpu_s / comp * 1e6 if comp else float("nan")
        r["util"] = cpu_s / float(r["run_s"]) * 100 if float(r["run_s"]) else 0

    out: list[str] = []
    w = out.append
    w(f"## Blocklist at scale, {a.date}")
    w("")
    w(f"- Machine: {a.machine}")
    w(f"- parasold: {a.parasold_version}; unbound: {a.unbound_version}; "
      f"{a.dnsperf_version}")
    w(f"- Set: {a.set}")
    w(f"- Blocked-name queries: {a.blocked_queries}")
    w(f"- Cache-hit queries: {a.cache_queries}")
    w(f"- Load: {a.load}. Servers on core 0, dnsperf and upstream on core 1.")
    w(f"- parasold command: `parasold {a.parasold_args}` (no list: the same "
      f"with an empty lists.db)")
    w(f"- Rerun: `{a.command}`")
    w("")

    # ------------------------------------------------------------ start-up
    w("### Start-up and memory")
    w("")
    w("| server | starts | process start → first answer, ms | snapshot "
      "build (parasold log), ms | names / snapshot size (log) | CPU during "
      "start-up, s | VmRSS after load | VmHWM after load | SIGTERM → exit, "
      "ms | VmRSS at end | VmHWM at end |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in ("parasold", "unbound", "parasold-nolist"):
        rs = [r for r in start if r["server"] == s]
        if not rs:
            continue
        first = [float(r["first_answer_ms"]) for r in rs]
        build = [float(r["build_ms"]) for r in rs if r["build_ms"] != "-"]
        cpu = [int(r["cpu_ticks"]) / int(r["clk_tck"]) for r in rs]
        rss = [int(r["rss_kb"]) for r in rs]
        hwm = [int(r["hwm_kb"]) for r in rs]
        st = [float(r["stop_ms"]) for r in stop if r["server"] == s]
        nk = "–"
        if rs[-1]["names"] != "-":
            nk = f"{int(rs[-1]['names']):,} / {int(rs[-1]['snap_kib']) / 1024:,.1f} MiB"
        e = end.get(s)
        w(f"| {LABEL[s]} | {len(rs)} | {span(first)} | "
          f"{span(build) if build else '–'} | {nk} | "
          f"{span(cpu, lambda x: f'{x:.2f}')} | "
          f"{mib(str(int(med(rss))))} | {mib(str(int(med(hwm))))} | "
          f"{span(st) if st else '–'} | "
          f"{mib(e['rss_kb']) if e else '–'} | "
          f"{mib(e['hwm_kb']) if e else '–'} |")
    w("")
    nulls = [r for r in start if r["server"] != "parasold-nolist"]
    same = all(r["first_answer_ms"] == r["first_null_ms"] for r in nulls)
    w("Start-up is wall-clock time from just before the process was forked "
      "until the first answer to an A query for "
      f"`{a.probe}` (polled every 5 ms); with the list, "
      + ("that first answer was already the block (A 0.0.0.0) every time."
         if same else
         "the first answer was NOT always the block: see startup.tsv "
         "(first_null_ms).")
      + " VmRSS/VmHWM after load are read right after that answer; the "
      "medians are over the starts. The last start of each server is the "
      "one measured below; the figures at the end are after all runs.")
    w("")

    # ------------------------------------------------------------ load tables
    def table(sc: str, servers: list[str], extra_hits: bool) -> None:
        w("| server | queries/s (median) | queries/s (min–max) | lost "
          "queries (median) | server CPU µs/query (median) | server core "
          "busy | upstream queries during runs | avg latency (median) | "
          "kernel drops at server socket (median) | response codes (all "
          "runs) |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for s in servers:
            rs = [r for r in res if r["scenario"] == sc and r["server"] == s]
            if not rs:
                continue
            qps = [float(r["qps"]) for r in rs]
            lost = [int(r["lost"]) for r in rs]
            sent = [int(r["sent"]) for r in rs]
            lost_pct = med([lo / se * 100 if se else 0
                            for lo, se in zip(lost, sent)])
            codes = sorted({r["rcodes"].split(" (")[0].split()[0]
                            for r in rs if r["rcodes"]})
            allc = sum(int(r["completed"]) for r in rs)
            w(f"| {LABEL[s]} | {fi(med(qps))} | {fi(min(qps))}–"
              f"{fi(max(qps))} | {fi(med(lost))} ({lost_pct:.3f} %) | "
              f"{med([r['cpu_us_q'] for r in rs]):.2f} | "
              f"{med([r['util'] for r in rs]):.0f} % | "
              f"{sum(int(r['upstream_q']) for r in rs)} | "
              f"{med([float(r['lat_avg_s']) for r in rs]) * 1e3:.3f} ms | "
              f"{fi(med([int(r['sock_drops']) for r in rs]))} | "
              f"{'/'.join(codes) or '?'} ({allc:,} answers) |")
        w("")

    w("### Blocked names")
    w("")
    table("blocked", ["parasold", "unbound"], False)
    pb = [r for r in res if r["scenario"] == "blocked"
          and r["server"] == "parasold"]
    if pb:
        q = sum(int(r["p_queries"]) for r in pb)
        b = sum(int(r["p_blocked"]) for r in pb)
        fw = sum(int(r["p_forwarded"]) for r in pb)
        w(f"Checks: every sampled name answered once with EDNS before the "
          f"runs ({a.verify}); parasold blocked {b:,} of {q:,} queries in "
          f"the runs (SIGUSR1 counters), forwarded {fw}; upstream queries "
          f"during the whole blocked-name phase (checks, warm-up pass, "
          f"runs): {a.upstream_blocked}.")
        w("")

    w("### Cache hits: cost of the 1.1M-name matcher")
    w("")
    cs = ["parasold-nolist", "parasold", "unbound"]
    table("cachehit", cs, True)

    def cpu_of(s):
        return med([r["cpu_us_q"] for r in res
                    if r["scenario"] == "cachehit" and r["server"] == s])

    n0, n1 = cpu_of("parasold-nolist"), cpu_of("parasold")
    ph = [r for r in res if r["scenario"] == "cachehit"
          and r["server"].startswith("parasold")]
    if ph:
        q = sum(int(r["p_queries"]) for r in ph)
        h = sum(int(r["p_cache_hits"]) for r in ph)
        b = sum(int(r["p_blocked"]) for r in ph)
        fw = sum(int(r["p_forwarded"]) for r in ph)
        w(f"parasold CPU per cache hit with the 1.1M list minus without: "
          f"{n1 - n0:+.2f} µs/query ({(n1 / n0 - 1) * 100:+.0f} %) on the "
          f"medians. Checks: parasold cache hits {h:,} of {q:,} queries in "
          f"the runs (both instances), blocked {b}, forwarded {fw}; "
          f"upstream queries left in the last warm-up pass: {a.warm.strip()}.")
        w("")

    # ------------------------------------------------------------ details
    w("<details><summary>Per-run numbers, spot checks, end state</summary>")
    w("")
    w("| scenario | server | run | queries/s | sent | completed | lost | "
      "server CPU s | µs/query | upstream queries | parasold queries / "
      "blocked / cache_hits / forwarded (SIGUSR1 delta) | kernel drops | "
      "response codes |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
    for r in res:
        ps = "–" if r["p_queries"] == "-" else (
            f"{r['p_queries']} / {r['p_blocked']} / {r['p_cache_hits']} / "
            f"{r['p_forwarded']}")
        w(f"| {r['scenario']} | {r['server']} | {r['run']} | "
          f"{fi(float(r['qps']))} | {r['sent']} | {r['completed']} | "
          f"{r['lost']} | {r['cpu_s']:.2f} | {r['cpu_us_q']:.2f} | "
          f"{r['upstream_q']} | {ps} | {r['sock_drops']} | {r['rcodes']} |")
    w("")
    w("| server | start | first answer, ms | first blocked answer, ms | "
      "build, ms | VmRSS | VmHWM | CPU s |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in start:
        w(f"| {r['server']} | {r['start']} | {r['first_answer_ms']} | "
          f"{r['first_null_ms']} | {r['build_ms']} | {mib(r['rss_kb'])} | "
          f"{mib(r['hwm_kb'])} | "
          f"{int(r['cpu_ticks']) / int(r['clk_tck']):.2f} |")
    w("")
    w("dig spot checks (`dig +norec`, EDNS on):")
    w("")
    w("| server | name | status | A | EDE |")
    w("|---|---|---|---|---|")
    for r in spot:
        w(f"| {r['server']} | `{r['name']}` | {r['status']} | "
          f"{r['answer'] or '–'} | {r['ede']} |")
    w("")
    w("Warning/error lines in the server logs: " + ", ".join(
        f"{s}={end[s]['log_warn_err']}" for s in end) + ".")
    p = os.path.join(t, "end-stats.txt")
    if os.path.exists(p):
        w("")
        w("parasold counters at the end (SIGUSR1):")
        w("")
        with open(p) as f:
            for line in f:
                w("    " + line.rstrip())
    w("")
    w("</details>")
    w("")
    sys.stdout.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
