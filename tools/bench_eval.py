#!/usr/bin/env python3
"""The whole evaluation, vqrt against the upstream route, plus eval's own overheads, contention and memory.

    .venv-tools/bin/python tools/bench_eval.py --vqrt .build/release/vqrt [--images 200] [--repeats 3]
        [--only rt-f8 ldm-32x32x4 vit-small] [--memory-images 200 2000] [--contention-runs 3] [--skip ...]

Targets (issue 13), each printed as met or not at the end:
- route: `vqrt eval` against the route the paper's repositories take, on the same directory of 256x256 PNGs
  (crops of scikit-image's photos), same weights, same threads: (1) PyTorch reconstructs every image and writes the
  originals and reconstructions as PNGs, as rotation_trick's src/reconstruction_fid.py does (the reference model of
  tools/reference, fp32, torch.no_grad, batches of --batch-size); (2) `python -m pytorch_fid ORIG REC --device cpu`
  (its defaults: batch 50, DataLoader workers = cores); (3) pytorch-image-generation-metrics'
  get_inception_score_from_directory(REC) (10 splits). Each step is a fresh process, as a user runs them; the route's
  time is the sum of their wall times. Inception weights: the "inception-fixture v1" state dict in the released
  file's layout (tools/make_inception_fixtures.py), handed to both packages' load_state_dict_from_url from the same
  .pth file vqrt reads. Paired: every repeat runs both sides back to back (alternating which goes first), and the
  ratio is the median of the per-repeat ratios, so the load other users put on the machine cancels out as far as
  it can. Target: >= 3x for every model.
- wall vs compute: from the same vqrt runs (`vqrt eval --timing`): the process's wall time against the model +
  Inception compute it reports. Target: within 10% (runs of >= 200 images).
- contention: `vqrt fid A.npz B.npz` (two 2048-d statistics) and a small `vqrt eval` (the demo model), each alone
  and while one CPU-bound process (a Python busy loop) runs, alternating, median of --contention-runs each. Target:
  no more than 2x the quiet wall time.
- memory: peak RSS (wait4) of `vqrt eval` with the demo model over --memory-images counts of small synthetic
  images. Target: the largest run's peak within 10% (+ 20 MB) of the smallest's.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench  # noqa: E402  (models, checkpoints)
import bench_load  # noqa: E402  (process runner with peak RSS)
import make_inception_fixtures as fixtures  # noqa: E402

BENCH_DIR = bench.BENCH_DIR
ROUTE_MODELS = ["rt-f8", "ldm-32x32x4", "vit-small"]

# Step 1 of the upstream route: reconstruct and write PNGs as rotation_trick's src/reconstruction_fid.py does (with
# each family's own preprocessing and 8-bit mapping).
TORCH_RECONSTRUCT = r"""
import os, sys, torch, numpy as np
from PIL import Image
sys.path.insert(0, sys.argv[1])
from bench import build_model
key, ckpt, images, orig_dir, rec_dir, threads, batch = sys.argv[2:9]
torch.set_num_threads(int(threads))
model = build_model(key, ckpt).eval()
files = sorted(os.path.join(images, f) for f in os.listdir(images))
CLIP_MEAN, CLIP_STD = np.array([0.4815, 0.4578, 0.4082]), np.array([0.2686, 0.2613, 0.2758])
def load(path):
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    if key.startswith("rt-"):   # rotation_trick: ToTensor, Normalize(CLIP mean/std)
        return (a / 255 - CLIP_MEAN) / CLIP_STD
    if key.startswith("ldm-"):  # latent-diffusion: x/127.5 - 1
        return a / 127.5 - 1
    return a / 255              # enhancing-transformers: ToTensor
def to_uint8(x):
    x = x.permute(0, 2, 3, 1).numpy().astype(np.float64)
    if key.startswith("rt-"):
        return (np.clip(x * CLIP_STD + CLIP_MEAN, 0, 1) * 255).astype(np.uint8)
    if key.startswith("ldm-"):
        return np.clip((x + 1) * 127.5, 0, 255).astype(np.uint8)
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)
b = int(batch)
with torch.no_grad():
    for i in range(0, len(files), b):
        x = torch.from_numpy(np.stack([load(f) for f in files[i:i + b]]).astype(np.float32)).permute(0, 3, 1, 2)
        lat, codes = model.encode(x)
        rec = to_uint8(model.decode_codes(codes))
        orig = to_uint8(x)
        for k in range(rec.shape[0]):
            Image.fromarray(rec[k]).save(os.path.join(rec_dir, f"{i // b}_{k}.png"))
            Image.fromarray(orig[k]).save(os.path.join(orig_dir, f"{i // b}_{k}.png"))
