"""Shared helpers for the loader fixtures: the contract-C2 tensor walk, expected-value JSON, sha256 of tensors.

Used by tools/make_fixtures.py and tools/diff_inspect.py (developer-only; needs torch).

C2 walk (mirrors what `vqrt inspect --tensors` must list): depth-first in insertion order from the pickle root
through dict entries (OrderedDict/defaultdict/Counter count as dicts; the key is the name component: str verbatim,
int/bool/None/float as str(key), a class as "module.qualname"), list/tuple items (the index), and, for every other
object (what the Swift VM keeps as a placeholder), what its pickle carries: list items (index), dict items (key),
then the attributes of a dict BUILD state (attribute name). REDUCE arguments are not walked. A tensor object reached
twice is listed once (first path); containers are visited once (cycles).
"""
import collections
import copyreg
import hashlib
import json
import math
import types

import numpy as np
import torch

_ATOMS = (str, bytes, bytearray, int, float, complex, bool, type(None), torch.dtype, torch.device,
          torch.layout, torch.memory_format, torch.qscheme)
_DICTS = (dict, collections.OrderedDict, collections.defaultdict, collections.Counter)


def dtype_name(dt):
    return str(dt).replace("torch.", "")


def key_component(k, index):
    """Name component for a dict key (C2). Keys C2 does not cover (tensors, tuples, bytes...) get '#<index>'."""
    if isinstance(k, str):
        return k
    if isinstance(k, (bool, int, float)) or k is None:
        return str(k)
    if isinstance(k, type):
        return f"{k.__module__}.{k.__qualname__}"
    return f"#{index}"


def _join(path, comp):
    return comp if path == "" else f"{path}.{comp}"


def _pickled_as_global(obj):
    return isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType))


def placeholder_parts(obj, protocol=2):
    """(listitems, dictitems, state) of an object as its pickle carries them (via __reduce_ex__)."""
    try:
        rv = obj.__reduce_ex__(protocol)
    except Exception:
        return [], [], None
    if isinstance(rv, str):
        return [], [], None
    rv = tuple(rv) + (None,) * (5 - len(rv))
    state, listitems, dictitems = rv[2], rv[3], rv[4]
    return (list(listitems) if listitems is not None else [],
            list(dictitems) if dictitems is not None else [],
            state)


def _state_dicts(state):
    if isinstance(state, dict):
        return [state]
    if isinstance(state, tuple) and len(state) == 2 and all(s is None or isinstance(s, dict) for s in state):
        return [s for s in state if s]
    return []


def c2_walk(root, protocol=2):
    """[(name, tensor)] in C2 order."""
    out = []
    seen_t = set()
    seen_c = set()
    # Iterative DFS (explicit stack, reversed children) so deep graphs cannot overflow Python's stack.
    stack = [(root, "")]
    while stack:
        obj, path = stack.pop()
        if isinstance(obj, torch.Tensor):
            if id(obj) not in seen_t:
                seen_t.add(id(obj))
                out.append((path, obj))
            continue
        if isinstance(obj, _ATOMS) or _pickled_as_global(obj) or isinstance(obj, (np.ndarray, np.generic)):
            continue
        if isinstance(obj, (torch.storage.TypedStorage, torch.UntypedStorage)):
            continue
        if id(obj) in seen_c:
            continue
        seen_c.add(id(obj))
        children = []
        if type(obj) in _DICTS:
            for i, (k, v) in enumerate(obj.items()):
                children.append((v, _join(path, key_component(k, i))))
        elif type(obj) in (list, tuple, torch.Size):
            for i, v in enumerate(obj):
                children.append((v, _join(path, str(i))))
        elif isinstance(obj, (set, frozenset)):
            continue
        else:
            listitems, dictitems, state = placeholder_parts(obj, protocol)
            for i, v in enumerate(listitems):
                children.append((v, _join(path, str(i))))
            for i, (k, v) in enumerate(dictitems):
                children.append((v, _join(path, key_component(k, i))))
            for d in _state_dicts(state):
                for k, v in d.items():
                    children.append((v, _join(path, str(k))))
        for c in reversed(children):
            stack.append(c)
    return out


def get_path(root, path, protocol=2):
    """Resolve a C2 path (components joined by '.') in a Python object graph; raises KeyError if absent."""
    obj = root
    comps = path.split(".") if path else []
    i = 0
    while i < len(comps):
        # Keys may contain dots ('model.l.weight'): try the longest matching component first.
        found = False
        for j in range(len(comps), i, -1):
            comp = ".".join(comps[i:j])
            ok, val = _child(obj, comp, protocol)
            if ok:
                obj, i, found = val, j, True
                break
        if not found:
            raise KeyError(f"{path}: no component {comps[i]!r} in {type(obj).__name__}")
    return obj


def _child(obj, comp, protocol):
    if type(obj) in _DICTS:
        for i, (k, v) in enumerate(obj.items()):
            if key_component(k, i) == comp:
                return True, v
        return False, None
    if type(obj) in (list, tuple, torch.Size):
        if comp.isdigit() and int(comp) < len(obj):
            return True, obj[int(comp)]
        return False, None
    if isinstance(obj, _ATOMS) or isinstance(obj, torch.Tensor):
        return False, None
    listitems, dictitems, state = placeholder_parts(obj, protocol)
    if comp.isdigit() and int(comp) < len(listitems):
        return True, listitems[int(comp)]
    for i, (k, v) in enumerate(dictitems):
        if key_component(k, i) == comp:
            return True, v
    for d in _state_dicts(state):
        if comp in d:
            return True, d[comp]
    return False, None


