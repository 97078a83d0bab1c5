#!/usr/bin/env python3
"""Fixtures for the NPY and Imaging modules (deterministic).

Command line (from the package root):
    .venv-tools/bin/python tools/make_imaging_fixtures.py            # writes Fixtures/imaging/
    .venv-tools/bin/python tools/make_imaging_fixtures.py --only npy  # just Fixtures/imaging/npy/

Fixtures/imaging/npy/: .npy/.npz files written by numpy (numpy.lib.format.write_array; .npz members packed with
zipfile exactly as np.savez / np.savez_compressed do, but with a fixed timestamp so the bytes are reproducible), and
manifest.json giving each file's dtype, shape and values.
"""
import argparse
import io
import json
import os
import zipfile

import numpy as np
from numpy.lib import format as npformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Fixtures", "imaging")


def npy_bytes(arr, version=None):
    buf = io.BytesIO()
    npformat.write_array(buf, arr, version=version, allow_pickle=False)
    return buf.getvalue()


def write_npz(path, arrays, compressed):
    # Same member layout as numpy's _savez (zipfile, "<name>.npy", ZIP_DEFLATED for savez_compressed).
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 2, 0, 0, 0))
            info.compress_type = method
            zf.writestr(info, npy_bytes(arr))


def values_json(arr):
    a = np.ascontiguousarray(arr)
    if a.dtype.kind in "US":
        return [str(x) if a.dtype.kind == "U" else x.decode("latin-1") for x in a.reshape(-1)]
    if a.dtype.kind == "f":
        # JSON has no inf/nan: those are written as the strings "inf", "-inf", "nan".
        return [float(x) if np.isfinite(x) else str(float(x)) for x in a.astype(np.float64).reshape(-1)]
    return [int(x) for x in a.reshape(-1)]


def make_npy():
    d = os.path.join(OUT, "npy")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(1234)
    cases = {}

    def add(name, arr, version=None, fortran=False):
        a = np.asfortranarray(arr) if fortran else arr
        with open(os.path.join(d, name + ".npy"), "wb") as f:
            f.write(npy_bytes(a, version))
        cases[name + ".npy"] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "values": values_json(arr),
                                "fortran_order": bool(fortran and arr.ndim > 1), "version": list(version or (1, 0))}

    f32 = rng.standard_normal((2, 3, 4)).astype(np.float32)
    f32.flat[0] = np.float32(1e-40)   # subnormal
    f32.flat[1] = -0.0
    add("f4_2x3x4", f32)
    add("f8_5", rng.standard_normal(5))
    add("i8_3x2", np.array([[0, -1], [2**40, -(2**40)], [7, 9007199254740991]], dtype=np.int64))
    add("i4_4", np.array([1, -2, 2**31 - 1, -(2**31)], dtype=np.int32))
    add("u1_2x2", np.array([[0, 255], [17, 128]], dtype=np.uint8))
    add("b1_5", np.array([True, False, True, True, False]))
    add("i2_3", np.array([-32768, 0, 32767], dtype=np.int16))
    add("u2_3", np.array([0, 1000, 65535], dtype=np.uint16))
    add("f2_6", np.array([0.0, 1.0, -2.5, 65504.0, 6e-8, np.inf], dtype=np.float16))
    add("be_f4_3", np.array([1.5, -2.25, 3.0], dtype=">f4"))
    add("be_f8_2x2", np.array([[1.0, 2.0], [3.0, 4.5]], dtype=">f8"))
    add("be_i8_3", np.array([1, -2, 2**50], dtype=">i8"))
    add("be_i2_2", np.array([-2, 300], dtype=">i2"))
    add("fortran_f4_2x3", np.arange(6, dtype=np.float32).reshape(2, 3), fortran=True)
    add("fortran_i8_2x3x4", np.arange(24, dtype=np.int64).reshape(2, 3, 4), fortran=True)
    add("v2_f4_3", np.array([1.0, 2.0, 3.0], dtype=np.float32), version=(2, 0))
    add("v3_f4_3", np.array([4.0, 5.0, 6.0], dtype=np.float32), version=(3, 0))
    add("scalar_f8", np.array(3.25))
    add("empty_f4_0x3", np.zeros((0, 3), dtype=np.float32))
    add("unicode_3", np.array(["a.png", "dir/é.jpg", ""]))

    mu = rng.standard_normal(8)
    sigma = rng.standard_normal((8, 8))
    sigma = sigma @ sigma.T
    for name, comp in (("stats_compressed", True), ("stats_stored", False)):
        write_npz(os.path.join(d, name + ".npz"), {"mu": mu, "sigma": sigma}, comp)
        cases[name + ".npz"] = {"members": {"mu": {"dtype": "<f8", "shape": [8], "values": values_json(mu)},
                                            "sigma": {"dtype": "<f8", "shape": [8, 8], "values": values_json(sigma)}},
                                "compressed": comp}
    mixed = {"codes": np.arange(6, dtype=np.int64).reshape(1, 2, 3), "feat": f32, "files": np.array(["x.png", "y.png"])}
    write_npz(os.path.join(d, "mixed.npz"), mixed, True)
    cases["mixed.npz"] = {"members": {k: {"dtype": v.dtype.str, "shape": list(v.shape), "values": values_json(v)}
                                      for k, v in mixed.items()}, "compressed": True}

    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump({"numpy": np.__version__, "cases": cases}, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["npy", "images"], default=None)
    args = ap.parse_args()
    if args.only in (None, "npy"):
        make_npy()
    if args.only in (None, "images"):
        try:
            make_images  # noqa: B018
        except NameError:
            pass
        else:
            make_images()


if __name__ == "__main__":
    main()