"""

# Steps 2 and 3: the packages' own entry points, their weight download replaced by the fixture file.
PATCH = r"""
import sys, torch
sys.path.insert(0, sys.argv[1])
import make_inception_fixtures as f
f.patch_weight_loading(torch.load(sys.argv[2], map_location="cpu"))
"""
TORCH_FID = PATCH + r"""
import runpy
sys.argv = ["pytorch_fid", sys.argv[3], sys.argv[4], "--device", "cpu"]
runpy.run_module("pytorch_fid", run_name="__main__")
"""
TORCH_IS = PATCH + r"""
from pytorch_image_generation_metrics import get_inception_score_from_directory
(mean, std) = get_inception_score_from_directory(sys.argv[3], splits=10, device=torch.device("cpu"))
print(f"IS: {mean} {std}")
"""

BUSY = "while True: pass"


def photos(directory, n, side=256):
    """n PNGs of side x side: crops (with flips) of scikit-image's bundled photos, deterministic."""
    import numpy as np
    from PIL import Image
    from skimage import data
    if os.path.isdir(directory) and len(os.listdir(directory)) == n:
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    sources = []
    for name in ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
                 "colorwheel", "cat", "coins", "camera", "page"]:
        try:
            img = np.asarray(getattr(data, name)())
        except Exception:  # noqa: BLE001  (photos needing a download are left out)
            continue
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, 2)
        img = img[:, :, :3]
        if min(img.shape[:2]) < side:
            img = np.asarray(Image.fromarray(img).resize((max(side, img.shape[1]), max(side, img.shape[0]))))
        sources.append(img)
    rng = np.random.default_rng(13)
    for i in range(n):
        img = sources[i % len(sources)]
        y = int(rng.integers(0, img.shape[0] - side + 1))
        x = int(rng.integers(0, img.shape[1] - side + 1))
        crop = img[y:y + side, x:x + side]
        if rng.integers(0, 2):
            crop = crop[:, ::-1]
        Image.fromarray(np.ascontiguousarray(crop)).save(os.path.join(directory, f"img_{i:05d}.png"))
    return directory


