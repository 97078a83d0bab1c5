#!/usr/bin/env python3
"""Plain pickles of one rich object in every protocol (0-5), for the pickle VM tests.

    python3 tools/make_pickle_fixtures.py      # writes Fixtures/pickle/rich_p{0..5}.pkl

Needs only the standard library. Tests/PickleVMTests/ProtocolTests.swift asserts the decoded values.
"""
import collections
import pathlib
import pickle

out = pathlib.Path(__file__).resolve().parent.parent / "Fixtures" / "pickle"
out.mkdir(parents=True, exist_ok=True)
shared = [1, 2]
obj = {
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
for p in range(6):
    (out / f"rich_p{p}.pkl").write_bytes(pickle.dumps(obj, protocol=p))
