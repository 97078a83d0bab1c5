#!/usr/bin/env python3
"""What the portable build costs: reconstruction with the default x86-64-v3 build against a build for this machine's
own CPU (`make native`), same models, inputs and threads as tools/bench.py.

    .venv-tools/bin/python tools/bench_portability.py --portable .build/release/vqrt \
        --native .build-native/release/vqrt [--repeats 3] [--rounds 2] [--batches 1 8] [--only rt-f8 ...]

For each model and batch: `vqrt bench` in a fresh process per measurement, the two builds alternating (ABBA order
over --rounds, so slow drifts of a shared machine hit both alike); each run is one warm-up then --repeats timed
batches. A row reports, per build, the fastest timed batch over all rounds (the estimate least disturbed by other
processes: they only ever add time) and the median over rounds of each process's CPU seconds (user + system, from
wait4; best measured with --threads 1 on a busy machine, where waiting threads would otherwise spin). Ends with
the target (portable within 3% of native on the fastest batch), marked met or not. On a CPU whose native instruction set is
x86-64-v3's (AVX2 machines such as AMD EPYC Zen 2/3) the two builds differ only in tuning; on AVX-512 CPUs native
also compiles vqrt's own SIMD loops for 512-bit registers.
"""
import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (models, checkpoints)


def measured(cmd):
    """(the command's last JSON line, its user+system CPU seconds)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.execv(cmd[0], cmd)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 1 << 16)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return json.loads(b"".join(chunks).decode().strip().splitlines()[-1]), usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--portable", default=os.path.join(HERE, "..", ".build", "release", "vqrt"))
    ap.add_argument("--native", default=os.path.join(HERE, "..", ".build-native", "release", "vqrt"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="rounds per row, alternating ABBA (each round runs both builds)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--only", nargs="+", default=list(bench.MODELS))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    builds = {"portable": os.path.abspath(a.portable), "native": os.path.abspath(a.native)}
    bench.write_checkpoints()
    rows = []
    for key in a.only:
        label, name = bench.MODELS[key]
        path = os.path.join(bench.BENCH_DIR, name)
        for batch in a.batches:
            seconds = {b: [] for b in builds}
            cpu = {b: [] for b in builds}
            for round_ in range(a.rounds):
                order = ["portable", "native"] if round_ % 2 == 0 else ["native", "portable"]
                for b in order:
                    v, c = measured([builds[b], "bench", "--checkpoint", path, "--batch-size", str(batch), "--repeats",
                                     str(a.repeats), "--threads", str(a.threads), "--size", "256"])
                    seconds[b].extend(v["times"])
                    cpu[b].append(c)
            p, n = min(seconds["portable"]), min(seconds["native"])
            pc, nc = statistics.median(cpu["portable"]), statistics.median(cpu["native"])
            rows.append((label, batch, batch / p, batch / n, p / n - 1, pc / nc - 1))
            print(f"{label:26} batch {batch}: portable {batch / p:7.3f} img/s  native {batch / n:7.3f} img/s  "
                  f"portable costs {100 * (p / n - 1):+5.1f}% (fastest batch), {100 * (pc / nc - 1):+5.1f}% (CPU time)  "
                  f"(timed batches, s: portable {' '.join(f'{s:.3f}' for s in seconds['portable'])}, "
                  f"native {' '.join(f'{s:.3f}' for s in seconds['native'])})", flush=True)
    print()
    print("| model | batch | portable img/s | native img/s | portable costs (fastest batch) | (process CPU time) |")
    print("|---|---|---|---|---|---|")
    for label, batch, p, n, cost, cost_cpu in rows:
        print(f"| {label} | {batch} | {p:.3f} | {n:.3f} | {100 * cost:+.1f}% | {100 * cost_cpu:+.1f}% |")
    print()
    worst = max(rows, key=lambda r: r[4])
    print(f"- [{'x' if all(r[4] < 0.03 for r in rows) else ' '}] portable build (x86-64-v3) within 3% of native: "
          f"largest cost {100 * worst[4]:+.1f}% ({worst[0]} batch {worst[1]}; CPU time "
          + ", ".join(f"{r[0]} b{r[1]} {100 * r[5]:+.1f}%" for r in rows) + ")")


if __name__ == "__main__":
    main()
