#!/usr/bin/env python3
"""References for `vqrt fid/kid --protocol torch-fidelity` run as commands on two folders
(Tests/CLITests/PaperMetricsCLITests.swift): torch-fidelity's own `calculate_metrics` on the same folders, with the
"inception-fixture v1" seed-1 weights (tools/make_inception_fixtures.py) saved as torch-fidelity's plain dict.
Deterministic; a minute on 2 cores.

    nice .venv-tools/bin/python tools/make_cli_paper_metric_fixtures.py   # writes Fixtures/paper_metrics/cli.json
    nice .venv-tools/bin/python tools/make_cli_paper_metric_fixtures.py --out /tmp/cli.json   # elsewhere (check_fixtures)

Folders (the test builds the same ones): the files of Fixtures/paper_metrics/fidelity.json, the first 8 into
`first/`, the other 7 into `second/`, each named `%02d_<name>` (its index in that list), so torch-fidelity's sorted
listing is vqrt's order.
  - `torch_fidelity`: `calculate_metrics(input1=first, input2=second, fid=True, kid=True, kid_subsets=20,
    kid_subset_size=7)` as a user runs it (float32 network and arithmetic), and the same with
    `feature_extractor_internal_dtype="float64"` (batch 1: the images have several sizes); the float64 run gives
    PyTorch's own float32 error of the network. torch-fidelity 0.4.0 maps "float64" to float32 in
    `helpers.text_to_dtype`; the script corrects that mapping for the extractor, else both runs would be float32.
  - `exact`: from torch-fidelity's pool3 features of the same files (its extractor, float32 and float64 internal
    dtype): FID by the formula with tr sqrtm(S1 S2) from singular values (exact for these singular covariances, where
    scipy's sqrtm is not), and KID by torch-fidelity's `kid_features_to_metric` on the features widened to float64
    (vqrt computes KID in float64).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import make_inception_fixtures as mif  # noqa: E402
from make_cli_metric_fixtures import exact_fid  # noqa: E402

OUT = os.path.join(ROOT, "Fixtures", "paper_metrics", "cli.json")
KID_SUBSETS, KID_SUBSET_SIZE, FIRST = 20, 7, 8


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT, help="the JSON file to write (default: Fixtures/paper_metrics/cli.json)")
    out = ap.parse_args().out
    import torch
    torch.set_num_threads(2)
    import torch_fidelity
    from PIL import Image
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torch_fidelity.metric_kid import kid_features_to_metric
    from torch_fidelity.utils import glob_samples_paths
    import torch_fidelity.feature_extractor_inceptionv3 as fe_module

    # torch-fidelity 0.4.0's `text_to_dtype` maps "float64" to torch.float32 (feature_extractor_internal_dtype
    # "float64" silently runs float32): the extractor module's reference gets the mapping its documentation describes.
    def text_to_dtype(name, default=None):
        dtypes = {"uint8": torch.uint8, "float32": torch.float32, "float64": torch.float64}
        return dtypes.get(name, dtypes.get(default, default))
    fe_module.text_to_dtype = text_to_dtype

    with open(os.path.join(ROOT, "Fixtures", "paper_metrics", "fidelity.json")) as f:
        files = json.load(f)["files"]
    doc = {"files": files, "first": FIRST, "kid_subsets": KID_SUBSETS, "kid_subset_size": KID_SUBSET_SIZE,
           "weights_seed": 1}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [os.path.join(tmp, "first"), os.path.join(tmp, "second")]
        for d in dirs:
            os.makedirs(d)
        for i, rel in enumerate(files):
            d = dirs[0] if i < FIRST else dirs[1]
            shutil.copyfile(os.path.join(ROOT, rel), os.path.join(d, "%02d_%s" % (i, os.path.basename(rel))))
        wpath = os.path.join(tmp, "weights-inception-2015-12-05-6726825d.pth")
        torch.save(dict(mif.fixture_state_dict(1)), wpath)  # torch-fidelity's own layout: a plain dict

        runs = {}
        for dtype in ["float32", "float64"]:
            m = torch_fidelity.calculate_metrics(
                input1=dirs[0], input2=dirs[1], cuda=False, fid=True, kid=True, kid_subsets=KID_SUBSETS,
                kid_subset_size=KID_SUBSET_SIZE, feature_extractor_weights_path=wpath,
                feature_extractor_internal_dtype=dtype, batch_size=1, cache=False, verbose=False, save_cpu_ram=True)
            runs[dtype] = {"fid": float(m["frechet_inception_distance"]),
                           "kid_mean": float(m["kernel_inception_distance_mean"]),
                           "kid_std": float(m["kernel_inception_distance_std"])}
        doc["torch_fidelity"] = runs

        exact = {}
        for dtype in ["float32", "float64"]:
            fe = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=wpath,
                                             feature_extractor_internal_dtype=dtype).eval()
            feats = []
            with torch.no_grad():
                for d in dirs:
                    rows = []
                    # torch-fidelity's listing and decoding: sorted paths, PIL RGB -> uint8 CHW.
                    for p in glob_samples_paths(d, False, "png,jpg,jpeg", verbose=False):
                        x = torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1)[None].contiguous()
                        rows.append(fe(x)[0].numpy())
                    feats.append(np.concatenate(rows))
            kid = kid_features_to_metric(torch.from_numpy(feats[0].astype(np.float64)),
                                         torch.from_numpy(feats[1].astype(np.float64)),
                                         kid_subsets=KID_SUBSETS, kid_subset_size=KID_SUBSET_SIZE, verbose=False)
            exact[dtype] = {"fid": exact_fid(feats[0], feats[1]),
                            "kid_mean": float(kid["kernel_inception_distance_mean"]),
                            "kid_std": float(kid["kernel_inception_distance_std"])}
        doc["exact"] = exact

    import importlib.metadata as md
    doc["versions"] = {p: md.version(p) for p in ["torch", "torch-fidelity", "numpy", "scipy"]}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print(json.dumps({k: doc[k] for k in ["torch_fidelity", "exact"]}, indent=1))


if __name__ == "__main__":
    main()
