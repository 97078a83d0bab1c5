#!/usr/bin/env python3
"""What the portable build costs: reconstruction with the default x86-64-v3 build against a build for this machine's
own CPU (`make native`), same models, inputs and threads as tools/bench.py.

    .venv-tools/bin/python tools/bench_portability.py --portable .build/release/vqrt \
        --native .build-native/release/vqrt [--repeats 3] [--rounds 2] [--batches 1 8] [--only rt-f8 ...] [--paired]

For each model and batch: `vqrt bench` in a fresh process per measurement (one warm-up, then --repeats timed
batches), --rounds times per build. By default the builds take turns (ABBA order, so slow drifts hit both alike)
with all cores each. With --paired the two builds run at the same time, each on half the threads (default 1), so
whatever else the machine is doing slows both alike: on a machine other jobs keep busy, a sequential comparison
swings by tens of percent, a paired one by a few. A row reports, per build, the median timed batch over all rounds
and the median of each process's CPU seconds (user + system, from wait4). Ends with the target (portable within 3%
of native, on batch time), marked met or not. On a CPU whose native instruction set is x86-64-v3's (AVX2 machines
such as AMD EPYC Zen 2/3) the two builds differ only in tuning; on AVX-512 CPUs native also compiles vqrt's own
SIMD loops for 512-bit registers.
"""
import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (models, checkpoints)


def start(cmd):
    """Starts cmd with stdout to a pipe; returns (pid, read end)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.execv(cmd[0], cmd)
    os.close(w)
    return pid, r


def finish(pid, r, cmd):
    """(the command's last JSON line, its user+system CPU seconds)."""
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
    ap.add_argument("--rounds", type=int, default=2, help="runs per build and row")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--only", nargs="+", default=list(bench.MODELS))
    ap.add_argument("--paired", action="store_true", help="run the two builds at the same time (for a busy machine)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads per process (default: all cores; with --paired, half of them)")
    a = ap.parse_args()
    threads = a.threads or (max(1, (os.cpu_count() or 2) // 2) if a.paired else os.cpu_count())
    builds = {"portable": os.path.abspath(a.portable), "native": os.path.abspath(a.native)}
    bench.write_checkpoints()
    mode = "paired, at the same time" if a.paired else "taking turns"
    print(f"{a.rounds} runs per build ({mode}), {threads} thread(s) each, one warm-up + {a.repeats} timed batches per run",
          flush=True)
    rows = []
    for key in a.only:
        label, name = bench.MODELS[key]
        path = os.path.join(bench.BENCH_DIR, name)
        for batch in a.batches:
            seconds = {b: [] for b in builds}
            cpu = {b: [] for b in builds}

            def cmd(b):
                return [builds[b], "bench", "--checkpoint", path, "--batch-size", str(batch), "--repeats",
                        str(a.repeats), "--threads", str(threads), "--size", "256"]

            def record(b, result):
                v, c = result
                seconds[b].extend(v["times"])
                cpu[b].append(c)

            for round_ in range(a.rounds):
                order = ["portable", "native"] if round_ % 2 == 0 else ["native", "portable"]
                if a.paired:
                    running = {b: start(cmd(b)) for b in order}
                    for b in order:
                        record(b, finish(*running[b], cmd(b)))
                else:
                    for b in order:
                        record(b, finish(*start(cmd(b)), cmd(b)))
            p, n = statistics.median(seconds["portable"]), statistics.median(seconds["native"])
            pc, nc = statistics.median(cpu["portable"]), statistics.median(cpu["native"])
            rows.append((label, batch, batch / p, batch / n, p / n - 1, pc / nc - 1))
            print(f"{label:26} batch {batch}: portable {batch / p:7.3f} img/s  native {batch / n:7.3f} img/s  "
                  f"portable costs {100 * (p / n - 1):+5.1f}% (batch time), {100 * (pc / nc - 1):+5.1f}% (CPU time)  "
                  f"(timed batches, s: portable {' '.join(f'{s:.3f}' for s in seconds['portable'])}, "
                  f"native {' '.join(f'{s:.3f}' for s in seconds['native'])})", flush=True)
    print()
    print("| model | batch | portable img/s | native img/s | portable costs (batch time) | (process CPU time) |")
    print("|---|---|---|---|---|---|")
    for label, batch, p, n, cost, cost_cpu in rows:
        print(f"| {label} | {batch} | {p:.3f} | {n:.3f} | {100 * cost:+.1f}% | {100 * cost_cpu:+.1f}% |")
    print()
    worst = max(rows, key=lambda r: r[4])
    print(f"- [{'x' if all(r[4] < 0.03 for r in rows) else ' '}] portable build (x86-64-v3) within 3% of native: "
          f"largest cost {100 * worst[4]:+.1f}% ({worst[0]} batch {worst[1]}; {mode}, {threads} thread(s) each)")


if __name__ == "__main__":
    main()