def small_images(directory, n, side=48):
    """n small synthetic PNGs (blocks of random colours), deterministic."""
    import numpy as np
    from PIL import Image
    if os.path.isdir(directory) and len(os.listdir(directory)) == n:
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    for i in range(n):
        rng = np.random.default_rng([5, i])
        g = int(rng.integers(2, 12))
        a = rng.integers(0, 256, (g, g, 3), dtype=np.uint8).repeat(side // g + 1, 0).repeat(side // g + 1, 1)[:side, :side]
        Image.fromarray(np.ascontiguousarray(a)).save(os.path.join(directory, f"s_{i:05d}.png"))
    return directory


def timed(cmd, env=None):
    """(wall seconds, stdout, stderr) of cmd in a fresh process; exits on failure."""
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return wall, p.stdout, p.stderr


def torch_env():
    env = dict(os.environ)
    env["OMP_WAIT_POLICY"] = "PASSIVE"  # PyTorch's faster setting on a shared machine (tools/bench.py)
    return env


def upstream_route(key, ckpt, images, inception, threads, batch, work):
    orig, rec = os.path.join(work, "orig"), os.path.join(work, "rec")
    for d in (orig, rec):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    env = torch_env()
    py = sys.executable
    steps = {}
    steps["reconstruct + PNGs"], _, _ = timed([py, "-c", TORCH_RECONSTRUCT, HERE, key, ckpt, images, orig, rec,
                                               str(threads), str(batch)], env)
    steps["pytorch_fid"], out, _ = timed([py, "-c", TORCH_FID, HERE, inception, orig, rec], env)
    fid = float(re.search(r"FID:\s*(\S+)", out).group(1))
    steps["Inception Score"], out, _ = timed([py, "-c", TORCH_IS, HERE, inception, rec], env)
    return sum(steps.values()), steps, fid


TIMING = re.compile(r"timing: wall ([0-9.]+) s = loading ([0-9.]+) \+ batches ([0-9.]+) \+ report ([0-9.]+); batches: "
                    r"model ([0-9.]+), Inception(?: and per-image metrics)? ([0-9.]+), (?:other )?per-image statistics "
                    r"([0-9.]+), waiting for images "
                    r"([0-9.]+), saves ([0-9.]+)")


def vqrt_eval(vqrt, ckpt, images, inception, threads, batch, report, extra=()):
    cmd = [vqrt, "eval", "--checkpoint", ckpt, "--inception", inception, images, "--report", report, "--threads",
           str(threads), "--batch-size", str(batch), "--restart", "--timing", "--quiet"] + list(extra)
    wall, _, err = timed(cmd)
    m = TIMING.search(err)
    if not m:
        sys.exit(f"no timing line from vqrt eval:\n{err}")
    keys = ["wall", "loading", "batches", "report", "model", "inception", "statistics", "waiting", "saves"]
    t = dict(zip(keys, map(float, m.groups())))
    t["process_wall"] = wall
    fid = json.load(open(os.path.join(report, "report.json")))["r_fid"]
    return t, fid


def route_bench(a, inception, work):
    images = photos(os.path.join(BENCH_DIR, f"photos-{a.images}"), a.images)
    rows = []
    for key in a.only:
        label, name = bench.MODELS[key]
        ckpt = os.path.join(BENCH_DIR, name)
        ratios, vq_walls, up_walls, timings, steps_all = [], [], [], [], []
        for r in range(a.repeats):
            def run_vqrt():
                return vqrt_eval(a.vqrt, ckpt, images, inception, a.threads, a.batch_size, os.path.join(work, "report"))

            def run_up():
                return upstream_route(key, ckpt, images, inception, a.threads, a.batch_size, os.path.join(work, "up"))
            if r % 2 == 0:
                (t, fid_v), (up, steps, fid_u) = run_vqrt(), run_up()
            else:
                (up, steps, fid_u), (t, fid_v) = run_up(), run_vqrt()
            ratios.append(up / t["process_wall"])
            vq_walls.append(t["process_wall"])
            up_walls.append(up)
            timings.append(t)
            steps_all.append(steps)
            print(f"{label:26} run {r + 1}: upstream {up:7.1f} s ("
                  + ", ".join(f"{k} {v:.1f}" for k, v in steps.items())
                  + f"), vqrt eval {t['process_wall']:7.1f} s (model {t['model']:.1f}, Inception {t['inception']:.1f}, "
                    f"loading {t['loading']:.1f}, report {t['report']:.1f}, waiting for images {t['waiting']:.1f}, saves "
                    f"{t['saves']:.1f}); ratio {up / t['process_wall']:.2f}x; r-FID pytorch-fid {fid_u:.4f} vqrt {fid_v:.4f}",
                  flush=True)
        i = sorted(range(len(ratios)), key=lambda i: ratios[i])[len(ratios) // 2]
        t = timings[i]
        rows.append(dict(label=label, ratio=statistics.median(ratios), upstream=statistics.median(up_walls),
                         vqrt=statistics.median(vq_walls), timing=t, steps=steps_all[i],
                         overhead=t["process_wall"] / (t["model"] + t["inception"])))
    print()
    print(f"{a.images} images of 256x256, {a.threads} threads, batch {a.batch_size}, median of {a.repeats} paired runs:")
    print()
    print("| model | upstream route s | vqrt eval s | upstream / vqrt | vqrt model s | vqrt Inception s | "
          "eval wall / (model + Inception) | rest of eval's wall |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        t = r["timing"]
        rest = (f"loading {t['loading']:.1f}, statistics {t['statistics']:.1f}, waiting for images {t['waiting']:.1f}, "
                f"saves {t['saves']:.1f}, report {t['report']:.1f}, process {t['process_wall'] - t['wall']:.1f}")
        print(f"| {r['label']} | {r['upstream']:.1f} | {r['vqrt']:.1f} | {r['ratio']:.2f}x | {t['model']:.1f} | "
              f"{t['inception']:.1f} | {r['overhead']:.3f} | {rest} |")
    return rows


def median_wall(cmd, runs, env=None, busy=False):
    walls = []
    for _ in range(runs):
        hog = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
        try:
            if hog:
                time.sleep(0.3)
            walls.append(timed(cmd, env)[0])
        finally:
            if hog:
                hog.kill()
                hog.wait()
    return statistics.median(walls), walls


def contention_bench(a, inception, work):
    import numpy as np
    stats = []
    for name, shift in (("A", 0.10), ("B", 0.12)):
        path = os.path.join(work, f"{name}.npz")
        f = fixtures.fid_features(name, 2500, 7, shift)
        np.savez_compressed(path, mu=np.mean(f, axis=0), sigma=np.cov(f, rowvar=False))
        stats.append(path)
    demo = os.path.join(ROOT, "Fixtures", "demo")
    images = small_images(os.path.join(BENCH_DIR, "small-24"), 24, 128)
    commands = {
        "vqrt fid (2 x 2048-d statistics)": [a.vqrt, "fid", stats[0], stats[1], "--threads", str(a.threads)],
        "vqrt eval (demo model, 24 images)": [a.vqrt, "eval", "--checkpoint", os.path.join(demo, "demo-vqgan.ckpt"),
                                              "--config", os.path.join(demo, "config.yaml"), "--inception", inception,
                                              images, "--report", os.path.join(work, "contention-report"), "--restart",
                                              "--threads", str(a.threads), "--quiet"],
    }
    rows = []
    for label, cmd in commands.items():
        quiet, loaded = [], []
        for r in range(a.contention_runs):  # paired: quiet and contended back to back, alternating the order
            for busy in ([False, True] if r % 2 == 0 else [True, False]):
                (loaded if busy else quiet).append(median_wall(cmd, 1, busy=busy)[0])
        q, l = statistics.median(quiet), statistics.median(loaded)
        rows.append((label, q, l))
        print(f"{label}: quiet {q:.2f} s, with one CPU-bound process {l:.2f} s ({l / q:.2f}x); runs quiet "
              + " ".join(f"{x:.2f}" for x in quiet) + ", contended " + " ".join(f"{x:.2f}" for x in loaded), flush=True)
    return rows


def memory_bench(a, inception, work):
    demo = os.path.join(ROOT, "Fixtures", "demo")
    rows = []
    for n in a.memory_images:
        images = small_images(os.path.join(BENCH_DIR, f"small-{n}"), n)
        report = os.path.join(work, f"memory-{n}")
        t = time.perf_counter()
        _, peak_kb = bench_load.run_measured(
            [a.vqrt, "eval", "--checkpoint", os.path.join(demo, "demo-vqgan.ckpt"), "--config",
             os.path.join(demo, "config.yaml"), "--inception", inception, images, "--report", report, "--restart",
             "--threads", str(a.threads), "--quiet"])
        wall = time.perf_counter() - t
        if not os.path.exists(os.path.join(report, "report.json")):
            sys.exit(f"vqrt eval over {n} images wrote no report")
        rows.append((n, peak_kb / 1024, wall))
        print(f"vqrt eval, demo model, {n} synthetic 48x48 images: peak RSS {peak_kb / 1024:.0f} MB ({wall:.0f} s)",
              flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vqrt", default=os.path.join(ROOT, ".build", "release", "vqrt"))
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--only", nargs="+", default=ROUTE_MODELS, choices=list(bench.MODELS))
    ap.add_argument("--memory-images", type=int, nargs="+", default=[200, 2000])
    ap.add_argument("--contention-runs", type=int, default=3)
    ap.add_argument("--skip", nargs="+", default=[], choices=["route", "contention", "memory"])
    a = ap.parse_args()
    a.vqrt = os.path.abspath(a.vqrt)
    bench.write_checkpoints(a.only)
    work = tempfile.mkdtemp(prefix="vqrt-bench-eval-")
    inception = os.path.join(work, "inception.pth")
    fixtures.write_weights(inception, 1)
    load = open("/proc/loadavg").read().split()[:3]
    print(f"{a.threads} threads; load average at the start {' '.join(load)}; work directory {work}", flush=True)
    route = [] if "route" in a.skip else route_bench(a, inception, work)
    contention = [] if "contention" in a.skip else contention_bench(a, inception, work)
    memory = [] if "memory" in a.skip else memory_bench(a, inception, work)
    print(f"load average at the end {' '.join(open('/proc/loadavg').read().split()[:3])}")
    print()
    print("Targets:")

    def target(name, ok, detail):
        print(f"- [{'x' if ok else ' '}] {name}: {detail}")
    if route:
        target(f"eval >= 3x the upstream route ({a.images} images)", all(r["ratio"] >= 3 for r in route),
               ", ".join(f"{r['label']} {r['ratio']:.2f}x" for r in route))
        target(f"eval wall time within 10% of its model + Inception compute ({a.images} images)",
               all(r["overhead"] <= 1.10 for r in route),
               ", ".join(f"{r['label']} {r['overhead']:.3f}" for r in route))
    if contention:
        target("fid and eval <= 2x their quiet wall time beside one CPU-bound process",
               all(l <= 2 * q for _, q, l in contention), ", ".join(f"{n} {l / q:.2f}x" for n, q, l in contention))
    if memory:
        lo, hi = memory[0], memory[-1]
        target(f"eval peak RSS independent of the number of images ({lo[0]} vs {hi[0]})",
               hi[1] <= 1.1 * lo[1] + 20, f"{lo[1]:.0f} MB vs {hi[1]:.0f} MB")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
