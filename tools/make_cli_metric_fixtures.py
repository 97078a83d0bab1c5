#!/usr/bin/env python3
"""References for the metric commands run as commands (Tests/CLITests/MetricCLITests.swift): pytorch-fid's and
pytorch-image-generation-metrics' (PIGM) numbers on directories of Fixtures/inception/images, with the
"inception-fixture v1" seed-1 weights (tools/make_inception_fixtures.py). Deterministic; a minute on 2 cores.

    nice .venv-tools/bin/python tools/make_cli_metric_fixtures.py      # writes Fixtures/inception/cli.json

Sets: A = the first 5 images (sorted names), B = the last 5 (they share one), all = the 9.
  - `fid_stats_all`: pytorch-fid `calculate_activation_statistics` of all 9 (mu; sigma's diagonal and first row),
    and the same from the float64 network (PyTorch's own float32 error sets the tolerance).
  - `fid`: between A and B: pytorch-fid `calculate_frechet_distance` (scipy sqrtm, inaccurate on these singular
    covariances), and the exact value of the same formula, tr sqrtm(S1 S2) = sum of the singular values of
    X1 X2^T / sqrt((n1-1)(n2-1)) (X the centred features), from pytorch-fid's float32 features and from the float64
    network's: their difference is PyTorch's own float32 error.
  - `is`: PIGM `calculate_inception_score` (splits 3) of PIGM's probabilities for all 9, and from float64 logits.
"""
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import make_inception_fixtures as mif  # noqa: E402

IMAGES = os.path.join(ROOT, "Fixtures", "inception", "images")
OUT = os.path.join(ROOT, "Fixtures", "inception", "cli.json")


def exact_fid(x1, x2):
    """FID by pytorch-fid's formula with tr sqrtm(S1 S2) from singular values (exact for singular covariances)."""
    x1 = np.asarray(x1, np.float64)
    x2 = np.asarray(x2, np.float64)
    m1, m2 = x1.mean(0), x2.mean(0)
    c1, c2 = x1 - m1, x2 - m2
    s1 = c1.T @ c1 / (len(x1) - 1)
    s2 = c2.T @ c2 / (len(x2) - 1)
    tr_sqrt = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / np.sqrt((len(x1) - 1) * (len(x2) - 1))
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


def main():
    global OUT
    if sys.argv[1:2] == ["--out"] and len(sys.argv) == 3:
        OUT = sys.argv[2]  # tools/check_fixtures.py regenerates into a temporary file
    import torch
    torch.set_num_threads(2)
    import pytorch_fid.inception as pfi
    from pytorch_fid.fid_score import calculate_activation_statistics, calculate_frechet_distance
    from pytorch_image_generation_metrics.core import calculate_inception_score

    files = sorted(os.listdir(IMAGES))
    paths = [os.path.join(IMAGES, f) for f in files]
    sets = {"a": files[:5], "b": files[4:]}
    pool3, pool3_64, _, probs = mif.reference_outputs(paths, seed=1)
    sd = mif.fixture_state_dict(1)
    mif.patch_weight_loading(sd)
    model = pfi.InceptionV3([3]).eval()

    mu, sigma = calculate_activation_statistics(paths, model, batch_size=1, dims=2048, device="cpu", num_workers=0)
    mu64, sigma64 = pool3_64.mean(0), np.cov(pool3_64, rowvar=False)

    index = {f: i for i, f in enumerate(files)}
    rows = {k: [index[f] for f in v] for k, v in sets.items()}
    stats = {k: calculate_activation_statistics([os.path.join(IMAGES, f) for f in v], model, batch_size=1, dims=2048,
                                                device="cpu", num_workers=0) for k, v in sets.items()}
    fid_pytorch_fid = float(calculate_frechet_distance(*stats["a"], *stats["b"]))
    fid32 = exact_fid(pool3[rows["a"]], pool3[rows["b"]])
    fid64 = exact_fid(pool3_64[rows["a"]], pool3_64[rows["b"]])

    is_mean, is_std = calculate_inception_score(probs, splits=3, use_torch=False)
    logits64 = pool3_64 @ sd["fc.weight"].double().numpy().T
    p64 = np.exp(logits64 - logits64.max(1, keepdims=True))
    p64 /= p64.sum(1, keepdims=True)
    is64_mean, is64_std = calculate_inception_score(p64, splits=3, use_torch=False)

    out = {
        "generator": "tools/make_cli_metric_fixtures.py",
        "weights": "inception-fixture v1, seed 1",
        "sets": sets,
        "fid_stats_all": {"files": files, "mu": mu.tolist(), "sigma_diagonal": np.diag(sigma).tolist(),
                          "sigma_row0": sigma[0].tolist(), "mu_f64": mu64.tolist(),
                          "sigma_diagonal_f64": np.diag(sigma64).tolist(), "sigma_row0_f64": sigma64[0].tolist()},
        "fid": {"pytorch_fid": fid_pytorch_fid, "exact_from_pytorch_fid_features": fid32, "exact_from_float64_network": fid64},
        "is": {"splits": 3, "pigm_mean": float(is_mean), "pigm_std": float(is_std),
               "float64_mean": float(is64_mean), "float64_std": float(is64_std)},
        "versions": mif.versions(),
    }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"FID A-B: pytorch-fid {fid_pytorch_fid}, exact f32 {fid32}, exact f64 {fid64}; IS {is_mean} +- {is_std} (f64 {is64_mean})")


if __name__ == "__main__":
    main()
