#!/usr/bin/env python3
"""Plain pickles of one rich object in every protocol (0-5), for the pickle VM tests.

    python3 tools/make_pickle_fixtures.py           # writes Fixtures/pickle/rich_p{0..5}.pkl
    python3 tools/make_pickle_fixtures.py --check   # regenerates into a temp dir and compares (CI)

Needs only the standard library (CPython's own pickler, so the bytes are those of the Python 3 it runs on; the
committed ones come from CPython 3.11). Tests/PickleVMTests/ProtocolTests.swift asserts the decoded values.
"""
import collections
import filecmp
import pathlib
import pickle
import shutil
import sys
import tempfile

OUT = pathlib.Path(__file__).resolve().parent.parent / "Fixtures" / "pickle"


def rich_object():
    shared = [1, 2]
    return {
        "i": [0, 1, -1, 255, 256, 65535, 65536, 2**31 - 1, 2**31, -2**31 - 1, 2**63 - 1, 2**70, -2**70],
        "f": [0.1, -2.5, 1e300, float("inf")],
        "s": ["", "abc", "h\u00e9llo \u2713", "x" * 300],
        "b": b"\x00\xffab",
        "t": (1, (2, 3), ()),
        "n": None,
        "bool": [True, False],
        "set": {1, 2},
        "fs": frozenset({3}),
        "od": collections.OrderedDict([("a", 1), ("b", 2)]),
        "nested": {"k": {1: "one", (1, 2): "tuple"}},
        "c": 1 + 2j,
        "ba": bytearray(b"xy"),
        "shared": [shared, shared],
    }


def generate(out):
    out.mkdir(parents=True, exist_ok=True)
    obj = rich_object()
    for p in range(6):
        (out / f"rich_p{p}.pkl").write_bytes(pickle.dumps(obj, protocol=p))


def check():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="vqrt_pickle_"))
    try:
        generate(tmp)
        names = sorted({p.name for p in tmp.iterdir()} | {p.name for p in OUT.iterdir() if p.suffix == ".pkl"})
        differ = [n for n in names if not (OUT / n).exists() or not (tmp / n).exists()
                  or not filecmp.cmp(OUT / n, tmp / n, shallow=False)]
    finally:
        shutil.rmtree(tmp)
    print("Fixtures/pickle: " + (f"DIFFERENT: {', '.join(differ)}" if differ else f"{len(names)} files identical"))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(check() if sys.argv[1:] == ["--check"] else generate(OUT))
