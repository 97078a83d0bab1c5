#!/usr/bin/env python3
"""Differential check of `vqrt inspect --json --tensors` against PyTorch (developer-only; not run in CI).

Usage (from the repository root, after `swift build -c release`):
    .venv-tools/bin/python tools/diff_inspect.py [--vqrt .build/release/vqrt] [FILES...]
    .venv-tools/bin/python tools/diff_inspect.py --hostile      # exit status of inspect vs hostile/manifest.json

For every file (default: every positive fixture listed in Fixtures/loader/positive.json) it runs
`vqrt inspect --json --tensors FILE` and compares the `tensors` list (name, dtype, shape, sha256; contract C2)
with the reference: torch.load(FILE, weights_only=False, map_location='cpu') walked with the C2 naming rules
(tools/fixtures_common.c2_walk), or, for fixtures torch cannot load or loads wrongly (legacy_v3, big_endian_v3,
pathlib_local, plain_pickle, safetensors), the fixture's <name>.expected.json. Prints one OK/DIFF line per file
and a final "N passed, M failed"; exits 1 on any difference.

torch.load(weights_only=False) executes pickles: only run this on the committed fixtures or files you trust.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import warnings

TOOLS = pathlib.Path(__file__).resolve().parent
ROOT = TOOLS.parent
FIXTURES = ROOT / "Fixtures" / "loader"
sys.path.insert(0, str(TOOLS))
warnings.filterwarnings("ignore")


def run_inspect(vqrt, path, timeout=60):
    """(json or None, error string or None)."""
    try:
        p = subprocess.run([vqrt, "inspect", "--json", "--tensors", str(path)], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timeout after {timeout}s"
    except OSError as e:
        return None, f"cannot run {vqrt}: {e}"
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        return None, f"exit {p.returncode}: {last}"
    try:
        return json.loads(p.stdout), None
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e}"


def reference_from_torch(path):
    import torch
    import fixtures_modules
    from fixtures_common import c2_walk, dtype_name, tensor_sha256
    fixtures_modules.install()
    root = torch.load(path, weights_only=False, map_location="cpu")
    return [{"name": n, "dtype": dtype_name(t.dtype), "shape": list(t.shape), "sha256": tensor_sha256(t)}
            for n, t in c2_walk(root)]


def reference_from_expected(path):
    doc = json.loads(pathlib.Path(path).read_text())
    return [{k: t.get(k) for k in ("name", "dtype", "shape", "sha256")} for t in doc["tensors"]]


def compare(ref, got):
    """Human-readable differences between two C2 tensor lists ([] when equal)."""
    diffs = []
    rn = [t["name"] for t in ref]
    gn = [t.get("name") for t in got]
    missing = [n for n in rn if n not in gn]
    extra = [n for n in gn if n not in rn]
    if missing:
        diffs.append(f"missing {len(missing)}: {', '.join(missing[:5])}")
    if extra:
        diffs.append(f"extra {len(extra)}: {', '.join(str(n) for n in extra[:5])}")
    common = [n for n in rn if n in gn]
    if not missing and not extra and rn != gn:
        diffs.append("order differs: first at " + next(a for a, b in zip(rn, gn) if a != b))
    gi = {t.get("name"): t for t in got}
    for t in ref:
        if t["name"] not in common:
            continue
        g = gi[t["name"]]
        for k in ("dtype", "shape", "sha256"):
            if g.get(k) != t[k]:
                diffs.append(f"{t['name']}: {k} {g.get(k)!r} != {t[k]!r}")
    return diffs


def positive_files():
    index = json.loads((FIXTURES / "positive.json").read_text())
    return [(FIXTURES / r["file"], r) for r in index]


def check_positive(vqrt, files, verbose):
    index = {r["file"]: r for _, r in positive_files()}
    passed = failed = 0
    for path in files:
        path = pathlib.Path(path)
        row = index.get(path.name) if path.parent.resolve() == FIXTURES.resolve() else None
        got, err = run_inspect(vqrt, path)
        if err:
            print(f"DIFF {path.name}: vqrt {err}")
            failed += 1
            continue
        try:
            if row is not None and not row["torch_loads"]:
                ref = reference_from_expected(FIXTURES / row["expected"])
                src = "expected.json"
            else:
                ref = reference_from_torch(path)
                src = "torch"
        except Exception as e:  # a reference that cannot be built is a failure of this check, not of vqrt
            print(f"DIFF {path.name}: reference failed: {type(e).__name__}: {e}")
            failed += 1
            continue
        diffs = compare(ref, got.get("tensors", []))
        fmt = row["format"] if row else None
        if fmt and fmt != "pickle" and got.get("format") != fmt:
            diffs.insert(0, f"format {got.get('format')!r} != {fmt!r}")
        if diffs:
            failed += 1
            print(f"DIFF {path.name} (vs {src}): " + "; ".join(diffs[:8]) +
                  (f"; ... {len(diffs) - 8} more" if len(diffs) > 8 else ""))
        else:
            passed += 1
            print(f"OK   {path.name} ({len(ref)} tensors, vs {src})")
        if verbose and diffs:
            print(json.dumps({"reference": ref, "vqrt": got.get("tensors")}, indent=1))
    return passed, failed


def check_hostile(vqrt):
    """inspect is permissive: 'error' cases must exit non-zero, all others zero; never a crash/hang/canary."""
    manifest = json.loads((FIXTURES / "hostile" / "manifest.json").read_text())
    passed = failed = 0
    for e in manifest:
        if e.get("canary") and os.path.exists(e["canary"]):
            os.remove(e["canary"])
        path = FIXTURES / "hostile" / e["file"]
        try:
            p = subprocess.run([vqrt, "inspect", "--json", str(path)], capture_output=True, text=True, timeout=30)
            rc, msg = p.returncode, (p.stderr.strip().splitlines() or [""])[-1]
        except subprocess.TimeoutExpired:
            rc, msg = None, "timeout"
        want_ok = {"error": False}.get(e["expect"], True)
        alt_ok = {"error": False}.get(e.get("also_ok", e["expect"]), True)
        crashed = rc is None or rc < 0 or rc >= 128
        ok = not crashed and ((rc == 0) in (want_ok, alt_ok))
        if e.get("contains") and rc not in (0, None) and e["expect"] == "error" and e["contains"] not in msg:
            ok = False
            msg += f"  [expected to contain {e['contains']!r}]"
        if e.get("canary") and os.path.exists(e["canary"]):
            ok = False
            msg += "  [CANARY CREATED]"
        if ok:
            passed += 1
            print(f"OK   {e['file']} ({e['id']}, {e['expect']}: exit {rc})")
        else:
            failed += 1
            print(f"DIFF {e['file']} ({e['id']}, expect {e['expect']}): exit {rc}: {msg}")
    return passed, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", help="checkpoints to compare (default: all positive fixtures)")
    ap.add_argument("--vqrt", default=str(ROOT / ".build" / "release" / "vqrt"), help="vqrt binary")
    ap.add_argument("--hostile", action="store_true", help="check inspect's exit status on the hostile fixtures")
    ap.add_argument("-v", "--verbose", action="store_true", help="dump both tensor lists on a difference")
    a = ap.parse_args()
    if a.hostile:
        passed, failed = check_hostile(a.vqrt)
    else:
        files = a.files or [p for p, _ in positive_files()]
        passed, failed = check_positive(a.vqrt, files, a.verbose)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
