#!/usr/bin/env python3
"""Summarise enlight-bench JSON output (docs/benchmarks.md).

  enlight-bench --benchmark_repetitions=5 --benchmark_min_time=0.2 \
      --benchmark_display_aggregates_only=true \
      --benchmark_out=run.json --benchmark_out_format=json
  tools/bench/summarize.py run.json [more.json ...]

Prints, per benchmark, the minimum and median real time over all
repetitions of all files given, the median CPU time, and the ratios the
goals are stated in (Bus/Switch, MetricsOn/MetricsOff). The minimum is the
least disturbed by other processes on a shared machine; the median is the
headline number.
"""
import json
import statistics
import sys

RATIOS = [
    ("read  Bus/Switch", "BM_MsrRead/Bus", "BM_MsrRead/Switch", 1.3),
    ("write Bus/Switch", "BM_MsrWrite/Bus", "BM_MsrWrite/Switch", 1.3),
    ("read  MetricsOn/MetricsOff", "BM_MsrRead/BusMetricsOn", "BM_MsrRead/BusMetricsOff", 1.05),
    ("write MetricsOn/MetricsOff", "BM_MsrWrite/Bus", "BM_MsrWrite/BusMetricsOff", 1.05),
    ("hypercall MetricsOn/MetricsOff", "BM_FastHypercall/Bus", "BM_FastHypercall/BusMetricsOff", 1.05),
    ("read  Bus/SwitchWide", "BM_MsrRead/Bus", "BM_MsrRead/SwitchWide", None),
    ("write Bus/SwitchWide", "BM_MsrWrite/Bus", "BM_MsrWrite/SwitchWide", None),
    ("read  Proposed/Switch (prototype)", "BM_MsrRead/Proposed", "BM_MsrRead/Switch", 1.3),
    ("write Proposed/Switch (prototype)", "BM_MsrWrite/Proposed", "BM_MsrWrite/Switch", 1.3),
    ("read  MetricsOff/Switch", "BM_MsrRead/BusMetricsOff", "BM_MsrRead/Switch", None),
    ("read  LatencyOn/MetricsOn", "BM_MsrRead/BusLatencyOn", "BM_MsrRead/BusMetricsOn", None),
    ("hypercall Bus/HandlerOnly", "BM_FastHypercall/Bus", "BM_FastHypercall/HandlerOnly", None),
]

SCALE = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def main(paths):
    real, cpu, order, context = {}, {}, [], None
    agg_real, agg_cpu, agg_order = {}, {}, []
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        context = context or doc.get("context", {})
        for b in doc["benchmarks"]:
            if b.get("error_occurred"):
                continue
            if b.get("run_type") == "aggregate":
                # --benchmark_report_aggregates_only=true leaves only these:
                # each file's median then stands for its repetitions.
                if b.get("aggregate_name") == "median":
                    name = b["run_name"]
                    scale = SCALE[b.get("time_unit", "ns")]
                    if name not in agg_real:
                        agg_order.append(name)
                    agg_real.setdefault(name, []).append(b["real_time"] * scale)
                    agg_cpu.setdefault(name, []).append(b["cpu_time"] * scale)
                continue
            name = b.get("run_name", b["name"])
            scale = SCALE[b.get("time_unit", "ns")]
            if name not in real:
                order.append(name)
            real.setdefault(name, []).append(b["real_time"] * scale)
            cpu.setdefault(name, []).append(b["cpu_time"] * scale)
    if not real:  # aggregates only: min and median are over the files' medians
        real, cpu, order = agg_real, agg_cpu, agg_order
        print("# aggregates-only input: 'min'/'median' are over the per-file medians")
    if context:
        print(f"# {context.get('date', '')}  {context.get('num_cpus', '?')} x {context.get('mhz_per_cpu', '?')} MHz"
              f"  load avg {context.get('load_avg', '?')}")
    print(f"{'benchmark':34} {'n':>3} {'min ns':>12} {'median ns':>12} {'median cpu':>12}")
    med, mn = {}, {}
    for name in order:
        mn[name] = min(real[name])
        med[name] = statistics.median(real[name])
        print(f"{name:34} {len(real[name]):3d} {mn[name]:12.2f} {med[name]:12.2f} {statistics.median(cpu[name]):12.2f}")
    print()
    print(f"{'ratio':34} {'median':>8} {'min':>8}  goal")
    for label, a, b, goal in RATIOS:
        if a in med and b in med:
            r_med, r_min = med[a] / med[b], mn[a] / mn[b]
            verdict = "" if goal is None else ("  <= %.2f %s" % (goal, "met" if r_med <= goal else "MISSED"))
            print(f"{label:34} {r_med:8.3f} {r_min:8.3f}{verdict}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
