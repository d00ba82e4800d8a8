"""Turns the JSON lines of scripts/bench-load into the plots of docs/benchmarks.md.

    plot.py RESULTS.jsonl OUTDIR [RUN_ID ...]

Uses, of each kind of measurement, the latest run that has it (or the runs named):
  OUTDIR/benchmark-load.png    latency mode: achieved throughput and p50/p99/p99.9 latency
                               against offered load (V2 URLs, fixed rate, latency-corrected)
  OUTDIR/benchmark-ratios.png  ratios mode and peers: URLs per CPU-second as a fraction of
                               OpenSSL's RSA-2048 signs per CPU-second, same run
A run is marked provisional in the titles when the machine's load average at its start was
above half its CPUs (a shared, busy machine) or PROVISIONAL=1 is set.
"""

import json
import os
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(path):
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def latest_run(records, predicate, wanted):
    runs = [r["run"] for r in records if predicate(r) and (not wanted or r["run"] in wanted)]
    return max(runs) if runs else None


def provisional_note(records, run):
    machine = next((r for r in records if r["bench"] == "machine" and r["run"] == run), None)
    if machine is None:
        return ""
    load1 = float(machine["load_average"].split()[0])
    busy = load1 > machine["cpus"] / 2 or os.environ.get("PROVISIONAL") == "1"
    note = f"run {run}, {machine['cpus']} CPUs, load average {load1:.1f} at start"
    return ("PROVISIONAL (shared, busy machine): " if busy else "") + note


def plot_load(records, run, out):
    rows = [r for r in records if r["bench"] == "latency" and r["run"] == run and r["kind"] == "v2"]
    fixed = sorted((r for r in rows if r["offered_per_second"] is not None and r["percent_of_max"] > 0),
                   key=lambda r: float(r["offered_per_second"]))
    maximum = next((r for r in rows if r["offered_per_second"] is None), None)
    if not fixed:
        return False
    offered = [float(r["offered_per_second"]) for r in fixed]
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
    throughput.plot(offered, [r["per_second"] for r in fixed], "o-", label="achieved")
    throughput.plot(offered, offered, ":", color="grey", label="offered")
    if maximum:
        throughput.axhline(maximum["per_second"], color="tab:red", linestyle="--",
                           label=f"maximum, closed loop ({maximum['per_second']:.0f}/s)")
    throughput.set_xlabel("offered load, V2 URLs/s")
    throughput.set_ylabel("issued URLs/s")
    throughput.set_title("Throughput against offered load")
    throughput.legend(fontsize=8)
    throughput.grid(alpha=0.3)
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99"), ("p999_ms", "p99.9")):
        latency.plot(offered, [r[key] for r in fixed], "o-", label=label)
    floor = next((r for r in rows if r["percent_of_max"] == 0), None)
    if floor:
        latency.axhline(floor["p99_ms"], color="grey", linestyle=":",
                        label=f"floor p99 (1 connection, 100/s): {floor['p99_ms']:.2f} ms")
    for r, x in zip(fixed, offered):
        latency.annotate(f"{r['percent_of_max']}%", (x, r["p50_ms"]), textcoords="offset points",
                         xytext=(0, -12), ha="center", fontsize=7)
    latency.set_yscale("log")
    latency.set_xlabel("offered load, V2 URLs/s (fixed rate, latency-corrected)")
    latency.set_ylabel("latency, ms")
    latency.set_title("Latency against offered load")
    latency.legend(fontsize=8)
    latency.grid(alpha=0.3, which="both")
    workers = fixed[0]["workers"]
    figure.suptitle(f"storage-signer, {workers} worker(s), service on CPU {fixed[0]['service_cpus'] or 'any'}, "
                    f"load generator (oha) on CPU {fixed[0]['generator_cpus'] or 'any'}\n"
                    f"{provisional_note(records, run)}", fontsize=9)
    figure.tight_layout()
    figure.savefig(os.path.join(out, "benchmark-load.png"), dpi=110)
    return True


def plot_ratios(records, ratio_run, peer_run, out):
    bars = []
    if ratio_run:
        rows = [r for r in records if r["run"] == ratio_run]
        openssl = {r["round"]: r["signs_per_cpu_second"] for r in rows if r["bench"] == "openssl" and r["mode"] == "ratios"}
        per_kind = defaultdict(list)
        for r in rows:
            if r["bench"] == "load" and r["mode"] == "ratios" and r["kind"] != "healthz":
                per_kind[r["kind"]].append(r["per_cpu_second"] / openssl[r["round"]])
        names = {"v2": "storage-signer V2", "v4": "storage-signer V4", "batch": "storage-signer V2, batch of 10",
                 "get": "storage-signer repeated GET"}
        for kind in ("v2", "v4", "batch", "get"):
            if per_kind.get(kind):
                bars.append((names[kind], statistics.median(per_kind[kind]), "tab:blue"))
    if peer_run:
        rows = [r for r in records if r["run"] == peer_run and r["bench"] in ("peer", "load")]
        per_kind = defaultdict(list)
        for r in rows:
            if r["bench"] == "peer":
                per_kind[r["kind"]].append(r["result"]["per_cpu_second"] / r["openssl_signs_per_cpu_second"])
            elif r.get("mode") == "peers":
                per_kind[r["kind"]].append(r["per_cpu_second"] / r["openssl_signs_per_cpu_second"])
        names = {"inprocess-v2": "google-cloud-storage in-process V2", "inprocess-v4": "google-cloud-storage in-process V4",
                 "flask-gunicorn-v2": "Flask + gunicorn on it, V2"}
        for kind in ("inprocess-v2", "inprocess-v4", "flask-gunicorn-v2"):
            if per_kind.get(kind):
                bars.append((names[kind], statistics.median(per_kind[kind]), "tab:orange"))
    if not bars:
        return False
    figure, axes = plt.subplots(figsize=(9, 0.5 * len(bars) + 1.6))
    labels = [b[0] for b in bars][::-1]
    values = [b[1] for b in bars][::-1]
    axes.barh(labels, values, color=[b[2] for b in bars][::-1])
    for y, value in enumerate(values):
        axes.text(value, y, f" {value:.2f}", va="center", fontsize=8)
    axes.axvline(1.0, color="grey", linestyle=":")
    axes.set_xlabel("URLs per CPU-second / OpenSSL RSA-2048 signs per CPU-second (same run; 1 = OpenSSL)")
    note = provisional_note(records, ratio_run or peer_run)
    axes.set_title(f"Signed URLs per CPU-second against OpenSSL\n{note}", fontsize=9)
    axes.set_xlim(0, max(1.15, max(values) * 1.15))
    figure.tight_layout()
    figure.savefig(os.path.join(out, "benchmark-ratios.png"), dpi=110)
    return True


def main():
    path, out, wanted = sys.argv[1], sys.argv[2], set(sys.argv[3:])
    records = load(path)
    latency_run = latest_run(records, lambda r: r["bench"] == "latency", wanted)
    ratio_run = latest_run(records, lambda r: r["bench"] == "load" and r.get("mode") == "ratios", wanted)
    peer_run = latest_run(records, lambda r: r["bench"] == "peer", wanted)
    made = []
    if latency_run and plot_load(records, latency_run, out):
        made.append("benchmark-load.png")
    if (ratio_run or peer_run) and plot_ratios(records, ratio_run, peer_run, out):
        made.append("benchmark-ratios.png")
    print("wrote " + ", ".join(os.path.join(out, m) for m in made) if made else "nothing to plot")


if __name__ == "__main__":
    main()
