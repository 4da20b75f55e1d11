#!/usr/bin/env python3
"""enlight against a real Prometheus (Debian's prometheus and
prometheus-pushgateway) with the configuration the project ships in
tools/prometheus: two VMs with different `variant` labels run at once; while
they run, Prometheus discovers them through the file_sd targets `enlight run
--prometheus-sd` writes and scrapes them; at their end they push their final
counters to the Pushgateway. The test then asks Prometheus's HTTP API with
PromQL and checks that the per-variant values it reports equal the counts
each run wrote in its own --report, that the recording rules give a
per-variant exit rate, and that the targets are gone once the VMs are.

usage: prometheus_test.py ENLIGHT_BINARY TOOLS_PROMETHEUS_DIR
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ENLIGHT, CONFIG_DIR = sys.argv[1], sys.argv[2]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_ready(url, what, proc, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited at start with status {proc.returncode}")
        try:
            get(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{what} not ready at {url} after {seconds} s")


def query(prom, promql):
    body = json.loads(get(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": promql})))
    if body.get("status") != "success":
        raise RuntimeError(f"query {promql}: {body}")
    return body["data"]["result"]


def by_labels(result, *names):
    return {tuple(r["metric"].get(n, "") for n in names): float(r["value"][1]) for r in result}


work = tempfile.mkdtemp(prefix="enlight-prometheus-")
procs = []
try:
    for tool in ("prometheus", "prometheus-pushgateway", "promtool"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed: tools/bootstrap.sh deps installs it (Debian package)")
    prom_port, push_port = free_port(), free_port()
    prom, push = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{push_port}"

    # The shipped configuration, with the Pushgateway where this test runs it.
    for name in os.listdir(CONFIG_DIR):
        if name.endswith(".yml"):
            shutil.copy(os.path.join(CONFIG_DIR, name), work)
    config = os.path.join(work, "prometheus.yml")
    text = open(config).read()
    check("127.0.0.1:9091" in text, "the shipped prometheus.yml scrapes a Pushgateway at 127.0.0.1:9091")
    open(config, "w").write(text.replace("127.0.0.1:9091", f"127.0.0.1:{push_port}"))
    targets = os.path.join(work, "targets")
    os.mkdir(targets)
    subprocess.run(["promtool", "check", "config", config], check=True, stdout=subprocess.DEVNULL)

    log = open(os.path.join(work, "servers.log"), "w")
    # No persistence file: Debian's default keeps groups across starts, and
    # an earlier run's group must not be mistaken for this one's.
    pushgw = subprocess.Popen(["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{push_port}",
                               "--persistence.file="],
                              stdout=log, stderr=log)
    procs.append(pushgw)
    server = subprocess.Popen(["prometheus", f"--config.file={config}",
                               f"--storage.tsdb.path={os.path.join(work, 'data')}",
                               f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=log, stderr=log)
    procs.append(server)
    wait_ready(f"{push}/-/ready", "prometheus-pushgateway", pushgw)
    wait_ready(f"{prom}/-/ready", "prometheus", server)

    # Two variants of the time-read workload on the legacy clock (a PM
    # timer exit per read, so the counters rise between scrapes), one with
    # more plugins (other bus exits). Long enough for several 1 s scrapes:
    # Prometheus's discovery manager passes new targets on at most every
    # 5 s, so a target is first scraped up to 6 s after its file appears.
    variants = {"small": "hv-frequencies",
                "more-plugins": "hv-frequencies,hv-vpindex,hv-relaxed,hv-synic"}
    runs = {}
    for name, flags in variants.items():
        report = os.path.join(work, f"{name}.report.json")
        cmd = [ENLIGHT, "run", "--backend", "emu", "--guest", "workload-timeread", "--duration", "12",
               "--cpu", flags, "--label", f"variant={name}", "--label", "experiment=prometheus-test",
               "--prometheus-sd", os.path.join(targets, f"{name}.json"), "--push", push, "--report", report]
        runs[name] = (subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), report)

    # While they run: Prometheus found both through file_sd and scrapes them.
    seen_up = set()
    deadline = time.time() + 30
    while time.time() < deadline and len(seen_up) < 2 and all(p.poll() is None for p, _ in runs.values()):
        for (variant,), v in by_labels(query(prom, 'up{job="enlight"}'), "variant").items():
            if v == 1:
                seen_up.add(variant)
        time.sleep(0.5)
    check(seen_up == set(variants), f"both VMs scraped live through file_sd (up == 1 for {sorted(seen_up)})")

    for name, (p, _) in runs.items():
        out, _ = p.communicate(timeout=60)
        check(p.returncode == 0, f"enlight run variant={name} exited 0")
        if p.returncode != 0:
            print(out)
    check(os.listdir(targets) == [], "the file_sd target files are removed when the VMs end")

    reports = {name: json.load(open(r)) for name, (_, r) in runs.items()}

    # What each run counted, by the names Prometheus uses.
    def expected(report):
        bus, counters = {}, {}
        for c in report["counters"]:
            if c["name"].startswith("exits."):
                key = (c["plugin"], c["name"][len("exits."):])
                bus[key] = bus.get(key, 0) + c["value"]
            else:
                counters[c["name"]] = counters.get(c["name"], 0) + c["value"]
        return bus, counters

    # The pushed final counters: Prometheus scrapes the Pushgateway every
    # second; wait until it has both groups.
    # Pushed series keep their own job ("enlight", from the push URL) and
    # have no instance (honor_labels); live scrapes have instance=host:port.
    pushed = 'enlight_bus_exits_total{job="enlight",instance="",experiment="prometheus-test"}'
    deadline = time.time() + 20
    while time.time() < deadline:
        got = by_labels(query(prom, f"sum by (variant) ({pushed})"), "variant")
        if set(got) == {(v,) for v in variants}:
            break
        time.sleep(0.5)
    for name, report in reports.items():
        bus, counters = expected(report)
        got = by_labels(query(prom, f'sum by (plugin, kind) (enlight_bus_exits_total{{job="enlight",instance="",'
                                    f'variant="{name}"}})'), "plugin", "kind")
        # The exposition leaves out zero series; the report keeps them.
        want = {k: float(v) for k, v in bus.items() if v != 0}
        check(got == want and len(want) > 0,
              f"variant={name}: bus exits by plugin and kind in Prometheus equal the run's own ({len(want)} series, "
              f"{int(sum(want.values()))} exits)" + ("" if got == want else f": got {got}, want {want}"))
        mismatched = []
        for counter, value in counters.items():
            r = query(prom, f'sum({counter}{{job="enlight",instance="",variant="{name}"}})')
            have = float(r[0]["value"][1]) if r else None
            if have != float(value):
                mismatched.append((counter, have, value))
        check(not mismatched and len(counters) > 0,
              f"variant={name}: {len(counters)} plugin and core counters equal the run's own"
              + ("" if not mismatched else f": {mismatched}"))
    # The two variants differ where they should: only one loaded synic.
    synic = by_labels(query(prom, 'enlight_plugin_info{plugin="synic",job="enlight",instance=""}'), "variant")
    check(set(synic) == {("more-plugins",)}, f"only variant=more-plugins has synic loaded ({sorted(synic)})")

    # The shipped recording rules, from the live scrapes: a positive PM
    # timer exit rate per variant (each read is one), and the bus exit
    # rate's series per variant.
    want = {(v,) for v in variants}
    deadline = time.time() + 15
    rates = bus_rates = {}
    while time.time() < deadline:
        rates = by_labels(query(prom, "variant:enlight_machine_pm_timer_reads:rate1m"), "variant")
        bus_rates = by_labels(query(prom, "variant:enlight_bus_exits:rate1m"), "variant")
        if set(rates) == want and all(v > 0 for v in rates.values()) and set(bus_rates) == want:
            break
        time.sleep(0.5)
    check(set(rates) == want and all(v > 0 for v in rates.values()),
          f"recording rule variant:enlight_machine_pm_timer_reads:rate1m is positive per variant: {rates}")
    check(set(bus_rates) == want, f"recording rule variant:enlight_bus_exits:rate1m has each variant: {bus_rates}")
    if failures:
        for q in ('enlight_machine_pm_timer_reads_total{instance!=""}[2m]', 'up{job="enlight"}[2m]',
                  'scrape_samples_scraped{job="enlight"}[2m]'):
            body = json.loads(get(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": q})))
            print(q, [(r["metric"].get("variant"), r["values"]) for r in body["data"]["result"]])
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    if failures:
        print(f"kept {work} for a look")
    else:
        shutil.rmtree(work, ignore_errors=True)

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
