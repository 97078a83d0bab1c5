#!/usr/bin/env python3
"""Deterministic weights "vqrt-rng v1" (contract C4 in notes/contracts.md), bit-identical to the Swift port.

    .venv-tools/bin/python tools/vqrt_rng.py --selftest        # prints reference values
    .venv-tools/bin/python tools/vqrt_rng.py --write-reference # also writes Fixtures/models/rng_reference.json

For a tensor named `name` (its state-dict key, as the bare model names it: no `module.` / `first_stage_model.`
prefix) with shape `shape` and a UInt64 seed:
    fnv1a64(bytes): h = 0xcbf29ce484222325; for b: h ^= b; h *= 0x100000001b3          (mod 2^64)
    state = seed ^ fnv1a64(utf8(name))
    next(): state += 0x9E3779B97F4A7C15; z = state; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB; return z ^ (z >> 31)                  (SplitMix64)
    u = Float32(next() >> 40) / 16777216;  r = 2*u - 1   (float32, exact)
and the value per element (C order) depends on the LAST name component and the shape (see `values`).
The k-th draw only depends on state + k*golden, so it is computed vectorised with numpy uint64 (wrapping) math.
"""
import json
import os
import sys

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)


def fnv1a64(data: bytes) -> int:
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def raw_u64(name: str, seed: int, count: int) -> np.ndarray:
    """The first `count` outputs of next() for this tensor, as uint64."""
    state0 = np.uint64((seed ^ fnv1a64(name.encode("utf-8"))) & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        k = np.arange(1, count + 1, dtype=np.uint64)
        z = state0 + k * GOLDEN                     # state after the k-th increment (mod 2^64)
        z = (z ^ (z >> np.uint64(30))) * M1
        z = (z ^ (z >> np.uint64(27))) * M2
        return z ^ (z >> np.uint64(31))


def uniform_r(name: str, seed: int, count: int) -> np.ndarray:
    """r in [-1, 1), float32."""
    u = (raw_u64(name, seed, count) >> np.uint64(40)).astype(np.float32) / np.float32(16777216.0)
    return np.float32(2) * u - np.float32(1)


def values(name: str, shape, seed: int, dtype="float32") -> np.ndarray:
    """The C4 tensor for `name` / `shape` (float32, or int64 zeros for integer buffers)."""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if np.dtype(dtype).kind in "iub":
        return np.zeros(shape, dtype=np.int64 if np.dtype(dtype).kind != "b" else dtype)
    last = name.rsplit(".", 1)[-1]
    r = uniform_r(name, seed, n)
    if len(shape) >= 2:
        fan_in = int(np.prod(shape[1:], dtype=np.int64))
        v = r * np.float32(np.sqrt(3.0 / float(fan_in)))
    elif last in ("weight", "gamma"):
        v = np.float32(1) + np.float32(0.1) * r
    elif last in ("bias", "beta"):
        v = np.float32(0.05) * r
    elif last == "running_mean":
        v = np.float32(0.1) * r
    elif last == "running_var":
        v = np.float32(1) + np.float32(0.5) * r
    elif last == "num_batches_tracked":
        return np.zeros(shape, dtype=np.int64)
    else:
        v = np.float32(0.1) * r
    assert v.dtype == np.float32
    return v.reshape(shape)


def fill_state_dict(model, seed: int, prefix_strip=("module.",)):
    """Overwrite every parameter and buffer of `model` (torch.nn.Module) with vqrt-rng-v1 values, named by the
    model's own state-dict keys (with `prefix_strip` removed). Returns the list of names filled."""
    import torch
    names = []
    with torch.no_grad():
        for key, t in model.state_dict(keep_vars=True).items():
            name = key
            for p in prefix_strip:
                if name.startswith(p):
                    name = name[len(p):]
            if t.dtype.is_floating_point:
                v = values(name, t.shape, seed)
                t.copy_(torch.from_numpy(v).to(t.dtype))
            else:
                t.zero_()
            names.append(name)
    return names


REFERENCE_CASES = [("a.weight", [4, 3]), ("b.bias", [5]), ("c.running_var", [3]), ("d.weight", [6]),
                   ("e.running_mean", [2]), ("f.num_batches_tracked", []), ("g.embed", [1, 2, 3]),
                   ("encoder.conv_in.weight", [2, 3, 3, 3]), ("h.initted", [1]), ("ü.gamma", [2])]


def reference(seed=1234, count=8):
    out = {"generator": "vqrt-rng-v1", "seed": seed, "fnv1a64": {}, "tensors": []}
    for name, _ in REFERENCE_CASES:
        out["fnv1a64"][name] = f"0x{fnv1a64(name.encode('utf-8')):016x}"
    for name, shape in REFERENCE_CASES:
        v = values(name, shape, seed, "int64" if name.endswith("num_batches_tracked") else "float32")
        flat = v.reshape(-1)[:count]
        entry = {"name": name, "shape": shape, "dtype": str(v.dtype),
                 "first_u64": [f"0x{x:016x}" for x in raw_u64(name, seed, min(count, 4)).tolist()],
                 "first_values": [float(x) if v.dtype == np.float32 else int(x) for x in flat],
                 "first_values_f32_bits": [f"0x{x:08x}" for x in flat.astype(np.float32).view(np.uint32).tolist()]
                 if v.dtype == np.float32 else None,
                 "sum_f64": float(v.astype(np.float64).sum())}
        out["tensors"].append(entry)
    # one larger draw, to catch indexing mistakes far from the start
    big = values("encoder.down.0.block.0.conv1.weight", [32, 32, 3, 3], seed)
    out["tensors"].append({"name": "encoder.down.0.block.0.conv1.weight", "shape": [32, 32, 3, 3], "dtype": "float32",
                           "first_values": [float(x) for x in big.reshape(-1)[:count]],
                           "last_values": [float(x) for x in big.reshape(-1)[-count:]],
                           "sum_f64": float(big.astype(np.float64).sum())})
    return out


def _selftest():
    # the scalar recurrence, written out literally, must agree with the vectorised one
    def scalar(name, seed, n):
        s = (seed ^ fnv1a64(name.encode())) & 0xFFFFFFFFFFFFFFFF
        res = []
        for _ in range(n):
            s = (s + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
            z = s
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
            res.append(z ^ (z >> 31))
        return res
    for name in ("a.weight", "quantize.embedding.weight", ""):
        assert scalar(name, 1234, 50) == raw_u64(name, 1234, 50).tolist(), name
    assert fnv1a64(b"") == 0xcbf29ce484222325
    assert fnv1a64(b"a") == 0xaf63dc4c8601ec8c      # published FNV-1a 64 test vector
    r = uniform_r("x", 7, 100000)
    assert r.min() >= -1 and r.max() < 1 and abs(float(r.mean())) < 0.01
    ref = reference()
    print(json.dumps(ref, indent=1, ensure_ascii=False))
    return ref


if __name__ == "__main__":
    if "--selftest" in sys.argv or "--write-reference" in sys.argv:
        ref = _selftest()
        if "--write-reference" in sys.argv:
            path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "models",
                                "rng_reference.json")
            if "--out" in sys.argv:   # another file (tools/check_fixtures.py compares it with the committed one)
                path = sys.argv[sys.argv.index("--out") + 1]
            ref["command"] = "python tools/vqrt_rng.py --write-reference"
            with open(path, "w", encoding="utf-8") as f:
                json.dump(ref, f, indent=1, ensure_ascii=False)
            print("wrote", os.path.normpath(path))
    else:
        print(__doc__)
