#!/usr/bin/python3
"""run.py — edgecc against ONNX Runtime on the benchmark set, side by side.

    benchmarks/run.py --edgecc build/edgecc [--threads 1,2] [--rounds 15] [--round-ms 150]
                      [--models DIR] [--only mlp,cnn] [--csv results.csv] [--peak 165]

Generates the models (benchmarks/models.py) unless --models holds them, compiles each for the
host with `edgecc bench -d` (the program is kept and rerun), then for each thread count runs
edgecc and ONNX Runtime (benchmarks/ort_bench.js; benchmarks/setup_ort.sh installs it)
alternately, ROUNDS times each; a round times about ROUND_MS of runs after a warm-up (short
rounds, many of them: load from other processes then hits both sides alike). A figure is the
median over the rounds of each round's median; the ratio is edgecc / ORT, so below 1 is faster.
The fastest single run of each side is reported too (min_ratio).
Models edgecc cannot compile yet (unsupported ops) are listed as skipped with the reason.
Prints the table and the geometric mean of the ratios, and writes the rows as CSV.
"""
import argparse
import csv
import math
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["mlp", "cnn", "mobilenetv2", "resnet18", "dscnn", "transformer", "lstm", "yolohead",
         "cnn_int8", "mobilenetv2_int8", "resnet18_int8", "dscnn_int8"]
LAYERS = ["gemm", "conv3x3"]  # single layers for the GEMM throughput figure, not in the mean


def parse(text, key):
    for line in text.splitlines():
        if line.startswith(key):
            return float(line[len(key):].split()[0])
    return None


def edgecc_compile(edgecc, model, workdir, threads):
    """Compiles and runs MODEL once through `edgecc bench -d`; returns (MFLOP, None) or (None, why)."""
    cmd = [edgecc, "bench", model, "--iters", "1", "-d", workdir, "--threads", str(threads)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        return None, lines[0] if lines else f"edgecc bench failed ({p.returncode})"
    return parse(p.stdout, "MFLOP:"), None


def edgecc_time(workdir, iters):
    """(median, min) in microseconds."""
    p = subprocess.run([os.path.join(workdir, "model"), workdir, str(iters)], capture_output=True, text=True, check=True)
    return parse(p.stdout, "median_ns") / 1e3, parse(p.stdout, "min_ns") / 1e3


def ort_time(model, iters, threads):
    meta = model[:-len(".onnx")] + ".json"
    p = subprocess.run(["node", os.path.join(HERE, "ort_bench.js"), model, meta, str(iters), str(threads)],
                       capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(p.stderr.strip() or "ort_bench.js failed")
    return parse(p.stdout, "median_us"), parse(p.stdout, "min_us")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edgecc", required=True)
    ap.add_argument("--models", default=None, help="folder of the benchmark set (generated if missing)")
    ap.add_argument("--only", default=None, help="comma-separated model names")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--round-ms", type=float, default=150.0, help="timed runs per round: about this long")
    ap.add_argument("--peak", type=float, default=165.0, help="FP32 GFLOP/s of one core")
    ap.add_argument("--csv", default="benchmark.csv")
    args = ap.parse_args()

    models_dir = args.models or os.path.join(tempfile.gettempdir(), "edgecc-bench-models")
    if not all(os.path.exists(os.path.join(models_dir, n + ".onnx")) for n in ORDER + LAYERS):
        subprocess.run(["/usr/bin/python3", os.path.join(HERE, "models.py"), models_dir], check=True)
    names = args.only.split(",") if args.only else ORDER + LAYERS
    threads = [int(t) for t in args.threads.split(",")]
    rows, skipped = [], []
    work = tempfile.mkdtemp(prefix="edgecc-bench-")
    for name in names:
        model = os.path.join(models_dir, name + ".onnx")
        for t in threads:
            workdir = os.path.join(work, f"{name}-{t}")
            mflop, why = edgecc_compile(args.edgecc, model, workdir, t)
            if why:
                skipped.append((name, why))
                break
            iters = max(3, min(200, int(args.round_ms * 1e3 / edgecc_time(workdir, 3)[0])))
            ours, theirs = [], []
            for _ in range(args.rounds):  # alternate, so load changes hit both alike
                ours.append(edgecc_time(workdir, iters))
                theirs.append(ort_time(model, iters, t))
            e, o = statistics.median(m for m, _ in ours), statistics.median(m for m, _ in theirs)
            emin, omin = min(m for _, m in ours), min(m for _, m in theirs)
            gflops = mflop / e * 1e3
            rows.append({"model": name, "threads": t, "MFLOP": round(mflop, 1), "edgecc_us": round(e, 1),
                         "ort_us": round(o, 1), "ratio": round(e / o, 3), "GFLOP/s": round(gflops, 1),
                         "peak_pct": round(100 * gflops / (args.peak * t), 1), "edgecc_min_us": round(emin, 1),
                         "ort_min_us": round(omin, 1), "min_ratio": round(emin / omin, 3)})
            r = rows[-1]
            print(f"  {name} x{t}: edgecc {r['edgecc_us']} us, ORT {r['ort_us']} us, ratio {r['ratio']}",
                  file=sys.stderr, flush=True)

    print(f"{'model':<14}{'MFLOP':>9}{'thr':>5}{'edgecc us':>12}{'ORT us':>12}{'ratio':>8}{'GFLOP/s':>9}{'% peak':>8}"
          f"{'min ratio':>11}")
    for r in rows:
        print(f"{r['model']:<14}{r['MFLOP']:>9.1f}{r['threads']:>5}{r['edgecc_us']:>12.1f}{r['ort_us']:>12.1f}"
              f"{r['ratio']:>8.3f}{r['GFLOP/s']:>9.1f}{r['peak_pct']:>8.1f}{r['min_ratio']:>11.3f}")
    for t in threads:
        for key, what in (("ratio", "medians"), ("min_ratio", "fastest runs")):
            ratios = [r[key] for r in rows if r["threads"] == t and r["model"] not in LAYERS]
            if ratios:
                gm = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
                print(f"geometric mean edgecc/ORT, {t} thread{'s' if t > 1 else ''}, {what}: {gm:.3f} over"
                      f" {len(ratios)} models; slowest {max(ratios):.3f}")
    for name, why in skipped:
        print(f"skipped {name}: {why}")
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else ["model"])
        w.writeheader()
        w.writerows(rows)
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
