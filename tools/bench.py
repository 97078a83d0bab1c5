#!/usr/bin/env python3
"""vqrt against PyTorch on the same machine, same weights, same inputs, same thread count.

    .venv-tools/bin/python tools/bench.py [--repeats 3] [--batches 1 8] [--only rt-f8 ...] [--vqrt .build/release/vqrt]

For each model (Table 1 f=8 and f=4 cosine, Table 3 32x32x4 and 64x64x3, Table 4 ViT-VQGAN small, LlamaGen VQ-16
and VQ-8, MaskGIT-VQGAN f16; real architectures, random weights, 256x256 inputs) and batch size: reconstruction (encode + quantize + decode) in a
fresh process per measurement, one warm-up then `--repeats` timed runs, median images/s and peak RSS (wait4).
PyTorch runs under torch.inference_mode with torch.set_num_threads(threads), in its default layout and in
channels_last; the faster is reported. The checkpoints are written once to /tmp/vqrt_bench.
vqrt runs with --profile: its convolutions' achieved GFLOP/s (direct-convolution operation counts, so Winograd
layers can exceed the GEMM peak) is set against the machine's dense float32 GEMM peak (oneDNN sgemm / matmul,
measured once per run by `vqrt bench --gemm-peak`).
Time to first reconstruction (--ttfr-repeats, median): a fresh process that starts, loads the checkpoint, reads one
256x256 PNG, reconstructs it and writes the PNG: `vqrt reconstruct` against a Python script doing the same with
PyTorch (import torch included, as a user pays it).
Ends with the issue's targets, each marked met or not.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_load  # noqa: E402  (shared process runner)
import upstream_families  # noqa: E402  (SEED-Voken / taming rows: the upstream code from its git mirror)

BENCH_DIR = "/tmp/vqrt_bench"

MODELS = {
    "rt-f8": ("Table 1 f=8 cosine", "rt_f8_cosine.pth"),
    "rt-f4": ("Table 1 f=4 cosine", "rt_f4_cosine.pth"),
    "ldm-32x32x4": ("Table 3 32x32x4", "ldm_t3_32x32x4.ckpt"),
    "ldm-64x64x3": ("Table 3 64x64x3", "ldm_t3_64x64x3.ckpt"),
    "vit-small": ("Table 4 ViT-VQGAN small", "vit_small.ckpt"),
    "llamagen-vq16": ("LlamaGen VQ-16", "llamagen_vq16.pt"),
    "llamagen-vq8": ("LlamaGen VQ-8", "llamagen_vq8.pt"),
    "maskgit-f16": ("MaskGIT-VQGAN f16", "maskgit_f16.bin"),
}
# These rows run the UPSTREAM PyTorch modules (LlamaGen vq_model.py, 1d-tokenizer maskgit_vqgan.py through
# PretrainedTokenizer's module tree), imported from the git mirrors of tools/make_upstream_model_fixtures.py
# (VQRT_MIRROR, default /work/.mirror); without them the rows are skipped.
UPSTREAM_ROWS = {"llamagen-vq16": "llamagen-vq", "llamagen-vq8": "llamagen-vq", "maskgit-f16": "maskgit-vqgan"}
MIRROR = os.environ.get("VQRT_MIRROR", "/work/.mirror")


def upstream_model(key, state_dict=None):
    """The upstream model for an UPSTREAM_ROWS key (default init, or `state_dict`), wrapped with the bench's
    encode / decode_codes interface."""
    import torch
    import make_upstream_model_fixtures as up
    if not up.UP:
        up.load_upstream(MIRROR)
    fam = UPSTREAM_ROWS[key]
    if key == "maskgit-f16":
        m = up.MaskGITTokenizer(up.maskgit_conf(), 1024)
    else:
        m = up.UP["vq_model"].VQ_models["VQ-16" if key == "llamagen-vq16" else "VQ-8"](codebook_size=16384, codebook_embed_dim=8)
    if state_dict is not None:
        m.load_state_dict(state_dict)

    class Upstream(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = m

        def encode(self, x):
            return up.encode(fam, self.m, x)        # upstream's encode (latents caught by a hook)

        def decode_codes(self, codes):
            return up.decode(fam, self.m, codes)    # decode_code / decoder(get_codebook_entry)
    return Upstream().eval()
MODELS.update({k: v[:2] for k, v in upstream_families.BENCH_MODELS.items()})

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


TORCH_TTFR_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, torch
from PIL import Image
from bench import build_model
key, path, image, out, threads = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
torch.set_num_threads(threads)
model = build_model(key, path).eval()
x = torch.from_numpy(np.asarray(Image.open(image).convert("RGB"), dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
with torch.inference_mode():
    lat, codes = model.encode(x)
    y = model.decode_codes(codes)
Image.fromarray(((y[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()).save(out)
"""


