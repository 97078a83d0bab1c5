#!/usr/bin/env python3
"""Generate the PyTorch-checkpoint loader fixtures in Fixtures/loader/ (positive) and Fixtures/loader/hostile/.

Command line (from the repository root):
    .venv-tools/bin/python tools/make_fixtures.py            # writes Fixtures/loader/**
    .venv-tools/bin/python tools/make_fixtures.py --check    # regenerate into a temp dir, compare with the tree

Developer-only: needs torch 2.15, numpy, safetensors, omegaconf, pytorch-lightning (tools/requirements.txt).
vqrt's tests only read the committed outputs. Spec: ../shared/spec/checkpoint-format.md (§11 test list, §12
recipes); contracts C2/C3 in the project notes define the expected.json format (see Fixtures/loader/README.md).

Deterministic: fixed seeds, PYTHONHASHSEED=0 (the script re-executes itself with it), torch's zip writer has fixed
timestamps, Python zipfile entries use date_time 1980-01-01, legacy storage keys (memory addresses) are rewritten
to fixed same-length numbers, and the Lightning run writes into a fixed directory.
"""
import argparse
import base64
import collections
import filecmp
import io
import json
import os
import pathlib
import pickle
import pickletools
import re
import shutil
import struct
import sys
import tarfile
import tempfile
import warnings
import zipfile

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

TOOLS = pathlib.Path(__file__).resolve().parent
ROOT = TOOLS.parent
sys.path.insert(0, str(TOOLS))
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import fixtures_modules  # noqa: E402
from fixtures_common import (c2_walk, dump_json, expected_doc, get_path, tensor_record)  # noqa: E402
from fixtures_pickle import *  # noqa: E402,F403
from fixtures_zip import Entry, build_zip, read_records, torch_zip  # noqa: E402

SPEC = ROOT.parent / "shared" / "spec" / "checkpoint-format.md"
OUT = ROOT / "Fixtures" / "loader"
INDEX = []   # one row per positive fixture, for README.md and positive.json


# ----------------------------------------------------------------------------------------------------------------
# Output helpers

def out_path(fname):
    return OUT / fname


def stem(fname):
    return fname.rsplit(".", 1)[0]


