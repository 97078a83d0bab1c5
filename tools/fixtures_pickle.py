"""A tiny pickle-opcode assembler for hand-made fixtures (Python-2-era pickles, pathlib._local, hostile inputs).

Each helper returns the bytes of one opcode (or a short opcode sequence); fixtures concatenate them. Nothing here
ever unpickles anything. Opcode bytes follow CPython's Lib/pickle.py (see spec §3.2).
"""
import struct

MARK, STOP, POP, POP_MARK, DUP = b"(", b".", b"0", b"1", b"2"
EMPTY_TUPLE, EMPTY_LIST, EMPTY_DICT, EMPTY_SET = b")", b"]", b"}", b"\x8f"
TUPLE, LIST, DICT = b"t", b"l", b"d"
TUPLE1, TUPLE2, TUPLE3 = b"\x85", b"\x86", b"\x87"
APPEND, APPENDS, SETITEM, SETITEMS, ADDITEMS, FROZENSET = b"a", b"e", b"s", b"u", b"\x90", b"\x91"
REDUCE, BUILD, NEWOBJ, NEWOBJ_EX, OBJ = b"R", b"b", b"\x81", b"\x92", b"o"
BINPERSID, STACK_GLOBAL, MEMOIZE = b"Q", b"\x93", b"\x94"
NONE, NEWTRUE, NEWFALSE = b"N", b"\x88", b"\x89"
NEXT_BUFFER, READONLY_BUFFER = b"\x97", b"\x98"


def proto(n):
    return b"\x80" + bytes([n])


def frame(n):
    return b"\x95" + struct.pack("<Q", n)


def glob(module, name):
    m = module if isinstance(module, bytes) else module.encode()
    n = name if isinstance(name, bytes) else name.encode()
    return b"c" + m + b"\n" + n + b"\n"


def inst(module, name):
    return b"i" + module.encode() + b"\n" + name.encode() + b"\n"


def uni(s):
    """BINUNICODE."""
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def suni(s):
    """SHORT_BINUNICODE (proto 4)."""
    b = s.encode("utf-8")
    assert len(b) < 256
    return b"\x8c" + bytes([len(b)]) + b


def bstr(b):
    """SHORT_BINSTRING / BINSTRING: a Python 2 byte string."""
    if isinstance(b, str):
        b = b.encode()
    if len(b) < 256:
        return b"U" + bytes([len(b)]) + b
    return b"T" + struct.pack("<i", len(b)) + b


def sbytes(b):
    """SHORT_BINBYTES / BINBYTES (proto 3)."""
    if len(b) < 256:
        return b"C" + bytes([len(b)]) + b
    return b"B" + struct.pack("<I", len(b)) + b


def long1(n):
    if n == 0:
        return b"\x8a\x00"
    nb = (n.bit_length() + 8) // 8
    return b"\x8a" + bytes([nb]) + n.to_bytes(nb, "little", signed=True)


def integer(n):
    """The opcode CPython's protocol-2 pickler picks for an int."""
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if 0 <= n < 65536:
        return b"M" + struct.pack("<H", n)
    if -2 ** 31 <= n < 2 ** 31:
        return b"J" + struct.pack("<i", n)
    return long1(n)


def binint(n):
    return b"J" + struct.pack("<i", n)


def binfloat(x):
    return b"G" + struct.pack(">d", x)


def put(i):
    return b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)


def get(i):
    return b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)


def long_binput(i):
    return b"r" + struct.pack("<I", i)


def long_binget(i):
    return b"j" + struct.pack("<I", i)


def tup(*items):
    """A tuple of already-encoded items, with TUPLE1/2/3 where CPython would use them."""
    if len(items) == 0:
        return EMPTY_TUPLE
    if len(items) <= 3:
        return b"".join(items) + {1: TUPLE1, 2: TUPLE2, 3: TUPLE3}[len(items)]
    return MARK + b"".join(items) + TUPLE


def ints_tuple(vals):
    return tup(*[integer(v) for v in vals])


def dict_of(pairs):
    """EMPTY_DICT + MARK k v ... SETITEMS (pairs of encoded bytes)."""
    if not pairs:
        return EMPTY_DICT
    return EMPTY_DICT + MARK + b"".join(k + v for k, v in pairs) + SETITEMS


def list_of(items):
    if not items:
        return EMPTY_LIST
    return EMPTY_LIST + MARK + b"".join(items) + APPENDS


def ordered_dict_empty():
    return glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE


def storage_pid(storage_type="FloatStorage", key="0", location="cpu", numel=4, legacy=False, module="torch"):
    """The persistent id tuple + BINPERSID of a zip (5-tuple) or legacy (6-tuple, view_metadata None) storage."""
    items = [uni("storage"), glob(module, storage_type), uni(key), uni(location), integer(numel)]
    if legacy:
        items.append(NONE)
    return MARK + b"".join(items) + TUPLE + BINPERSID


def rebuild_v2(pid, offset, size, stride, requires_grad=False, metadata=None):
    """REDUCE(_rebuild_tensor_v2, (storage, offset, size, stride, requires_grad, OrderedDict()[, metadata]))."""
    args = [pid, integer(offset), ints_tuple(size), ints_tuple(stride), NEWTRUE if requires_grad else NEWFALSE,
            ordered_dict_empty()]
    if metadata is not None:
        args.append(metadata)
    return glob("torch._utils", "_rebuild_tensor_v2") + MARK + b"".join(args) + TUPLE + REDUCE


def rebuild_v3(pid, offset, size, stride, dtype_name, requires_grad=False):
    args = [pid, integer(offset), ints_tuple(size), ints_tuple(stride), NEWTRUE if requires_grad else NEWFALSE,
            ordered_dict_empty(), glob("torch", dtype_name)]
    return glob("torch._utils", "_rebuild_tensor_v3") + MARK + b"".join(args) + TUPLE + REDUCE


def float_tensor(key="0", numel=4, offset=0, size=(4,), stride=(1,), storage_type="FloatStorage", legacy=False):
    return rebuild_v2(storage_pid(storage_type, key, "cpu", numel, legacy=legacy), offset, size, stride)


def pickle2(body):
    """A protocol-2 pickle: PROTO 2 + body + STOP."""
    return proto(2) + body + STOP


def legacy_header(protocol=2):
    """The first three pickles of a legacy stacked file: magic, protocol version 1001, sys_info."""
    magic = proto(protocol) + long1(0x1950A86A20F9469CFC6C) + STOP
    version = proto(protocol) + integer(1001) + STOP
    sys_info = proto(protocol) + dict_of([
        (uni("protocol_version"), integer(1001)), (uni("little_endian"), NEWTRUE),
        (uni("type_sizes"), dict_of([(uni("short"), integer(2)), (uni("int"), integer(4)),
                                     (uni("long"), integer(4))]))]) + STOP
    return magic + version + sys_info


def legacy_keys(keys):
    return pickle2(list_of([uni(k) for k in keys]))


def legacy_storage(numel, data):
    """Raw legacy storage: int64 LE element count, then the bytes."""
    return struct.pack("<q", numel) + data
