#!/usr/bin/env python3
"""vqrt against PyTorch on the same machine, same weights, same inputs, same thread count.

    .venv-tools/bin/python tools/bench.py [--repeats 3] [--batches 1 8] [--only rt-f8 ...] [--vqrt .build/release/vqrt]

For each model (Table 1 f=8 and f=4 cosine, Table 3 32x32x4 and 64x64x3, Table 4 ViT-VQGAN small; real
architectures, random weights, 256x256 inputs) and batch size: reconstruction (encode + quantize + decode) in a
fresh process per measurement, one warm-up then `--repeats` timed runs, median images/s and peak RSS (wait4).
PyTorch runs under torch.inference_mode with torch.set_num_threads(threads), in its default layout and in
channels_last; the faster is reported. The checkpoints are written once to /tmp/vqrt_bench.
"""
import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_load  # noqa: E402  (shared process runner)

BENCH_DIR = "/tmp/vqrt_bench"

MODELS = {
    "rt-f8": ("Table 1 f=8 cosine", "rt_f8_cosine.pth"),
    "rt-f4": ("Table 1 f=4 cosine", "rt_f4_cosine.pth"),
    "ldm-32x32x4": ("Table 3 32x32x4", "ldm_t3_32x32x4.ckpt"),
    "ldm-64x64x3": ("Table 3 64x64x3", "ldm_t3_64x64x3.ckpt"),
    "vit-small": ("Table 4 ViT-VQGAN small", "vit_small.ckpt"),
}

TORCH_CHILD = r"""
import json, resource, sys, time, torch
sys.path.insert(0, sys.argv[1])
from bench import build_model
key, path, batch, repeats, threads, layout = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
torch.set_num_threads(threads)
model = build_model(key, path).eval()
x = torch.sin(torch.arange(batch * 3 * 256 * 256, dtype=torch.float64).reshape(batch, 3, 256 * 256) % (256 * 256) * 0.001
              + torch.arange(batch * 3, dtype=torch.float64).reshape(batch, 3, 1)).float().reshape(batch, 3, 256, 256)
if layout == "channels_last":
    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
def run():
    lat, codes = model.encode(x)
    return model.decode_codes(codes)
with torch.inference_mode():
    run()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); run(); times.append(time.perf_counter() - t)
print(json.dumps({"batch_seconds_median": sorted(times)[len(times) // 2], "times": times}))
"""


def build_model(key, path):
    """The reference PyTorch model for `key` with the weights stored in `path`."""
    import torch
    from reference import ldm_vqgan, rt_vqvae, vit_vqgan
    from reference.containers import _schedulers_module
    _schedulers_module()
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if key.startswith("rt-"):
        m = rt_vqvae.build(8 if key == "rt-f8" else 4, "cosine")
        sd = {k[len("module."):]: v for k, v in ckpt["model"].items()}
    elif key.startswith("ldm-"):
        m = ldm_vqgan.build("table3-" + key[4:])
        sd = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith("loss.")}
    else:
        m = vit_vqgan.build("small")
        sd = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith("loss.")}
    m.load_state_dict(sd, strict=False)
    return m


def write_checkpoints():
    import torch
    from reference import ldm_vqgan, rt_vqvae, vit_vqgan
    from reference.containers import rt_args, save_lightning_ckpt, save_rt_checkpoint
    os.makedirs(BENCH_DIR, exist_ok=True)
    torch.manual_seed(0)
    for key, (_, name) in MODELS.items():
        path = os.path.join(BENCH_DIR, name)
        if os.path.exists(path):
            continue
        print(f"writing {path}", file=sys.stderr)
        if key.startswith("rt-"):
            f = 8 if key == "rt-f8" else 4
            model = rt_vqvae.build(f, "cosine")
            with torch.no_grad():  # a unit-norm codebook, as the EMA cosine codebook is
                e = model.vq._codebook.embed
                e.copy_(torch.nn.functional.normalize(torch.randn_like(e), dim=-1))
            save_rt_checkpoint(path, model, rt_args("cosine", f), optimizer_state_sample=0)
        elif key.startswith("ldm-"):
            save_lightning_ckpt(path, ldm_vqgan.build("table3-" + key[4:]).state_dict(), 1, 1)
        else:
            save_lightning_ckpt(path, vit_vqgan.build("small").state_dict(), 1, 1)


def run_measured(cmd, env=None):
    """Runs cmd in a fresh process; returns (its JSON output, its peak RSS in MB)."""
    out, peak_kb = bench_load.run_measured(cmd, env)
    return json.loads(out), peak_kb / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--only", nargs="+", default=list(MODELS))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--vqrt", default=os.path.join(HERE, "..", ".build", "release", "vqrt"))
    ap.add_argument("--layouts", nargs="+", default=["contiguous", "channels_last"])
    ap.add_argument("--policies", nargs="+", default=["default", "PASSIVE"], help="OpenMP wait policies tried for PyTorch")
    a = ap.parse_args()
    write_checkpoints()
    rows = []
    for key in a.only:
        label, name = MODELS[key]
        path = os.path.join(BENCH_DIR, name)
        for batch in a.batches:
            v, v_rss = run_measured([os.path.abspath(a.vqrt), "bench", "--checkpoint", path, "--batch-size", str(batch),
                                     "--repeats", str(a.repeats), "--threads", str(a.threads), "--size", "256"])
            best = None
            # PyTorch's best configuration: each layout, with libgomp's default (active) and passive waiting.
            for layout in a.layouts:
                for policy in a.policies:
                    env = dict(os.environ)
                    if policy == "PASSIVE":
                        env["OMP_WAIT_POLICY"] = "PASSIVE"
                    t, t_rss = run_measured([sys.executable, "-c", TORCH_CHILD, HERE, key, path, str(batch), str(a.repeats),
                                             str(a.threads), layout], env)
                    if best is None or t["batch_seconds_median"] < best[0]:
                        best = (t["batch_seconds_median"], t_rss, f"{layout}, {policy.lower()} wait")
            vq_ips = batch / v["batch_seconds_median"]
            pt_ips = batch / best[0]
            rows.append((label, batch, vq_ips, pt_ips, vq_ips / pt_ips, v_rss, best[1], best[2]))
            print(f"{label:26} batch {batch}: vqrt {vq_ips:7.3f} img/s  torch {pt_ips:7.3f} img/s ({best[2]})  "
                  f"ratio {vq_ips / pt_ips:5.2f}x  peak MB vqrt {v_rss:6.0f} torch {best[1]:6.0f}", flush=True)
    print()
    print(f"| model | batch | vqrt img/s | PyTorch img/s | vqrt / PyTorch | peak MB vqrt | peak MB PyTorch |")
    print(f"|---|---|---|---|---|---|---|")
    for label, batch, v, t, r, vm, tm, layout in rows:
        print(f"| {label} | {batch} | {v:.3f} | {t:.3f} ({layout}) | {r:.2f}x | {vm:.0f} | {tm:.0f} |")


if __name__ == "__main__":
    main()