def describe(v, depth=0):
    """Typed JSON description of a non-tensor Python value (the 'objects' extension of C3)."""
    import argparse as _ap
    if depth > 8:
        return {"type": "..."}
    if isinstance(v, np.ndarray):
        d = {"type": "ndarray", "dtype": str(v.dtype), "shape": list(v.shape),
             "fortran": bool(v.flags.f_contiguous and not v.flags.c_contiguous)}
        d["values"] = [describe(x, depth + 1) for x in v.flatten().tolist()] if v.dtype == object \
            else v.flatten().tolist()
        return d
    if isinstance(v, np.generic):
        return {"type": "numpy_scalar", "dtype": str(v.dtype), "value": v.item()}
    if v is None:
        return {"type": "none"}
    if isinstance(v, bool):
        return {"type": "bool", "value": v}
    if isinstance(v, int):
        return {"type": "int", "value": v if abs(v) < 2 ** 53 else str(v)}
    if isinstance(v, float):
        return {"type": "float", "value": v}
    if isinstance(v, complex):
        return {"type": "complex", "value": [v.real, v.imag]}
    if isinstance(v, str):
        return {"type": "str", "value": v}
    if isinstance(v, bytearray):
        return {"type": "bytearray", "hex": bytes(v).hex()}
    if isinstance(v, bytes):
        return {"type": "bytes", "hex": v.hex()}
    if isinstance(v, torch.Size):
        return {"type": "torch.Size", "value": list(v)}
    if isinstance(v, torch.device):
        return {"type": "torch.device", "value": str(v)}
    if isinstance(v, torch.dtype):
        return {"type": "torch.dtype", "value": str(v).replace("torch.", "")}
    if isinstance(v, pathlib.PurePath):
        return {"type": "path", "class": f"{type(v).__module__}.{type(v).__qualname__}", "value": str(v)}
    if isinstance(v, (set, frozenset)):
        return {"type": type(v).__name__, "items": [describe(x, depth + 1) for x in sorted(v, key=repr)]}
    if isinstance(v, tuple):
        return {"type": "tuple", "items": [describe(x, depth + 1) for x in v]}
    if isinstance(v, list):
        return {"type": "list", "items": [describe(x, depth + 1) for x in v]}
    if isinstance(v, torch.Tensor):
        return {"type": "tensor", "dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)}
    if isinstance(v, dict) and type(v) in (dict, collections.OrderedDict, collections.defaultdict):
        return {"type": "dict", "items": [[describe(k, depth + 1), describe(x, depth + 1)] for k, x in v.items()]}
    if isinstance(v, type):
        return {"type": "global", "value": f"{v.__module__}.{v.__qualname__}"}
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
        if isinstance(v, (DictConfig, ListConfig)):
            return {"type": "omegaconf", "class": f"{type(v).__module__}.{type(v).__qualname__}",
                    "value": OmegaConf.to_container(v, resolve=False)}
    except ImportError:
        pass
    if isinstance(v, _ap.Namespace):
        return {"type": "object", "class": "argparse.Namespace",
                "attributes": {k: describe(x, depth + 1) for k, x in vars(v).items()}}
    return {"type": "object", "class": f"{type(v).__module__}.{type(v).__qualname__}"}


def emit(fname, fmt, ids, desc, root=None, notes="", scalars=(), objects=(), protocol=2, tensors=None,
         torch_loads=True, extra=None):
    """Write <stem>.expected.json for an already written fixture and record it in the index."""
    path = out_path(fname)
    if root is None:
        root = torch.load(path, weights_only=False, map_location="cpu")
    doc = expected_doc(fmt, root, notes, scalars=scalars, protocol=protocol, tensors=tensors)
    if objects:
        doc["objects"] = {p: describe(get_path(root, p, protocol)) if not isinstance(objects, dict) else objects[p]
                          for p in objects}
    if extra:
        doc.update(extra)
    dump_json(OUT / f"{stem(fname)}.expected.json", doc)
    INDEX.append({"file": fname, "expected": f"{stem(fname)}.expected.json", "format": fmt, "ids": ids,
                  "desc": desc, "torch_loads": torch_loads, "tensors": len(doc["tensors"])})
    return root


def write_bytes(fname, blob):
    out_path(fname).write_bytes(blob)


def save_to(fname, obj, **kw):
    torch.save(obj, out_path(fname), **kw)


def save_bytes(obj, **kw):
    b = io.BytesIO()
    torch.save(obj, b, **kw)
    return b.getvalue()


def spec_base64(heading_regex):
    text = SPEC.read_text()
    m = re.search(heading_regex + r".*?```\n(.*?)```", text, re.S)
    return base64.b64decode("".join(m.group(1).split()))


def pyzip(records, method=zipfile.ZIP_STORED, force_zip64=False):
    """Re-zip [(name, bytes)] with Python's zipfile (fixed timestamps)."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compression=method, compresslevel=9 if method == zipfile.ZIP_DEFLATED else None) as z:
        for name, data in records:
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = method
            with z.open(zi, "w", force_zip64=force_zip64) as f:
                f.write(data)
    return b.getvalue()


def rename_prefix(records, prefix):
    return [(prefix + "/" + n.split("/", 1)[1], d) for n, d in records]


# ----------------------------------------------------------------------------------------------------------------
# Legacy key normalisation: legacy storage keys are str(storage._cdata), i.e. heap addresses, and the raw storages
# follow in sorted-key order, so both differ between runs. Rename the keys to fixed numbers of the same length (so
# pickle lengths and FRAME sizes stay valid) numbered in first-seen order, re-dump the key list, and reorder the
# raw storages to match, which is exactly what torch would have written had the addresses been those numbers.

def _legacy_pickle_ends(blob):
    f = io.BytesIO(blob)
    ends = []
    for _ in range(5):
        for op, arg, pos in pickletools.genops(f):
            pass
        ends.append(f.tell())
    return ends


def _strings(blob):
    return [arg for op, arg, pos in pickletools.genops(io.BytesIO(blob))
            if op.name in ("BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING")]


def _new_keys(old_in_order):
    lens = {len(k) for k in old_in_order}
    assert len(lens) == 1, f"legacy keys of different lengths {old_in_order}"
    n = lens.pop()
    return {k: str(10 ** (n - 1) + 4096 * (i + 1)) for i, k in enumerate(old_in_order)}


def _replace_all(blob, mapping):
    # Two passes through unique placeholders so a new key can never be re-replaced.
    for i, k in enumerate(mapping):
        assert blob.count(k.encode()) >= 1, k
        blob = blob.replace(k.encode(), b"\x00KEY%06d\x00" % i)
    for i, v in enumerate(mapping.values()):
        blob = blob.replace(b"\x00KEY%06d\x00" % i, v.encode())
    return blob


def normalize_legacy(blob, nbytes, protocol=2):
    """`nbytes` maps each original key (str(untyped_storage._cdata)) to its storage size in bytes."""
    ends = _legacy_pickle_ends(blob)
    old_sorted = _strings(blob[ends[3]:ends[4]])
    if not old_sorted:
        return blob
    seen = [s for s in _strings(blob[ends[2]:ends[3]]) if s in old_sorted]
    first_seen = list(dict.fromkeys(seen))
    assert sorted(first_seen) == sorted(old_sorted)
    mapping = _new_keys(first_seen)
    raw = blob[ends[4]:]
    blocks = {}
    pos = 0
    for k in old_sorted:                 # raw storages: int64 numel header + nbytes of data, in sorted-key order
        blocks[k] = raw[pos:pos + 8 + nbytes[k]]
        pos += 8 + nbytes[k]
    assert pos == len(raw)
    main = _replace_all(blob[:ends[3]], mapping)
    keys = pickle.dumps([mapping[k] for k in first_seen], protocol=protocol)
    return main + keys + b"".join(blocks[k] for k in first_seen)


def legacy_save_bytes(obj, protocol=2):
    nbytes = {str(t.untyped_storage()._cdata): t.untyped_storage().nbytes() for _, t in c2_walk(obj)}
    return normalize_legacy(save_bytes(obj, _use_new_zipfile_serialization=False, pickle_protocol=protocol),
                            nbytes, protocol)


def _remap(blob, old_keys_in_order):
    mapping = _new_keys(list(dict.fromkeys(old_keys_in_order)))
    return _replace_all(blob, mapping), mapping


# ----------------------------------------------------------------------------------------------------------------
# Shared sample data

def small_state_dict():
    """Sequential(Linear(2,3), BatchNorm1d(3)) after one training-mode forward (non-trivial running stats)."""
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    m.train()
    m(torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.25, -3.0]]))
    return m.state_dict()


SD_SCALARS = ()
SD_NOTE = ("Sequential(Linear(2,3), BatchNorm1d(3)).state_dict() after one forward: 7 tensors in order; "
           "1.num_batches_tracked is a 0-d int64; the OrderedDict's _metadata (BUILD state) is an attribute, "
           "not a key.")


def sd_extra(sd):
    return {"root_attributes": {"_metadata": {k: dict(v) for k, v in sd._metadata.items()}}}


# ----------------------------------------------------------------------------------------------------------------
# §11.1 containers and zip

def gen_zip_containers():
    x4 = {"x": torch.arange(4, dtype=torch.float32)}
    save_to("t.pt", x4)
    assert out_path("t.pt").read_bytes() == spec_base64(r"## Appendix B"), "t.pt differs from spec Appendix B"
    emit("t.pt", "zip", ["Z1"], "tiny zip {'x': arange(4.)} (= spec Appendix B, byte-identical)",
         notes="prefix 't'; data/0 has FB extra length 0; byteorder has FB length 1")

    sd = small_state_dict()
    save_to("sd_small.pt", sd)
    emit("sd_small.pt", "zip", ["Z2", "Z3"], "Linear+BatchNorm1d state dict saved to a path (prefix 'sd_small')",
         notes=SD_NOTE, extra=sd_extra(sd))

    write_bytes("sd_buffer.pt", save_bytes(sd))
    emit("sd_buffer.pt", "zip", ["Z3"], "same state dict saved to a BytesIO (prefix 'archive')", notes=SD_NOTE)

    save_to("my.model.pt", sd)
    emit("my.model.pt", "zip", ["Z3"], "same state dict, file name with dots (prefix 'my.model')", notes=SD_NOTE)

    # Z4: older files lack .format_version / .storage_alignment / byteorder.
    recs = read_records(save_bytes(sd))
    recs = [(n, d) for n, d in rename_prefix(recs, "sd_nometa")
            if not n.endswith(("/.format_version", "/.storage_alignment", "/byteorder"))]
    write_bytes("sd_nometa.pt", torch_zip(recs))
    emit("sd_nometa.pt", "zip", ["Z4"], "no .format_version, .storage_alignment, byteorder records (pre-2.x file)",
         notes=SD_NOTE + " byteorder must default to little.")

    from torch.utils.serialization import config
    config.save.storage_alignment = 4096
    try:
        save_to("align4096.pt", x4)
    finally:
        config.save.storage_alignment = 64
    emit("align4096.pt", "zip", ["Z5"], "storage_alignment=4096: every payload at a multiple of 4096",
         notes=".storage_alignment record says 4096")

    config.save.compute_crc32 = False
    try:
        save_to("nocrc.pt", x4)
    finally:
        config.save.compute_crc32 = True
    emit("nocrc.pt", "zip", ["Z6"], "compute_crc32=False: CRC 0 in data descriptors and CD",
         notes="Python zipfile raises Bad CRC-32 on it; torch loads it; so must vqrt")

    save_to("crc_bad.pt", x4)
    blob = bytearray(out_path("crc_bad.pt").read_bytes())
    lay_off = blob.find(b"crc_bad/data/0")
    nl, xl = struct.unpack("<HH", blob[lay_off - 4:lay_off])
    payload = lay_off + nl + xl
    assert blob[payload:payload + 16] == struct.pack("<4f", 0, 1, 2, 3)
    blob[payload + 6] ^= 0x01          # element 1: 0x3f800000 -> 0x3f810000
    write_bytes("crc_bad.pt", bytes(blob))
    emit("crc_bad.pt", "zip", ["Z7", "H29"], "one payload byte flipped after saving; CRCs not updated",
         notes="torch does not check CRCs and returns the flipped value x[1] = 1.0078125; default mode must do the "
               "same (optionally warn); a strict-CRC mode must error")

    recs = rename_prefix(read_records(save_bytes(sd)), "zip64_small")
    write_bytes("zip64_small.pt", pyzip(recs, force_zip64=True))
    emit("zip64_small.pt", "zip", ["Z8"], "Python zipfile force_zip64=True: zip64 extras in local headers "
         "(sizes 0xFFFFFFFF), unaligned payloads, no data descriptors, no ZIP64 EOCD", notes=SD_NOTE)

    recs = rename_prefix(read_records(save_bytes(sd)), "zip64_forced")
    write_bytes("zip64_forced.pt", build_zip([Entry(n, d, zip64=True) for n, d in recs]))
    emit("zip64_forced.pt", "zip", ["Z8"], "torch layout with every record forced to zip64: local extra "
         "(usize, csize, own offset), CD sizes/offset 0xFFFFFFFF with a 24-byte zip64 extra, 24-byte data "
         "descriptors", notes=SD_NOTE)

    recs = rename_prefix(read_records(save_bytes(sd)), "deflated")
    write_bytes("deflated.pt", pyzip(recs, method=zipfile.ZIP_DEFLATED))
    emit("deflated.pt", "zip", ["Z9"], "the state dict re-zipped by Python zipfile with deflate (method 8)",
         notes=SD_NOTE + " torch loads it (not with mmap=True, which returns garbage); zero-copy must be off.")

    # Z11: 300 entries -> LONG_BINPUT; re-references of late memo entries -> LONG_BINGET.
    many = collections.OrderedDict()
    for i in range(300):
        many[f"layer{i}.w"] = torch.tensor([float(i), -float(i) / 4])
    save_to("many.pt", many)
    emit("many.pt", "zip", ["Z11"], "300 tensors (memo indices > 255: LONG_BINPUT)",
         notes="tensor i = [i, -i/4]")
    base = [torch.tensor([float(i)]) for i in range(100)]
    w = torch.arange(6, dtype=torch.float32)
    tied = collections.OrderedDict((f"t{i}", base[i]) for i in range(100))
    tied["tied_first"] = base[0]
    tied["tied_late"] = base[99]
    tied["w"] = w
    tied["w_view"] = w[2:]
    tied["w_again"] = w
    save_to("tied.pt", tied)
    emit("tied.pt", "zip", ["Z11", "T9"], "tied tensors: tied_first is t0, tied_late is t99 (LONG_BINGET), "
         "w_again is w; w_view shares w's storage", notes="C2 lists each tensor object once: tied_first, "
         "tied_late and w_again do not appear; w_view is its own tensor on w's storage (offset 2)")


# ----------------------------------------------------------------------------------------------------------------
# §11.2 tensors, dtypes, layouts

LEGACY_DTYPES = ["float32", "float16", "bfloat16", "float64", "int8", "uint8", "int16", "int32", "int64", "bool",
                 "complex64", "complex128"]
V3_DTYPES = ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "uint16", "uint32", "uint64"]


def gen_tensors():
    dt = {n: torch.arange(4).to(torch.float32).to(getattr(torch, n)) for n in LEGACY_DTYPES + V3_DTYPES}
    dt["complex32"] = torch.arange(4, dtype=torch.float16).to(torch.complex32)
    save_to("dtypes.pt", dt)
    emit("dtypes.pt", "zip", ["T1", "T2"], "arange(4) in 12 legacy-storage dtypes + 8 v3 dtypes",
         notes="v3 dtypes (float8 x4, uint16/32/64, complex32) use _rebuild_tensor_v3 with UntypedStorage; pid "
               "numel is in bytes (4/4/4/4/8/16/32/16). bool = F,T,T,T")

    v = {
        "float32": torch.tensor([-1.5, 0.1, 1e-40, 3.4e38, -0.0], dtype=torch.float32),
        "float16": torch.tensor([-65504.0, 6e-8, 0.1, -0.0, 1.0 / 3], dtype=torch.float16),
        "bfloat16": torch.tensor([-3.0e38, 1e-39, 0.1, 1.0 / 3, 255.0], dtype=torch.bfloat16),
        "float64": torch.tensor([-1.5, 0.1, 5e-324, 1.7e308, 1.0 / 3], dtype=torch.float64),
        "int8": torch.tensor([-128, 127, -1, 0, 5], dtype=torch.int8),
        "uint8": torch.tensor([0, 255, 128, 1, 7], dtype=torch.uint8),
        "int16": torch.tensor([-32768, 32767, -1, 0, 300], dtype=torch.int16),
        "int32": torch.tensor([-2 ** 31, 2 ** 31 - 1, -1, 0, 70000], dtype=torch.int32),
        "int64": torch.tensor([-(2 ** 53 - 1), 2 ** 53 - 1, -1, 0, 2 ** 40], dtype=torch.int64),
        "bool": torch.tensor([True, False, True, False, True]),
        "complex64": torch.tensor([1 + 2j, -3.5 - 0.25j], dtype=torch.complex64),
        "complex128": torch.tensor([1e-300 + 2j, -3.5 - 0.1j], dtype=torch.complex128),
        "float8_e4m3fn": torch.tensor([-448.0, 2.0 ** -9, 0.5, 448.0, -0.0], dtype=torch.float8_e4m3fn),
        "float8_e5m2": torch.tensor([-57344.0, 2.0 ** -16, 1.5, 57344.0, -0.0], dtype=torch.float8_e5m2),
        "float8_e4m3fnuz": torch.tensor([-240.0, 2.0 ** -10, 0.5, 240.0, 0.0], dtype=torch.float8_e4m3fnuz),
        "float8_e5m2fnuz": torch.tensor([-57344.0, 2.0 ** -17, 1.5, 57344.0, 0.0], dtype=torch.float8_e5m2fnuz),
        "uint16": torch.tensor([65535, 256, 1, 0, 40000], dtype=torch.uint16),
        "uint32": torch.tensor([2 ** 32 - 1, 2 ** 31, 1, 0, 65536], dtype=torch.uint32),
        "uint64": torch.tensor([2 ** 53 - 1, 2 ** 32, 1, 0, 255], dtype=torch.uint64),
        "complex32": torch.tensor([1 + 2j, -0.5 + 65504j], dtype=torch.complex64).to(torch.complex32),
    }
    save_to("dtype_values.pt", v)
    emit("dtype_values.pt", "zip", ["T1", "T2"], "edge values per dtype: extremes, subnormals, -0.0, 1/3 rounding",
         notes="float8 subnormals and maxima, float16/bfloat16 rounding of 0.1 and 1/3, uint32/uint64 above the "
               "signed range; the values are the exact stored numbers")

    a = torch.arange(12, dtype=torch.float32)
    views = {"a": a, "slice": a[2:8], "t": a.view(3, 4).t(), "col": a.view(3, 4)[:, 1],
             "expand": torch.tensor([7.0]).expand(3), "empty": torch.zeros(0), "scalar": torch.tensor(3.5),
             "empty2d": torch.zeros(2, 0)}
    save_to("views.pt", views)
    emit("views.pt", "zip", ["T3", "Z10"], "views on one storage: slice (offset 2), transpose (stride (1,4)), column "
         "(offset 1, stride 4), expand (stride 0), 0-d scalar, empty (0,) and (2,0) (0-byte records, flag 0x0800, "
         "no data descriptor)", notes="a, slice, t, col share data/0")

    perm = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4).permute(2, 0, 1)
    save_to("perm.pt", {"perm": perm, "perm_i64": torch.arange(24).reshape(2, 3, 4).permute(1, 2, 0)})
    emit("perm.pt", "zip", ["T4"], "3-d permutes (strides (1,12,4) and (4,1,12))")

    torch.manual_seed(0)
    p2 = torch.nn.Parameter(torch.ones(2))
    p2.my_attr = "hello"
    t_attr = torch.ones(2)
    t_attr.foo = 1
    params = {"param": torch.nn.Parameter(torch.tensor([1.0, 2.0])), "param_state": p2,
              "rg": torch.ones(2, requires_grad=True),
              "conj": torch.tensor([1 + 2j, 3 - 4j], dtype=torch.complex64).conj(),
              "neg": torch.tensor([1 + 2j], dtype=torch.complex64).conj().imag, "tensor_attr": t_attr,
              "frozen": torch.nn.Parameter(torch.tensor([5.0]), requires_grad=False)}
    save_to("params.pt", params)
    emit("params.pt", "zip", ["T5"], "Parameter (_rebuild_parameter), Parameter with state "
         "(_rebuild_parameter_with_state, my_attr='hello'), requires_grad tensor, conj (metadata {'conj': True}), "
         "neg view (offset 1, stride 2, {'neg': True}), tensor attribute (_rebuild_from_type_v2, foo=1), "
         "Parameter(requires_grad=False)", notes="conj logical values [1-2j, 3+4j] (stored 1,2,3,-4); neg logical "
         "[-2.0] (stored imag of the un-conjugated tensor = 2)",
         extra={"attributes": {"param_state": {"my_attr": "hello"}, "tensor_attr": {"foo": 1}},
                "requires_grad": {"param": True, "param_state": True, "rg": True, "frozen": False}})

    ex = {"sparse": torch.sparse_coo_tensor(torch.tensor([[0, 1], [1, 0]]), torch.tensor([1.0, 2.0]), (2, 2)),
          "q": torch.quantize_per_tensor(torch.tensor([0.5, 1.0]), 0.1, 0, torch.quint8),
          "meta": torch.empty(2, 3, device="meta"), "dense": torch.tensor([1.0])}
    save_to("exotic.pt", ex)
    emit("exotic.pt", "zip", ["T6"], "sparse COO (_rebuild_sparse_tensor via _get_layout), quantized per-tensor "
         "(QUInt8Storage, scale 0.1, zero point 0), meta tensor (_rebuild_meta_tensor_no_storage)",
         notes="sparse: 'values' are the dense logical values (components: indices [[0,1],[1,0]] int64, values "
               "[1,2]); q: values are the stored integers (int_repr) with q_scale/q_zero_point; meta: shape "
               "only (values and sha256 null). A clear 'unsupported' error is also acceptable for sparse/q, "
               "never garbage.",
         extra={"sparse_components": {"sparse": {"indices": [[0, 1], [1, 0]], "values": [1.0, 2.0],
                                                 "size": [2, 2]}}})

    st = {"untyped": torch.tensor([1, 2, 250], dtype=torch.uint8).untyped_storage(),
          "half": torch.HalfStorage([1.0, 0.5, -2.0]), "tensor": torch.tensor([9.0])}
    save_to("storages.pt", st)
    emit("storages.pt", "zip", ["T7"], "bare storages as values: UntypedStorage (bytes 1,2,250) and TypedStorage "
         "HalfStorage [1, 0.5, -2]", notes="storages are not tensors (C2 lists only 'tensor'); they are exposed "
         "as storage values",
         extra={"storages": [{"name": "untyped", "pid_type": "torch.storage.UntypedStorage", "dtype": "uint8",
                              "values": [1, 2, 250]},
                             {"name": "half", "pid_type": "torch.HalfStorage", "dtype": "float16",
                              "values": [1.0, 0.5, -2.0]}]})

    # T8: byteorder=big rewrite. Keys 0..4 are assigned in this dict's order; swap by element size (complex: halves).
    be = {"f32": torch.tensor([1.5, -2.0, 3.25]), "i64": torch.tensor([1, -2, 2 ** 40]),
          "f16": torch.tensor([0.5, -1.0], dtype=torch.float16), "u8": torch.tensor([1, 2, 255], dtype=torch.uint8),
          "c64": torch.tensor([1 + 2j, -3 + 0.5j], dtype=torch.complex64)}
    itemsizes = {"0": 4, "1": 8, "2": 2, "3": 1, "4": 4}
    write_bytes("big_endian.pt", to_big_endian(save_bytes(be), "big_endian", itemsizes))
    got = torch.load(out_path("big_endian.pt"), weights_only=False)
    for k in be:
        assert torch.equal(got[k], be[k]), k
    emit("big_endian.pt", "zip", ["T8"], "byteorder 'big' with element-swapped payloads (f32, i64, f16, u8, c64)",
         root=be, notes="values equal the little-endian originals (torch 2.15 agrees)")

    be3 = {"u16": torch.tensor([1, 2, 3], dtype=torch.uint16),
           "f8": torch.tensor([1.0, -2.0], dtype=torch.float8_e4m3fn)}
    write_bytes("big_endian_v3.pt", to_big_endian(save_bytes(be3), "big_endian_v3", {"0": 2, "1": 1}))
    got = torch.load(out_path("big_endian_v3.pt"), weights_only=False)
    assert got["u16"].tolist() == [256, 512, 768], got["u16"]     # the documented torch bug
    emit("big_endian_v3.pt", "zip", ["T8b"], "byteorder 'big', v3 uint16 [1,2,3] (+ float8, 1-byte, unswapped)",
         root=be3, torch_loads=False,
         notes="expected values by hand: u16 = [1,2,3]. torch 2.15 returns [256,512,768] (it never swaps "
               "UntypedStorage-backed v3 tensors); vqrt must swap by the tensor's itemsize")

    t = torch.tensor([1.0, 2.0, 3.0])
    shared = {"a": t, "b": t, "l": [t, t], "tup": (t, 1), "other": torch.tensor([4.0])}
    save_to("shared.pt", shared)
    emit("shared.pt", "zip", ["T9"], "one tensor under two keys and inside a list and a tuple (BINGET)",
         notes="identity: a, b, l.0, l.1, tup.0 are one tensor object (C2 lists it once as 'a')")

    torch.manual_seed(0)
    ps = [torch.nn.Parameter(torch.randn(s)) for s in [(2, 2), (2,), (3,), ()]]
    opt = torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.95))
    loss = sum((p * p).sum() for p in ps)
    loss.backward()
    opt.step()
    save_to("train_state.pt", opt.state_dict())
    emit("train_state.pt", "zip", ["T10"], "Adam optimizer.state_dict() after one step",
         notes="state keys are ints 0..3; step is a 0-d float32 tensor; betas a tuple",
         scalars=["param_groups.0.lr", "param_groups.0.betas.0", "param_groups.0.betas.1",
                  "param_groups.0.params.0", "param_groups.0.params.3", "param_groups.0.eps",
                  "param_groups.0.amsgrad", "param_groups.0.foreach"],
         objects=["param_groups.0.betas", "param_groups.0.params"])


def to_big_endian(blob, prefix, itemsizes):
    """Rewrite a little-endian torch zip as written on a big-endian host: byteorder 'big', payloads swapped."""
    recs = []
    for n, d in read_records(blob):
        n = prefix + "/" + n.split("/", 1)[1]
        if n.endswith("/byteorder"):
            d = b"big"
        else:
            m = re.match(r".*/data/(\d+)$", n)
            if m and itemsizes[m.group(1)] > 1:
                d = np.frombuffer(d, f"<u{itemsizes[m.group(1)]}").byteswap().tobytes()
        recs.append((n, d))
    return torch_zip(recs)


# ----------------------------------------------------------------------------------------------------------------
# §11.3 protocols and Python objects

def misc_objects():
    return {
        "ns": argparse.Namespace(a=1, b="x", lr=0.5, gpu=[0, 1]),
        "np_f64": np.float64(1.5), "np_i64": np.int64(-7), "np_f32": np.float32(0.25),
        "ndarray": np.arange(6, dtype=np.float32).reshape(2, 3),
        "ndarray_f": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        "path": pathlib.PurePosixPath("/a/b"),
        "set": {3, 1, 2}, "frozenset": frozenset({5, 4}),
        "bytes": b"\x00\xffab", "bytearray": bytearray(b"xy\x80"), "complex": 1 + 2j,
        "big": 2 ** 70, "neg5": -5, "neg2_40": -(2 ** 40), "f": 0.1, "none": None,
        "tuple": (1, "two", 3.0), "intkeys": {1: "a", 2: "b", -3: "c"},
        "device": torch.device("cuda:1"), "dtype": torch.float16, "size": torch.Size([2, 3]),
        "unicode": "h\u00e9llo \u2713 \u65e5\u672c", "empty_tuple": (), "one_tuple": (1,),
        "t": True, "f_": False, "i200": 200, "i60000": 60000, "i_70000": -70000, "i2_40": 2 ** 40,
        "i255": 255, "i256": 256, "i65535": 65535, "i65536": 65536, "i2_31m1": 2 ** 31 - 1, "i2_31": 2 ** 31,
        "i_2_31": -(2 ** 31), "i_2_31m1": -(2 ** 31) - 1,
        "x": torch.arange(3, dtype=torch.float32),
    }


MISC_SCALARS = ["ns.a", "ns.b", "ns.lr", "ns.gpu.1", "np_f64", "np_i64", "np_f32", "big", "neg5", "neg2_40", "f",
                "none", "tuple.0", "tuple.1", "tuple.2", "intkeys.1", "intkeys.-3", "unicode", "t", "f_", "i200",
                "i60000", "i_70000", "i2_40", "i255", "i256", "i65535", "i65536", "i2_31m1", "i2_31", "i_2_31",
                "i_2_31m1"]
MISC_OBJECTS = ["ns", "np_f64", "np_i64", "np_f32", "ndarray", "ndarray_f", "path", "set", "frozenset", "bytes",
                "bytearray", "complex", "big", "tuple", "intkeys", "device", "dtype", "size", "empty_tuple",
                "one_tuple"]
MISC_NOTE = ("every value decoded exactly: BININT1/BININT2/BININT/LONG1 boundaries (255/256, 65535/65536, "
             "2**31-1/2**31, -2**31/-2**31-1), BINFLOAT big-endian, big int 2**70 (scalar as a decimal string), "
             "bytes via _codecs.encode (proto 2) or BINBYTES (proto >= 3), numpy scalars/arrays (ndarray_f is "
             "Fortran-ordered), torch.device/dtype/Size")


def gen_protocols():
    sd = small_state_dict()
    for p in (1, 3, 4, 5):
        save_to(f"sd_proto{p}.pt", sd, pickle_protocol=p)
        ops = {1: "INT bools, MARK...TUPLE, no PROTO", 3: "BINBYTES, builtins.*",
               4: "FRAME, MEMOIZE, STACK_GLOBAL, SHORT_BINUNICODE", 5: "as 4 (protocol 5 header)"}[p]
        emit(f"sd_proto{p}.pt", "zip", [{1: "P1", 3: "P2", 4: "P3", 5: "P3"}[p]],
             f"the state dict at pickle protocol {p} ({ops})", notes=SD_NOTE, protocol=p)
    save_to("misc.pt", misc_objects())
    emit("misc.pt", "zip", ["P4"], "non-tensor objects of spec P4 at protocol 2", notes=MISC_NOTE,
         scalars=MISC_SCALARS, objects=MISC_OBJECTS)
    for p in (1, 3, 4, 5):
        save_to(f"misc_proto{p}.pt", misc_objects(), pickle_protocol=p)
        emit(f"misc_proto{p}.pt", "zip", [{1: "P1", 3: "P2", 4: "P3", 5: "P3"}[p]],
             f"misc objects at protocol {p}" + (" (EMPTY_SET/ADDITEMS, FROZENSET, BYTEARRAY8 at 5)" if p >= 4 else ""),
             notes=MISC_NOTE, scalars=MISC_SCALARS, objects=MISC_OBJECTS, protocol=p)

    save_to("np_object.pt", {"obj": np.array([1, "a", None], dtype=object), "x": torch.tensor([1.0])})
    emit("np_object.pt", "zip", ["P5"], "object ndarray: BUILD rawdata is a list of Python objects",
         objects=["obj"])

    # P7: a Python-2-era legacy file, hand-assembled (SHORT_BINSTRING strings, OrderedDict([[k, v], ...])).
    write_bytes("py2_legacy.pt", py2_legacy())
    root = collections.OrderedDict([("weight", torch.tensor([[1.0, 2.0], [3.0, 4.0]])),
                                    ("bias", torch.tensor([0.5, -0.5])),
                                    ("steps", torch.tensor(7))])
    got = torch.load(out_path("py2_legacy.pt"), weights_only=False)
    assert list(got.keys()) == list(root.keys()) and all(torch.equal(got[k], root[k]) for k in root)
    emit("py2_legacy.pt", "legacy", ["P7", "L1"], "Python 2.7-era legacy file (hand-assembled): SHORT_BINSTRING "
         "strings everywhere, __builtin__ names, OrderedDict REDUCE'd from a list of [key, value] lists, "
         "_metadata BUILD, 6-arg _rebuild_tensor_v2", root=got,
         notes="torch.load (encoding utf-8) reads it; keys decode to str")

    # P8: Python 3.13 pathlib._local.PosixPath, hand-assembled (Python 3.11 cannot unpickle it).
    pk = pickle2(dict_of([(uni("path"), glob("pathlib._local", "PosixPath") + tup(uni("/a/b")) + REDUCE),
                          (uni("x"), float_tensor("0", 2, 0, (2,), (1,)))]))
    write_bytes("pathlib_local.pt", torch_zip([("pathlib_local/data.pkl", pk),
                                               ("pathlib_local/data/0", struct.pack("<2f", 1.0, 2.0)),
                                               ("pathlib_local/version", b"3\n")]))
    emit("pathlib_local.pt", "zip", ["P8"], "Python 3.13 pickle of PosixPath: GLOBAL 'pathlib._local PosixPath' "
         "with one string argument (hand-assembled)", root={"path": pathlib.PurePosixPath("/a/b"),
                                                             "x": torch.tensor([1.0, 2.0])},
         torch_loads=False, notes="expected by hand (this Python has no pathlib._local)",
         objects={"path": {"type": "path", "class": "pathlib._local.PosixPath", "value": "/a/b"}})

    # P9: plain pickle.dumps of a tensor dict: each storage is a nested legacy file via _load_from_bytes.
    w = torch.ones(2)
    b = torch.tensor([1, 2, 3], dtype=torch.int32)
    keys = [str(w.untyped_storage()._cdata), str(b.untyped_storage()._cdata)]
    raw, _ = _remap(pickle.dumps({"w": w, "b": b}, protocol=2), keys)
    write_bytes("plain_pickle.pkl", raw)
    root = pickle.loads(raw)            # our own benign pickle, generated just above
    emit("plain_pickle.pkl", "pickle", ["P9"], "raw pickle.dumps({'w': ones(2), 'b': int32 [1,2,3]}) (no torch "
         "container): each storage is REDUCE(torch.storage._load_from_bytes, (_codecs.encode(<legacy file>),))",
         root=root, torch_loads=False,
         notes="format 'pickle' (outside C3's list): needs a raw-pickle mode; torch.load itself rejects the file "
               "(no magic number); values from pickle.loads")
    write_bytes("nested_blob.pt", torch_zip([("archive/data.pkl", raw), ("archive/byteorder", b"little"),
                                             ("archive/version", b"3\n")]))
    emit("nested_blob.pt", "zip", ["P9"], "the same plain pickle as the data.pkl of a zip (no storage records): "
         "tensors come from nested legacy blobs (depth 1)")

    # P10: dict/list subclasses -> placeholders with dictItems/listItems plus BUILD attributes.
    d = fixtures_modules.MyDict(a=torch.tensor([1.0, 2.0]), n=3)
    d.attr = "hi"
    lst = fixtures_modules.MyList([torch.tensor([5], dtype=torch.int64), "s"])
    lst.tag = 7
    save_to("subclasses.pt", {"d": d, "l": lst})
    emit("subclasses.pt", "zip", ["P10"], "dict subclass (NEWOBJ + SETITEMS on the object + BUILD) and list "
         "subclass (NEWOBJ + APPENDS + BUILD) from module fixtures_modules",
         scalars=["d.n", "d.attr", "l.1", "l.tag"],
         notes="C2 walk of a placeholder: listItems by index, dictItems by key, then BUILD attributes")


def py2_legacy():
    """A legacy file as torch 0.4 under Python 2.7 wrote it (hand-assembled; there is no python2 here)."""
    S = bstr
    magic = proto(2) + long1(0x1950A86A20F9469CFC6C) + STOP
    version = proto(2) + integer(1001) + STOP
    sys_info = proto(2) + EMPTY_DICT + put(0) + MARK + S("protocol_version") + put(1) + integer(1001) + \
        S("little_endian") + put(2) + NEWTRUE + S("type_sizes") + put(3) + EMPTY_DICT + put(4) + MARK + \
        S("short") + put(5) + integer(2) + S("int") + put(6) + integer(4) + S("long") + put(7) + integer(8) + \
        SETITEMS + SETITEMS + STOP
    keys = ["94105584913040", "94105584913168", "94105584913296"]

    def tensor(key_i, numel, size, stride, stype, first):
        # memo: 2 = rebuild fn, 3 = 'storage', 4 = FloatStorage, 5 = 'cpu', 6 = OrderedDict (BINGET once defined)
        if first:
            fn = glob("torch._utils", "_rebuild_tensor_v2") + put(2)
            st = S("storage") + put(3)
            loc = S("cpu") + put(5)
        else:
            fn, st, loc = get(2), get(3), get(5)
        styp = glob("torch", stype) if stype != "FloatStorage" or first else get(4)
        if first:
            styp += put(4)
        pid = MARK + st + styp + S(keys[key_i]) + loc + integer(numel) + NONE + TUPLE + BINPERSID
        return fn + MARK + pid + integer(0) + ints_tuple(size) + ints_tuple(stride) + NEWFALSE + \
            get(0) + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE

    main = proto(2) + glob("collections", "OrderedDict") + put(0) + EMPTY_LIST + put(1) + MARK
    main += EMPTY_LIST + MARK + S("weight") + tensor(0, 4, (2, 2), (2, 1), "FloatStorage", True) + APPENDS
    main += EMPTY_LIST + MARK + S("bias") + tensor(1, 2, (2,), (1,), "FloatStorage", False) + APPENDS
    main += EMPTY_LIST + MARK + S("steps") + tensor(2, 1, (), (), "LongStorage", False) + APPENDS
    main += APPENDS + TUPLE1 + REDUCE + put(7)
    # _metadata: {'': {'version': 1}} as a py2 OrderedDict (BUILD sets it as an attribute).
    meta = get(0) + EMPTY_LIST + MARK + EMPTY_LIST + MARK + S("") + EMPTY_DICT + S("version") + integer(1) + \
        SETITEM + APPENDS + APPENDS + TUPLE1 + REDUCE
    main += EMPTY_DICT + S("_metadata") + meta + SETITEM + BUILD + STOP
    keylist = proto(2) + EMPTY_LIST + MARK + b"".join(S(k) for k in keys) + APPENDS + STOP
    data = legacy_storage(4, struct.pack("<4f", 1, 2, 3, 4)) + legacy_storage(2, struct.pack("<2f", 0.5, -0.5)) + \
        legacy_storage(1, struct.pack("<q", 7))
    return magic + version + sys_info + main + keylist + data


# ----------------------------------------------------------------------------------------------------------------
# §11.4 legacy formats

def gen_legacy():
    write_bytes("tl.pt", spec_base64(r"Minimal legacy fixture"))
    emit("tl.pt", "legacy", ["L1"], "tiny legacy file from spec §5.1 (base64, 365 bytes)")

    sd = small_state_dict()
    write_bytes("sd_legacy.pt", legacy_save_bytes(sd))
    emit("sd_legacy.pt", "legacy", ["L2"], "the state dict in the legacy stacked-pickle format",
         notes=SD_NOTE + " Storage keys are sorted decimal strings (rewritten to fixed numbers).")
    write_bytes("sd_legacy_proto4.pt", legacy_save_bytes(sd, protocol=4))
    emit("sd_legacy_proto4.pt", "legacy", ["L3"], "legacy format at protocol 4: each of the 5 pickles starts "
         "with FRAME", notes=SD_NOTE, protocol=4)

    a = torch.arange(8, dtype=torch.float32)
    write_bytes("legacy_views.pt", legacy_save_bytes({"a": a, "slice": a[3:6], "t": a.view(2, 4).t(),
                                                      "i": torch.tensor([1, 2], dtype=torch.int16)}))
    emit("legacy_views.pt", "legacy", ["L4"], "legacy views sharing one storage (offset 3; transpose)")

    v3 = {"f8": torch.tensor([1.0, -0.5, 448.0], dtype=torch.float8_e4m3fn),
          "u16": torch.tensor([1, 2, 65535], dtype=torch.uint16), "f32": torch.tensor([2.5])}
    write_bytes("legacy_v3.pt", legacy_save_bytes(v3))
    try:
        torch.load(out_path("legacy_v3.pt"), weights_only=False)
        raise AssertionError("torch now loads legacy_v3.pt: re-check the divergence note")
    except AttributeError:
        pass
    emit("legacy_v3.pt", "legacy", ["L5"], "float8 and uint16 in the legacy format (UntypedStorage pids, numel and "
         "raw header in bytes)", root=v3, torch_loads=False,
         notes="expected values by hand: torch 2.15 cannot load this file (UntypedStorage has no attribute dtype); "
               "vqrt treats UntypedStorage as bytes and uses the tensor dtype from _rebuild_tensor_v3")

    write_bytes("legacy_tar.pt", legacy_tar())
    emit("legacy_tar.pt", "tar", ["L6"], "0.1.x tar (sys_info, pickle, tensors, storages); 2 tensors viewing one "
         "6-float FloatStorage (spec §12 gen_tar.py recipe)",
         notes="w = [[0,1,2],[3,4,5]], odd = [1,3,5] (offset 1, stride 2); torch.load(weights_only=True) refuses "
               "tar files")

    # L7: whole-module save; the legacy pickler emits ('module', cls, source_file, source) pids for each class.
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        fixtures_modules.__file__ = "tools/fixtures_modules.py"     # stable source_file string in the pid
        write_bytes("legacy_module.pt", legacy_save_bytes(fixtures_modules.TinyNet()))
        root = torch.load(out_path("legacy_module.pt"), weights_only=False)
    finally:
        os.chdir(cwd)
    emit("legacy_module.pt", "legacy", ["L7"], "whole nn.Module saved in the legacy format (pid ('module', cls, "
         "file, source) for TinyNet and TinyChild from tools/fixtures_modules.py)", root=root,
         scalars=["note", "training"],
         notes="the module is a placeholder; tensors are reached through its BUILD state (_parameters, _buffers, "
               "_modules)")


def legacy_tar():
    """The spec §12 gen_tar.py recipe: a PyTorch 0.1.x-style tar checkpoint that torch.load 2.15 reads."""
    def dump(f, o):
        pickle.dump(o, f, protocol=2)

    class PID:
        def __init__(self, k):
            self.key = k

    class P(pickle.Pickler):
        def persistent_id(self, o):
            return str(o.key) if isinstance(o, PID) else None

    S, T1, T2 = 1001, 2001, 2002
    st = io.BytesIO()
    dump(st, 1)
    dump(st, (S, "cpu", torch.FloatStorage))
    st.write(struct.pack("<q", 6) + struct.pack("<6f", 0, 1, 2, 3, 4, 5))
    dump(st, [])
    te = io.BytesIO()
    dump(te, 2)
    for key, size, stride, off in [(T1, (2, 3), (3, 1), 0), (T2, (3,), (2,), 1)]:
        dump(te, (key, S, torch.FloatTensor))
        nd = len(size)
        te.write(struct.pack("<i", nd) + b"\0\0\0\0" + struct.pack(f"<{nd}q", *size) +
                 struct.pack(f"<{nd}q", *stride) + struct.pack("<q", off))
    pk = io.BytesIO()
    P(pk, protocol=2).dump(collections.OrderedDict([("w", PID(T1)), ("odd", PID(T2))]))
    si = io.BytesIO()
    dump(si, {"protocol_version": 1000, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 8}})
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        for name, buf in [("sys_info", si), ("pickle", pk), ("tensors", te), ("storages", st)]:
            ti = tarfile.TarInfo(name)
            ti.size = len(buf.getvalue())
            ti.mtime = 0
            tar.addfile(ti, io.BytesIO(buf.getvalue()))
    return out.getvalue()


# ----------------------------------------------------------------------------------------------------------------
# Real-world container shapes: Lightning 2.x, old Lightning 1.x, DataParallel, rotation_trick Table 1, LDM, safetensors

def gen_real_world():
    gen_lightning()

    # P11: old Lightning (< 1.3): callbacks keyed by the callback class; hparams an AttributeDict (dict subclass).
    from pytorch_lightning.callbacks.model_checkpoint import ModelCheckpoint
    from pytorch_lightning.utilities.parsing import AttributeDict
    sd = collections.OrderedDict([("model.l.weight", torch.tensor([[0.5, -1.0]])),
                                  ("model.l.bias", torch.tensor([0.25]))])
    hp = AttributeDict(lr=0.01, batch_size=8, data_dir="/data")
    ck = {"epoch": 3, "global_step": 120, "pytorch-lightning_version": "1.2.10",
          "callbacks": {ModelCheckpoint: {"monitor": "val_loss", "best_model_score": torch.tensor(0.125),
                                          "best_model_path": "/ckpt/epoch=2.ckpt", "current_score": None,
                                          "dirpath": "/ckpt"}},
          "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.01, "momentum": 0, "params": [0, 1]}]}],
          "lr_schedulers": [], "state_dict": sd, "hparams_name": "kwargs", "hyper_parameters": hp}
    write_bytes("pl1_callbacks.ckpt", save_bytes(ck))
    emit("pl1_callbacks.ckpt", "zip", ["P11", "P10"], "Lightning 1.2-style checkpoint: 'callbacks' dict keyed by "
         "the class GLOBAL pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint; hyper_parameters an "
         "AttributeDict (dict-subclass placeholder)",
         scalars=["epoch", "global_step", "pytorch-lightning_version",
                  "callbacks.pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint.monitor",
                  "hyper_parameters.lr", "hyper_parameters.batch_size", "hyper_parameters.data_dir"],
         notes="the callbacks key is a class global: C2 component 'pytorch_lightning.callbacks.model_checkpoint."
               "ModelCheckpoint'; state dict prefix 'model.'")

    # DataParallel-prefixed training dict.
    sdp = collections.OrderedDict((f"module.{k}", v) for k, v in small_state_dict().items())
    save_to("dp_model.pt", {"model": sdp, "epoch": 5, "best_acc1": 71.5, "arch": "tiny"})
    emit("dp_model.pt", "zip", [], "DataParallel checkpoint {'model': {'module.*': ...}, 'epoch', 'best_acc1', "
         "'arch'}", scalars=["epoch", "best_acc1", "arch"],
         notes="stateDict() should pick 'model' and strip 'module.'")

    gen_table1()
    gen_ldm()

    from safetensors.torch import save_file
    sf = collections.OrderedDict([("enc.weight", torch.tensor([[1.0, 2.0], [3.0, 4.0]])),
                                  ("enc.bias", torch.tensor([0.5, -0.5], dtype=torch.float16)),
                                  ("codebook", torch.tensor([[1.0, 0.0]], dtype=torch.bfloat16)),
                                  ("steps", torch.tensor(3)), ("mask", torch.tensor([True, False]))])
    save_file(sf, str(out_path("small.safetensors")), metadata={"format": "pt"})
    hlen = struct.unpack("<Q", out_path("small.safetensors").read_bytes()[:8])[0]
    header = json.loads(out_path("small.safetensors").read_bytes()[8:8 + hlen])
    order = [k for k in header if k != "__metadata__"]
    emit("small.safetensors", "safetensors", [], "safetensors file (f32, f16, bf16, 0-d i64, bool) with "
         "__metadata__", root=sf, tensors=[tensor_record(k, sf[k]) for k in order], torch_loads=False,
         notes="tensors in header order (the safetensors writer sorts them by dtype alignment, then name); "
               "metadata {'format': 'pt'}", extra={"metadata": header["__metadata__"]})


def gen_lightning():
    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    class Demo(pl.LightningModule):
        def __init__(self, cfg, ns, path, lr=0.125):
            super().__init__()
            self.save_hyperparameters()
            self.l = torch.nn.Linear(2, 1)

        def training_step(self, batch, i):
            x, y = batch
            return torch.nn.functional.mse_loss(self.l(x), y)

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.5)
            return [opt], [torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)]

    Demo.__module__ = "demo_module"
    Demo.__qualname__ = "Demo"
    # Small integers, dyadic weights, learning rate, momentum and decay: every product and sum of the 4 training
    # steps is exact in float32, so the trained values do not depend on the CPU's kernels (summation order).
    pl.seed_everything(0, verbose=False)
    x = torch.randint(-2, 3, (8, 2)).float()
    y = x.sum(1, keepdim=True)
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    cfg = OmegaConf.create({"model": {"hidden": 4, "layers": [1, 2]}, "name": "demo"})
    m = Demo(cfg, argparse.Namespace(a=1, b="x"), pathlib.PosixPath("/data/imgs"))
    with torch.no_grad():
        m.l.weight.copy_(torch.tensor([[0.5, -0.25]]))
        m.l.bias.fill_(0.125)
    d = "/tmp/vqrt_pl_fixture"
    shutil.rmtree(d, ignore_errors=True)
    t = pl.Trainer(max_epochs=2, accelerator="cpu", devices=1, default_root_dir=d, logger=False,
                   enable_progress_bar=False, enable_model_summary=False,
                   callbacks=[pl.callbacks.ModelCheckpoint(dirpath=d, save_last=True)])
    t.fit(m, dl)
    shutil.copyfile(f"{d}/last.ckpt", out_path("pl_last.ckpt"))
    shutil.rmtree(d, ignore_errors=True)
    root = torch.load(out_path("pl_last.ckpt"), weights_only=False)
    cb = next(k for k in root["callbacks"] if k.startswith("ModelCheckpoint"))
    emit("pl_last.ckpt", "zip", ["P6", "Z3"], "Lightning 2.6 last.ckpt from a real 2-epoch Trainer.fit on CPU: "
         "OmegaConf DictConfig, Namespace and PosixPath hparams, SGD(momentum) state, StepLR",
         root=root,
         scalars=["epoch", "global_step", "pytorch-lightning_version", "hparams_name", "hyper_parameters.lr",
                  "hyper_parameters.ns.a", "hyper_parameters.ns.b", "optimizer_states.0.param_groups.0.lr",
                  "optimizer_states.0.param_groups.0.momentum", "lr_schedulers.0.last_epoch",
                  "lr_schedulers.0.gamma", f"callbacks.{cb}.best_model_path",
                  "loops.fit_loop.epoch_loop.state_dict._batches_that_stepped"],
         objects=["hyper_parameters.cfg", "hyper_parameters.path", "hyper_parameters.ns"],
         notes="prefix 'archive'; state_dict keys carry the attribute prefix 'l.'; omegaConfToPlain("
               "hyper_parameters.cfg) == {'model': {'hidden': 4, 'layers': [1, 2]}, 'name': 'demo'}; OmegaConf "
               "nodes reference their parent (cycles)")


def gen_table1():
    """rotation_trick Table 1 checkpoint shape (src/train_utils/trainer.py): torch.save({'args', 'model', 'epoch',
    'optimizer', 'scheduler', 'best_val_loss'}) with a DDP-wrapped model and the whole scheduler object."""
    fixtures_modules.install()
    torch.manual_seed(0)

    class Codebook(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("initted", torch.Tensor([True]))
            self.register_buffer("cluster_size", torch.zeros(1, 4))
            self.register_buffer("embed_avg", torch.randn(1, 4, 2))
            self.register_buffer("embed", torch.randn(1, 4, 2))

    class VQ(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self._codebook = Codebook()

    class Enc(torch.nn.Module):
        def __init__(self, cin, cout, name):
            super().__init__()
            setattr(self, name, torch.nn.Conv2d(cin, cout, 1))

    class TinyVQVAE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = Enc(3, 2, "conv_in")
            self.decoder = Enc(2, 3, "conv_out")
            self.vq = VQ()
            self.pre_quant_proj = torch.nn.Sequential(torch.nn.Linear(2, 2))
            self.post_quant_proj = torch.nn.Linear(2, 2)

    class DDPLike(torch.nn.Module):      # DistributedDataParallel's state_dict prefixes 'module.'
        def __init__(self, m):
            super().__init__()
            self.module = m

    model = DDPLike(TinyVQVAE())
    args = argparse.Namespace(epoch=2, lr=0.0001, warmup_iters=2, decay_iters=10, weight_decay=0.0, opt="adam",
                              batch_size=4, n_accumulate=1, model="rot_vqvae", dropout=0.0, seed=42, f=8,
                              codebook="euclidean", commit_weight=1.0, scale_factor=1000000.0, dataset="imagenet",
                              wandb=False, port=0, checkpoint="", gpu=[0], save_dir="outputs",
                              skip_validation=False, skip_logging=False, skip_training=False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.99))
    sched = fixtures_modules.WarmupCosineFlatSchedule(opt, initial_lr=args.lr, warmup_iters=args.warmup_iters,
                                                      decay_iters=args.decay_iters, min_lr_constant=2)
    out = model.module.post_quant_proj(model.module.pre_quant_proj(torch.ones(1, 2)))
    (out.sum() + sum(p.sum() for p in model.parameters())).backward()
    opt.step()
    sched.step()
    ck = {"args": args, "model": model.state_dict(), "epoch": 1, "optimizer": opt.state_dict(),
          "scheduler": sched, "best_val_loss": 1000000.0}
    save_to("table1_rt.pth", ck)
    root = torch.load(out_path("table1_rt.pth"), weights_only=False)
    names = [n for n, _ in c2_walk(root)]
    assert not any("#" in n for n in names), names
    emit("table1_rt.pth", "zip", [], "rotation_trick Table 1 layout: {'args': Namespace, 'model': DDP state dict "
         "('module.' prefix, vq._codebook buffers), 'epoch', 'optimizer': AdamW state_dict, 'scheduler': the "
         "pickled src.train_utils.schedulers.WarmupCosineFlatSchedule object (holding the AdamW object, whose state "
         "is a defaultdict keyed by Parameters, and lr_lambdas = [builtins.getattr(scheduler, 'lr_lambda')]), "
         "'best_val_loss'}", root=root,
         scalars=["args.f", "args.codebook", "args.lr", "args.model", "args.epoch", "args.gpu.0", "epoch",
                  "best_val_loss", "optimizer.param_groups.0.lr", "optimizer.param_groups.0.betas.1",
                  "scheduler.initial_lr", "scheduler.warmup_iters", "scheduler.last_epoch",
                  "scheduler._step_count", "scheduler.optimizer.defaults.lr"],
         objects=["args"],
         notes="stateDict() should pick 'model' and strip 'module.'; the scheduler and its optimizer are "
               "placeholders (classes src.train_utils.schedulers.WarmupCosineFlatSchedule, torch.optim.adamw.AdamW); "
               "its defaultdict 'state' has Parameter keys (same objects as param_groups.0.params); lr_lambdas.0 "
               "is a REDUCE of builtins.getattr whose first argument is the scheduler itself (a cycle). The "
               "optimizer.state.N dicts are the same objects as scheduler.optimizer.state[param] (memo).")


def gen_ldm():
    """A latent-diffusion-era Lightning dict: first_stage_model.* weights plus loss.* (discriminator, LPIPS)."""
    torch.manual_seed(0)
    shapes = [("first_stage_model.encoder.conv_in.weight", (2, 3, 1, 1)), ("first_stage_model.encoder.conv_in.bias", (2,)),
              ("first_stage_model.quant_conv.weight", (2, 2, 1, 1)), ("first_stage_model.quant_conv.bias", (2,)),
              ("first_stage_model.quantize.embedding.weight", (4, 2)),
              ("first_stage_model.post_quant_conv.weight", (2, 2, 1, 1)),
              ("first_stage_model.post_quant_conv.bias", (2,)),
              ("first_stage_model.decoder.conv_out.weight", (3, 2, 1, 1)),
              ("first_stage_model.decoder.conv_out.bias", (3,)),
              ("loss.logvar", ()), ("loss.perceptual_loss.net.slice1.0.weight", (2, 3, 1, 1)),
              ("loss.perceptual_loss.lin0.model.1.weight", (1, 2, 1, 1)),
              ("loss.discriminator.main.0.weight", (2, 3, 1, 1)), ("loss.discriminator.main.0.bias", (2,))]
    sd = collections.OrderedDict((k, torch.randn(s)) for k, s in shapes)
    sd["loss.discriminator.main.1.num_batches_tracked"] = torch.tensor(11)

    def adam_state(keys):
        return {"state": {i: {"step": torch.tensor(11.0), "exp_avg": torch.zeros_like(sd[k]),
                              "exp_avg_sq": torch.zeros_like(sd[k])} for i, k in enumerate(keys)},
                "param_groups": [{"lr": 4.5e-06, "betas": (0.5, 0.9), "eps": 1e-08, "weight_decay": 0,
                                  "amsgrad": False, "params": list(range(len(keys)))}]}

    ck = {"epoch": 10, "global_step": 5000, "pytorch-lightning_version": "1.4.2", "state_dict": sd,
          "callbacks": {}, "optimizer_states": [adam_state([k for k, _ in shapes[:2]]),
                                                adam_state([k for k, _ in shapes[12:14]])],
          "lr_schedulers": []}
    write_bytes("ldm_style.ckpt", save_bytes(ck))
    emit("ldm_style.ckpt", "zip", [], "latent-diffusion-style Lightning dict: state_dict with "
         "first_stage_model.* (VQ autoencoder) and loss.* (LPIPS, discriminator) keys, two Adam states",
         scalars=["epoch", "global_step", "pytorch-lightning_version", "optimizer_states.1.param_groups.0.lr"],
         notes="stateDict() should strip 'first_stage_model.' and set loss.* aside")


# ----------------------------------------------------------------------------------------------------------------

README_HEAD = """# Loader fixtures (Fixtures/loader)

Test inputs for the safe PyTorch checkpoint loader (targets PickleVM, TorchFormats; spec
`../shared/spec/checkpoint-format.md` §11; contracts C2/C3). Generated, never edited by hand:

    .venv-tools/bin/python tools/make_fixtures.py                 # rewrites Fixtures/loader/** (about 15 s)
    .venv-tools/bin/python tools/make_fixtures.py --check         # regenerate in a temp dir and compare
    .venv-tools/bin/python tools/make_fixtures.py --only hostile  # just hostile/ (also --only positive)

Generators: `tools/make_fixtures.py` (positive cases), `tools/fixtures_hostile.py` (hostile/), helpers
`tools/fixtures_common.py` (C2 walk, expected values, sha256), `tools/fixtures_pickle.py` (opcode assembler),
`tools/fixtures_zip.py` (byte-exact torch/miniz zip writer with per-field overrides), `tools/fixtures_modules.py`
(classes some fixtures pickle by reference). Output is deterministic (re-running gives identical bytes; `--check`
verifies): fixed seeds, PYTHONHASHSEED=0, torch's fixed zip timestamps, zipfile date_time 1980-01-01, legacy storage
keys (heap addresses) rewritten to fixed numbers of the same length in first-seen order with the raw storages
reordered to match, a fixed Lightning run directory, a single safetensors metadata key.

Developer check against the Swift build (needs torch; not run in CI):

    .venv-tools/bin/python tools/diff_inspect.py [--vqrt .build/release/vqrt] [FILES...]
    .venv-tools/bin/python tools/diff_inspect.py --hostile

## Files

- `<name>.<ext>` + `<name>.expected.json` for every positive fixture (table below); `positive.json` lists them
  (file, expected, format, spec ids, description, torch_loads, tensor count).
- `hostile/*` + `hostile/manifest.json` (below).

### expected.json (contract C3, with extensions)

`{"format", "tensors": [{"name", "dtype", "shape", "values", "sha256"}], "scalars": {path: value}, "notes"}`.
`tensors` follows the C2 walk (depth-first, insertion order; dict keys verbatim / `str(key)` / `module.name` for a
class key; list and tuple indices; placeholder objects: list items by index, then dict items by key, then the
attributes of a dict BUILD state; each tensor object once, first path). `values` is the flat C-order list of
logical values (conj/neg resolved): floats exact (JSON numbers; non-finite as the strings "inf", "-inf", "nan"),
bool 0/1, complex [re, im], integers as numbers (all below 2**53). `sha256` is C2's hash of the logical values
(null for meta tensors). Scalars: plain JSON values; ints beyond 2**53 as decimal strings (misc `big` =
"1180591620717411303424" = 2**70). Extensions used by some files:
- `objects` {path: typed description} for non-tensor values: `{"type": "ndarray"|"numpy_scalar"|"path"|"set"|
  "frozenset"|"bytes"|"bytearray"|"complex"|"int"|"tuple"|"list"|"dict"|"torch.device"|"torch.dtype"|"torch.Size"|
  "omegaconf"|"object"|"global"|..., ...}` (ndarray values are C-order logical values; `fortran` tells the layout).
- `root_attributes` (the OrderedDict `_metadata` BUILD state), `attributes` / `requires_grad` (params.pt),
  `storages` (bare storage values, storages.pt), `sparse_components` (exotic.pt), `metadata` (safetensors).
- Quantized tensors: `values` are the stored integers (int_repr) plus `qscheme`, `q_scale`, `q_zero_point`; sparse
  tensors: `layout` and the dense values; meta tensors: `device: "meta"`, `values`/`sha256` null.
- Format `"pickle"` (plain_pickle.pkl only) is outside C3's list: a raw pickle with no torch container.
- Dict keys C2 does not name (tensors, tuples, bytes...) would get the component `#<entry index>`; no committed
  fixture needs it (table1_rt's Parameter-keyed optimizer state is reached first through `optimizer.state.N`).

### hostile/manifest.json (contract C3, with extensions)

`[{"file", "id", "expect", "contains"?, "note", "strict", "strict_contains"?, "warns"?, "also_ok"?, "check"?,
"canary"?, "torch"?}]`: `expect` is the permissive (default) result: `error`, `load`, `load-warn` (loads and must
warn), `error-strict` (permissive loads with inert placeholders, strict weights_only-like mode errors). `strict` is
the strict-mode result for every entry. Every error names the check that must refuse the file: `contains` is a
substring of the permissive error (`error`) or of the strict error (`error-strict`), chosen so that an earlier,
unrelated failure (an I/O or format error before the check that matters) does not match; `strict_contains` is the
strict error's substring where it differs; `warns` is a substring of a `load-warn` file's warning. `also_ok`
names an alternative acceptable result (a clean depth/size-limit error instead of loading, or vice versa) where the
spec leaves the choice open. `check` maps C2 tensor names to the values expected when the file
loads. `canary` is the file a payload would create (`/tmp/vqrt_canary_<name>`); it must never exist. `torch` is
torch 2.15 `torch.load(weights_only=True)`'s observed reaction (informational; recorded by the generator in a
sandboxed child process; weights_only never runs a payload). Every hostile pickle is wrapped in a torch-layout zip
(`archive/data.pkl`, `archive/data/<k>`, `archive/version`) unless the case is about another container.
`truncation_seed.pt` (zip) and `truncation_seed_legacy.pt` (legacy) load as-is; the Swift tests cut them at every
offset and every proper prefix must be an error (never a crash).

## Where torch 2.15 is not the oracle (expected values written by hand)

- `legacy_v3.pt`: torch cannot load legacy files holding float8/uint16 (`UntypedStorage has no attribute dtype`);
  expected = the saved values.
- `big_endian_v3.pt`: torch returns uint16 `[256, 512, 768]` for the big-endian `[1, 2, 3]` (it never swaps
  UntypedStorage-backed v3 tensors); expected `[1, 2, 3]`.
- `pathlib_local.pt`: Python 3.11 has no `pathlib._local`; expected by hand.
- `plain_pickle.pkl`: torch.load rejects raw pickles; expected from `pickle.loads` of our own bytes.
- `crc_bad.pt`: torch ignores the CRC and returns the flipped value; that is the expected default behaviour.
- `deflated.pt`: torch loads it correctly only without `mmap=True`.
- Hostile divergences recorded in the manifest's `torch` field where the spec wants vqrt stricter: duplicate names,
  CD/local name mismatch, overlapping entries, `..` entry names, storage dtype conflicts, legacy keys missing from the
  key list, PROTO 6, REDUCE with a list argument, 200k nested MARKs: torch loads them, vqrt errors. Flag bits 0x20 /
  0x40: torch (miniz) refuses them, the spec says tolerate (`also_ok: error`).

## Positive fixtures

| File | Spec | Tensors | What it covers |
|---|---|---|---|
"""


def write_index():
    rows = sorted(INDEX, key=lambda r: r["file"])
    (OUT / "positive.json").write_text(json.dumps(rows, indent=1) + "\n")


def write_readme():
    lines = [README_HEAD.rstrip("\n")]
    if (OUT / "positive.json").exists():
        for r in json.loads((OUT / "positive.json").read_text()):
            lines.append(f"| `{r['file']}` | {', '.join(r['ids']) or '-'} | {r['tensors']} | "
                         f"{r['desc'].replace('|', '/')}" + ("" if r["torch_loads"] else " (expected by hand or not "
                                                             "from torch.load, see above)") + " |")
    mf = OUT / "hostile" / "manifest.json"
    if mf.exists():
        lines += ["", "## Hostile fixtures (hostile/)", "",
                  "| Spec | Expect (permissive / strict) | Files |", "|---|---|---|"]
        groups = collections.OrderedDict()
        for e in json.loads(mf.read_text()):
            groups.setdefault((int(e["id"][1:]), f"{e['expect']} / {e['strict']}"), []).append(e["file"])
        for (hid, exp), files in sorted(groups.items()):
            lines.append(f"| H{hid} | {exp} | {', '.join('`' + f + '`' for f in files)} |")
    (OUT / "README.md").write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(OUT), help="output directory (default Fixtures/loader)")
    ap.add_argument("--only", choices=["positive", "hostile"], help="generate only one half")
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir and diff with --out")
    a = ap.parse_args()
    if a.check:
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="vqrt_fixtures_"))
        generate(tmp, a.only)
        cmp = filecmp.dircmp(a.out, tmp)
        diffs = _dircmp_diffs(cmp)
        shutil.rmtree(tmp)
        print("identical" if not diffs else "DIFFERENT: " + ", ".join(diffs))
        sys.exit(1 if diffs else 0)
    generate(pathlib.Path(a.out), a.only)


def _dircmp_diffs(c, prefix=""):
    out = [prefix + f for f in c.diff_files + c.left_only + c.right_only if prefix + f != "fuzz"]
    for name, sub in c.subdirs.items():
        out += _dircmp_diffs(sub, prefix + name + "/")
    return out


def generate(out, only=None):
    global OUT
    OUT = out
    OUT.mkdir(parents=True, exist_ok=True)
    if only in (None, "positive"):
        gen_zip_containers()
        gen_tensors()
        gen_protocols()
        gen_legacy()
        gen_real_world()
        write_index()
        print(f"{len(INDEX)} positive fixtures in {OUT}")
    if only in (None, "hostile"):
        import fixtures_hostile
        n = fixtures_hostile.generate(OUT / "hostile")
        print(f"{n} hostile fixtures in {OUT / 'hostile'}")
    write_readme()


if __name__ == "__main__":
    main()
