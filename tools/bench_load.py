#!/usr/bin/env python3
"""Checkpoint-load benchmark: vqrt against torch.load, same file, same machine, same run.

    .venv-tools/bin/python tools/bench_load.py [--repeats 5] [--vqrt .build/release/vqrt]

Builds (once, in /tmp/vqrt_bench) a Table 1 f=8 cosine checkpoint in the rotation_trick layout with AdamW state for
every parameter (~900 MB: weights, exp_avg, exp_avg_sq, plus a pickled scheduler holding the optimizer). Each
method runs in a fresh process that reads every MODEL weight as float32 and sums it (so lazy loaders really touch
the data); the time is measured inside the process (interpreter/torch import excluded), peak RSS by wait4().
Prints medians and the ratio torch/vqrt (> 1 means vqrt is faster).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

TORCH_CHILD = r"""
import json, resource, sys, time, torch
sys.path.insert(0, sys.argv[4])
from reference.containers import _schedulers_module
_schedulers_module()  # the pickled scheduler's class must be importable for torch.load
torch.set_num_threads(int(sys.argv[3]))
path, mmap = sys.argv[1], sys.argv[2] == "mmap"
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
ckpt = torch.load(path, map_location="cpu", weights_only=False, mmap=mmap)
total = 0.0
for k, v in ckpt["model"].items():
    total += float(v.float().sum(dtype=torch.float64))
print(json.dumps({"seconds": time.perf_counter() - t, "base_kb": base, "checksum": total}))
"""


def build(path):
    import torch
    from reference import rt_vqvae
    from reference.containers import rt_args, save_rt_checkpoint
    torch.manual_seed(0)
    model = rt_vqvae.build(8, "cosine")
    n = len(list(model.parameters()))
    save_rt_checkpoint(path, model, rt_args("cosine", 8), optimizer_state_sample=n)


def run_measured(cmd, env=None):
    """Runs cmd, returns (stdout, peak RSS in KiB) using wait4 for the child's own rusage."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.execve(cmd[0], cmd, env if env is not None else os.environ)
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
    return b"".join(chunks).decode(), usage.ru_maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--vqrt", default=os.path.join(HERE, "..", ".build", "release", "vqrt"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--path", default="/tmp/vqrt_bench/table1_f8_cosine.pth")
    a = ap.parse_args()
    os.makedirs(os.path.dirname(a.path), exist_ok=True)
    if not os.path.exists(a.path):
        print(f"building {a.path} ...", file=sys.stderr)
        # In a child process: a forked child starts with its parent's peak RSS (Linux keeps the high-water mark
        # across fork and exec), so building it here with torch would inflate every measurement below.
        subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {HERE!r}); import bench_load; "
                        f"bench_load.build({a.path!r})"], check=True)
    size_mb = os.path.getsize(a.path) / 2**20
    rows = {}
    for name, cmd in [
        ("vqrt inspect --read-weights", [os.path.abspath(a.vqrt), "inspect", a.path, "--read-weights", "--json"]),
        ("torch.load(map_location=cpu)", [sys.executable, "-c", TORCH_CHILD, a.path, "eager", str(a.threads), HERE]),
        ("torch.load(mmap=True)", [sys.executable, "-c", TORCH_CHILD, a.path, "mmap", str(a.threads), HERE]),
    ]:
        secs, rss = [], []
        for _ in range(a.repeats):
            out, peak = run_measured(cmd)
            d = json.loads(out)
            if "read_weights" in d:
                secs.append(d["read_weights"]["seconds"])
                rss.append(peak)
                checksum = d["read_weights"]["checksum"]
            else:
                secs.append(d["seconds"])
                rss.append(peak - d["base_kb"])  # torch's own import is not charged to the load
                checksum = d["checksum"]
        rows[name] = (statistics.median(secs), statistics.median(rss) / 1024, checksum)
    base = rows["vqrt inspect --read-weights"][0]
    print(f"checkpoint: {a.path} ({size_mb:.0f} MB), {a.repeats} runs each, median")
    print(f"{'method':32} {'seconds':>8} {'peak MB':>8} {'vs vqrt':>8}  checksum of the weights")
    for name, (s, m, c) in rows.items():
        print(f"{name:32} {s:8.3f} {m:8.0f} {s / base:7.2f}x  {c:.6f}")


if __name__ == "__main__":
    main()