# ----------------------------------------------------------------------------------------------------------------
# Tensor values and hashes

def logical(t):
    """The tensor whose values C2/C3 describe: conj/neg resolved, dense, contiguous, on CPU."""
    if t.is_quantized:
        t = t.int_repr()
    if t.layout != torch.strided:
        t = t.to_dense()
    t = t.resolve_conj().resolve_neg()
    # A fresh tensor with standard strides: .contiguous() keeps odd strides of size-1 dims (e.g. the neg view).
    return torch.empty(t.shape, dtype=t.dtype).copy_(t)


def tensor_bytes(t):
    """Little-endian C-order bytes of the logical values (C2 sha256 input). None for meta tensors."""
    if t.device.type == "meta":
        return None
    t = logical(t)
    if t.numel() == 0:
        return b""
    return t.view(-1).view(torch.uint8).numpy().tobytes()


def tensor_sha256(t):
    b = tensor_bytes(t)
    return None if b is None else hashlib.sha256(b).hexdigest()


def _num(x):
    """A float as a JSON number; non-finite values (JSON has none) as the strings "inf", "-inf", "nan"."""
    x = float(x)
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def tensor_values(t):
    """Flat C-order JSON values (C3): floats exact, bool 0/1, complex [re, im]. None for meta tensors."""
    if t.device.type == "meta":
        return None
    dt = t.dtype
    if t.is_quantized:
        return [int(v) for v in t.int_repr().flatten().tolist()]
    t = logical(t).flatten()
    if dt.is_complex:
        c = t.to(torch.complex128)
        return [[_num(v.real), _num(v.imag)] for v in c.tolist()]
    if dt == torch.bool:
        return [int(v) for v in t.tolist()]
    if dt.is_floating_point:
        return [_num(v) for v in t.to(torch.float64).tolist()]
    if dt == torch.uint64:
        # uint64 has few kernels; reinterpret the bytes.
        return [int(v) for v in np.frombuffer(t.view(torch.int64).numpy().tobytes(), "<u8")]
    if dt in (torch.uint32, torch.uint16):
        return [int(v) for v in t.to(torch.int64).tolist()]
    return [int(v) for v in t.tolist()]


def tensor_record(name, t):
    rec = {"name": name, "dtype": dtype_name(t.dtype), "shape": list(t.shape), "values": tensor_values(t),
           "sha256": tensor_sha256(t)}
    if t.is_quantized:
        rec["qscheme"] = str(t.qscheme()).replace("torch.", "")
        if t.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            rec["q_scale"] = float(t.q_scale())
            rec["q_zero_point"] = int(t.q_zero_point())
    if t.layout != torch.strided:
        rec["layout"] = str(t.layout).replace("torch.", "")
    if t.device.type == "meta":
        rec["device"] = "meta"
    return rec


# ----------------------------------------------------------------------------------------------------------------
# Non-tensor values

BIG = 2 ** 53


def scalar_json(v):
    """A plain JSON value for a non-tensor leaf (C3 'scalars'); big ints as decimal strings."""
    if isinstance(v, (np.generic,)):
        v = v.item()
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v if -BIG < v < BIG else str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return repr(v)
        return v
    if isinstance(v, torch.dtype):
        return dtype_name(v)
    if isinstance(v, torch.device):
        return str(v)
    raise TypeError(f"not a scalar: {type(v)}")


def scalars_for(root, paths, protocol=2):
    return {p: scalar_json(get_path(root, p, protocol)) for p in paths}


def expected_doc(fmt, root, notes, scalars=(), protocol=2, extra=None, tensors=None):
    """The C3 expected.json document for `root` (as torch.load returned it)."""
    if tensors is None:
        tensors = [tensor_record(n, t) for n, t in c2_walk(root, protocol)]
    doc = {"format": fmt, "tensors": tensors, "scalars": scalars_for(root, list(scalars), protocol),
           "notes": notes}
    if extra:
        doc.update(extra)
    return doc


def dump_json(path, doc):
    """Readable and diff-friendly: one line per top-level key, one line per tensor / scalar / object."""
    def enc(v):
        return json.dumps(v, ensure_ascii=False, allow_nan=False)

    lines = ["{"]
    items = list(doc.items())
    for i, (k, v) in enumerate(items):
        comma = "," if i + 1 < len(items) else ""
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            lines.append(f" {enc(k)}: [")
            lines += [f"  {enc(x)}" + ("," if j + 1 < len(v) else "") for j, x in enumerate(v)]
            lines.append(" ]" + comma)
        elif isinstance(v, dict) and v:
            lines.append(f" {enc(k)}: {{")
            kv = list(v.items())
            lines += [f"  {enc(a)}: {enc(b)}" + ("," if j + 1 < len(kv) else "") for j, (a, b) in enumerate(kv)]
            lines.append(" }" + comma)
        else:
            lines.append(f" {enc(k)}: {enc(v)}{comma}")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    json.loads(text)
    with open(path, "w") as f:
        f.write(text)