def build_model(key, path):
    """The reference PyTorch model for `key` with the weights stored in `path`."""
    import torch
    if key in upstream_families.BENCH_MODELS:
        return upstream_families.bench_model(key, path)
    from reference import ldm_vqgan, rt_vqvae, vit_vqgan
    from reference.containers import _schedulers_module
    _schedulers_module()
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if key in UPSTREAM_ROWS:
        return upstream_model(key, ckpt["model"] if key.startswith("llamagen") else ckpt)
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


def write_checkpoints(keys):
    import torch
    from reference import ldm_vqgan, rt_vqvae, vit_vqgan
    from reference.containers import rt_args, save_lightning_ckpt, save_rt_checkpoint
    os.makedirs(BENCH_DIR, exist_ok=True)
    torch.manual_seed(0)
    for key, (_, name) in MODELS.items():
        path = os.path.join(BENCH_DIR, name)
        if key not in keys or os.path.exists(path):
            continue
        print(f"writing {path}", file=sys.stderr)
        if key in UPSTREAM_ROWS:
            sd = upstream_model(key).m.state_dict()
            torch.save({"model": sd} if key.startswith("llamagen") else sd, path)   # as released
        elif key in upstream_families.BENCH_MODELS:
            upstream_families.write_bench_checkpoint(key, path)
        elif key.startswith("rt-"):
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
    return json.loads(out.strip().splitlines()[-1]), peak_kb / 1024


def wall_time(cmd, env=None):
    t = time.perf_counter()
    bench_load.run_measured(cmd, env)
    return time.perf_counter() - t


def test_image(path):
    """A 256x256 PNG with some structure (the content does not change the time)."""
    import numpy as np
    from PIL import Image
    if not os.path.exists(path):
        yy, xx = np.mgrid[0:256, 0:256]
        rgb = np.stack([np.sin(xx / 9.0), np.cos(yy / 13.0), np.sin((xx + yy) / 17.0)], -1)
        Image.fromarray(((rgb + 1) * 127.5).astype(np.uint8)).save(path)
    return path


