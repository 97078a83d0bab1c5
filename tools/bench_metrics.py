#!/usr/bin/env python3
"""Benchmark: Inception feature throughput (images/s) of vqrt vs pytorch-fid's model on CPU with the same thread count,
and the time of one FID on 2048-d statistics, vqrt vs pytorch-fid (scipy sqrtm). Prints the ratios.

    swift build -c release --product vqrt
    nice .venv-tools/bin/python tools/bench_metrics.py --vqrt .build/release/vqrt [--images 100] [--threads 2]
                                                       [--batch-size 50]

Both sides run the whole pipeline over the same directory of 256x256 PNGs: decode, /255, bilinear resize to 299,
2x-1, Inception pool3 (pytorch-fid `get_activations`, DataLoader with num_workers=0; `vqrt fid-stats`). The first
batch (oneDNN primitive creation, caches) is timed separately and left out of the steady-state rate on both sides:
vqrt reports its own rate after the first batch (from `vqrt features` progress) and its total wall time including
weight loading. Weights: "inception-fixture v1" (tools/make_inception_fixtures.py) in the released file's layout;
the arithmetic does not depend on the values.
FID: the statistics of two synthetic 2500 x 2048 feature sets ("fid-features v1"), as pytorch-fid .npz files;
pytorch-fid's `calculate_frechet_distance` (scipy.linalg.sqrtm) vs `vqrt fid a.npz b.npz` (wall and CPU time of the
whole command, process start and file reading included, and the in-process time it reports with --timing; medians
of --fid-runs runs).
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import make_inception_fixtures as fixtures  # noqa: E402


def make_images(directory, n):
    from PIL import Image
    os.makedirs(directory, exist_ok=True)
    for i in range(n):
        rng = np.random.default_rng([7, i])
        g = int(rng.integers(4, 64))
        a = rng.integers(0, 256, (g, g, 3), dtype=np.uint8).repeat(256 // g + 1, 0).repeat(256 // g + 1, 1)[:256, :256]
        Image.fromarray(np.ascontiguousarray(a)).save(os.path.join(directory, f"img_{i:05d}.png"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vqrt", default=os.path.join(ROOT, ".build", "release", "vqrt"))
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--skip-fid", action="store_true")
    ap.add_argument("--skip-features", action="store_true")
    ap.add_argument("--fid-runs", type=int, default=5, help="runs of `vqrt fid` (the median is reported)")
    args = ap.parse_args()

    import torch
    import pytorch_fid.inception as pfi
    from pytorch_fid import fid_score
    torch.set_num_threads(args.threads)
    work = tempfile.mkdtemp(prefix="vqrt-bench-")
    print(f"threads {args.threads}, batch {args.batch_size}, torch {torch.__version__} "
          f"({fixtures.cpu_capability()}), workdir {work}")

    if not args.skip_features:
        images = os.path.join(work, "images")
        make_images(images, args.images)
        weights = os.path.join(work, "inception.pth")
        fixtures.write_weights(weights, 1)
        fixtures.patch_weight_loading(fixtures.fixture_state_dict(1))
        model = pfi.InceptionV3([3]).eval()
        files = sorted(os.path.join(images, f) for f in os.listdir(images))
        bs = args.batch_size
        t0 = time.time()
        fid_score.get_activations(files[:bs], model, batch_size=bs, num_workers=0)
        first = time.time() - t0
        t0 = time.time()
        fid_score.get_activations(files[bs:], model, batch_size=bs, num_workers=0)
        rest = time.time() - t0
        torch_rate = (len(files) - bs) / rest
        print(f"pytorch-fid: first batch {first:.2f} s, then {torch_rate:.2f} img/s")

        env = dict(os.environ)
        # Idle OpenMP threads must sleep rather than spin between oneDNN calls, or they take the cores from vqrt's
        # own kernels (vqrt's main re-executes itself with this setting when it is not set; set here for builds
        # without that).
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        t0 = time.time()
        out = subprocess.run([args.vqrt, "features", "--inception", weights, images, "--output",
                              os.path.join(work, "f.npz"), "--threads", str(args.threads),
                              "--batch-size", str(bs), "--timing"], capture_output=True, text=True, env=env)
        wall = time.time() - t0
        if out.returncode != 0:
            sys.exit(f"vqrt failed: {out.stderr}")
        m = re.search(r"steady ([0-9.]+) img/s", out.stderr)
        vqrt_rate = float(m.group(1)) if m else args.images / wall
        print(out.stderr.strip().splitlines()[-1])
        print(f"vqrt: {vqrt_rate:.2f} img/s after the first batch ({wall:.2f} s wall for {args.images} images, "
              f"weights loading included)")
        print(f"throughput ratio vqrt / pytorch-fid: {vqrt_rate / torch_rate:.2f}x")

    if not args.skip_fid:
        stats = []
        for name, shift in (("A", 0.10), ("B", 0.12)):
            f = fixtures.fid_features(name, 2500, 7, shift)
            mu, sigma = np.mean(f, axis=0), np.cov(f, rowvar=False)
            path = os.path.join(work, f"{name}.npz")
            np.savez_compressed(path, mu=mu, sigma=sigma)
            stats.append((mu, sigma, path))
        t0 = time.time()
        ref = fid_score.calculate_frechet_distance(stats[0][0], stats[0][1], stats[1][0], stats[1][1])
        scipy_s = time.time() - t0
        # Whole commands (process start and reading both files included), the median of --fid-runs.
        walls, cpus, inners = [], [], []
        for _ in range(args.fid_runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.time()
            out = subprocess.run([args.vqrt, "fid", stats[0][2], stats[1][2], "--threads", str(args.threads),
                                  "--timing"], capture_output=True, text=True)
            walls.append(time.time() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if out.returncode != 0:
                sys.exit(f"vqrt failed: {out.stderr}")
            m = re.search(r"distance ([0-9.]+) s", out.stderr)
            inners.append(float(m.group(1)) if m else walls[-1])
        value = float(re.search(r"FID: (\S+)", out.stdout).group(1))
        wall, cpu, inner = statistics.median(walls), statistics.median(cpus), statistics.median(inners)
        print(f"FID 2048-d: pytorch-fid/scipy {scipy_s:.2f} s ({ref!r}); vqrt (median of {args.fid_runs}) {inner:.3f} s "
              f"in-process, {wall:.3f} s wall incl. reading 2 x 32 MB .npz ({cpu:.3f} s CPU) ({value!r}); speed-up "
              f"{scipy_s / inner:.1f}x, rel. difference {abs(value - ref) / abs(ref):.1e}")
        print("  wall times: " + " ".join(f"{w:.3f}" for w in walls))


if __name__ == "__main__":
    main()