def gemm_peak(vqrt, threads):
    """The machine's dense float32 GEMM rate (GFLOP/s) as `vqrt bench --gemm-peak` measures it."""
    path = os.path.join(BENCH_DIR, MODELS["vit-small"][1])
    v, _ = run_measured([vqrt, "bench", "--checkpoint", path, "--batch-size", "1", "--repeats", "1", "--threads",
                         str(threads), "--gemm-peak"])
    return v["gemm_peak_gflops"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--only", nargs="+", default=list(MODELS))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--vqrt", default=os.path.join(HERE, "..", ".build", "release", "vqrt"))
    ap.add_argument("--layouts", nargs="+", default=["contiguous", "channels_last"])
    ap.add_argument("--policies", nargs="+", default=["default", "PASSIVE"], help="OpenMP wait policies tried for PyTorch")
    ap.add_argument("--ttfr-repeats", type=int, default=3, help="runs of the time-to-first-reconstruction rows (0: skip)")
    ap.add_argument("--vqrt-args", nargs=argparse.REMAINDER, default=[],
                    help="extra arguments for `vqrt bench` / `vqrt reconstruct` (e.g. --conv-algorithm direct); last")
    a = ap.parse_args()
    if not os.path.isdir(os.path.join(MIRROR, "FoundationVision+LlamaGen")) or not os.path.isdir(
            os.path.join(MIRROR, "bytedance+1d-tokenizer")):
        skipped = [k for k in a.only if k in UPSTREAM_ROWS]
        if skipped:
            print(f"no upstream mirrors under {MIRROR}: skipping {', '.join(skipped)}", file=sys.stderr)
        a.only = [k for k in a.only if k not in UPSTREAM_ROWS]
    vqrt = os.path.abspath(a.vqrt)
    write_checkpoints(set(a.only) | {"vit-small"})      # vit-small's checkpoint also serves the GEMM-peak run
    peak = gemm_peak(vqrt, a.threads)
    print(f"dense float32 GEMM peak: {peak:.1f} GFLOP/s ({a.threads} threads)", flush=True)
    rows, ttfr = [], []
    for key in a.only:
        label, name = MODELS[key]
        path = os.path.join(BENCH_DIR, name)
        for batch in a.batches:
            v, v_rss = run_measured([vqrt, "bench", "--checkpoint", path, "--batch-size", str(batch),
                                     "--repeats", str(a.repeats), "--threads", str(a.threads), "--size", "256",
                                     "--profile"] + a.vqrt_args)
            conv = next((t for t in v.get("profile", []) if t["type"] == "conv"), None)
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
            conv_rate = conv["gflops"] if conv else 0.0
            conv_share = conv["share"] if conv else 0.0
            rows.append((label, batch, vq_ips, pt_ips, vq_ips / pt_ips, v_rss, best[1], best[2], conv_rate, conv_share))
            print(f"{label:26} batch {batch}: vqrt {vq_ips:7.3f} img/s  torch {pt_ips:7.3f} img/s ({best[2]})  "
                  f"ratio {vq_ips / pt_ips:5.2f}x  peak MB vqrt {v_rss:6.0f} torch {best[1]:6.0f}  "
                  f"conv {conv_rate:6.1f} GFLOP/s ({100 * conv_rate / peak:.0f}% of GEMM peak, {100 * conv_share:.0f}% of the time)",
                  flush=True)
        if a.ttfr_repeats > 0:
            image = test_image(os.path.join(BENCH_DIR, "ttfr.png"))
            out_dir = tempfile.mkdtemp(prefix="vqrt-ttfr-")
            env = dict(os.environ)
            env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            vq = statistics.median(wall_time([vqrt, "reconstruct", "--checkpoint", path, image, "--output", out_dir,
                                              "--batch-size", "1", "--threads", str(a.threads), "--quiet"] + a.vqrt_args)
                                   for _ in range(a.ttfr_repeats))
            pt = statistics.median(wall_time([sys.executable, "-c", TORCH_TTFR_CHILD, HERE, key, path, image,
                                              os.path.join(out_dir, "torch.png"), str(a.threads)], env)
                                   for _ in range(a.ttfr_repeats))
            ttfr.append((label, vq, pt))
            print(f"{label:26} time to first reconstruction: vqrt {vq:6.2f} s  torch {pt:6.2f} s  ({vq / pt:.2f} of it)",
                  flush=True)
    print()
    print(f"| model | batch | vqrt img/s | PyTorch img/s | vqrt / PyTorch | peak MB vqrt | peak MB PyTorch | vqrt conv GFLOP/s (of {peak:.0f} GEMM peak) |")
    print(f"|---|---|---|---|---|---|---|---|")
    for label, batch, v, t, r, vm, tm, layout, cr, cs in rows:
        print(f"| {label} | {batch} | {v:.3f} | {t:.3f} ({layout}) | {r:.2f}x | {vm:.0f} | {tm:.0f} | {cr:.0f} ({100 * cr / peak:.0f}%; {100 * cs:.0f}% of the time) |")
    if ttfr:
        print()
        print("| model | time to first reconstruction, vqrt | PyTorch | vqrt / PyTorch |")
        print("|---|---|---|---|")
        for label, vq, pt in ttfr:
            print(f"| {label} | {vq:.2f} s | {pt:.2f} s | {vq / pt:.2f} |")
    print()
    print("Targets:")
    def target(name, ok, detail):
        print(f"- [{'x' if ok else ' '}] {name}: {detail}")
    b8 = [r for r in rows if r[1] == 8]
    b1 = [r for r in rows if r[1] == 1]
    if b8:
        target("reconstruct >= 2x PyTorch at batch 8 (every family)", all(r[4] >= 2 for r in b8),
               ", ".join(f"{r[0]} {r[4]:.2f}x" for r in b8))
        target("peak memory at batch 8 <= PyTorch's", all(r[5] <= r[6] for r in b8),
               ", ".join(f"{r[0]} {r[5]:.0f}/{r[6]:.0f} MB" for r in b8))
    if b1:
        target("reconstruct >= 1.2x PyTorch at batch 1", all(r[4] >= 1.2 for r in b1),
               ", ".join(f"{r[0]} {r[4]:.2f}x" for r in b1))
    # Models whose convolutions are a small share of the time (ViT: the 3-channel patch embedding and to_pixel
    # layers, K = 192) are listed apart rather than judged: their rate says nothing about the model's speed.
    conv_rows = [r for r in rows if r[9] >= 0.25]
    minor = [r for r in rows if r[9] < 0.25]
    if conv_rows:
        target("convolutions >= 70% of the GEMM peak (or beyond it with fast algorithms), models whose time they dominate",
               all(r[8] >= 0.7 * peak for r in conv_rows),
               f"lowest {min(r[8] for r in conv_rows) / peak:.0%} of {peak:.0f} GFLOP/s"
               + (f"; not judged (convolutions < 25% of the time): " + ", ".join(
                   f"{r[0]} batch {r[1]} {r[8] / peak:.0%} at {r[9]:.0%} of the time" for r in minor) if minor else ""))
    if ttfr:
        target("time to first reconstruction <= half of PyTorch's", all(vq <= 0.5 * pt for _, vq, pt in ttfr),
               ", ".join(f"{l} {vq / pt:.2f}" for l, vq, pt in ttfr))


if __name__ == "__main__":
    main()
