"""Hostile and malformed loader inputs (spec §11.5 H1-H41) -> Fixtures/loader/hostile/ + manifest.json.

Called by tools/make_fixtures.py (`--only hostile` to run just this part). Every file is built from raw opcodes and
raw zip/tar bytes; nothing here is ever unpickled. Pickles that would run something target the canary path
/tmp/vqrt_canary_<name>. After writing, the files can be fed to torch.load(weights_only=True) in a sandboxed child
process (`--observe-torch`) to record torch 2.15's reaction in the manifest's "torch" field; that never executes
payloads (weights_only refuses every non-allowlisted global) and the run asserts no canary appeared.

Manifest entries (contract C3): file, id (H1..H41), expect ("error" | "load" | "load-warn" | "error-strict"),
contains (a substring of the error that proves the intended check fired, not an earlier one: required for
"error" (the permissive error) and "error-strict" (the strict error)), note. Extensions: strict ("error" | "load":
the result in strict, weights_only-like mode), strict_contains (the strict error's substring where it differs from
contains), warns (a substring of the warning a "load-warn" file gives), also_ok (an alternative acceptable result,
e.g. a clean depth-limit error), check (tensor name -> values when the file loads), canary (the path a payload
would create), torch (observed torch 2.15 weights_only=True outcome, informational).
"""
import io
import json
import marshal
import os
import pathlib
import pickle
import random
import struct
import subprocess
import sys
import tarfile
import zlib

from fixtures_pickle import *  # noqa: F403
from fixtures_zip import LOCAL_SIG, Entry, Layout, build_zip, torch_zip

X4 = struct.pack("<4f", 0, 1, 2, 3)
CASES = []
NOT_REGENERATED = []   # files copied from the committed set because regenerating them needs PyTorch
COMMITTED = pathlib.Path(__file__).resolve().parent.parent / "Fixtures" / "loader" / "hostile"


def canary(name):
    return f"/tmp/vqrt_canary_{name}"


def touch(name):
    return f"touch {canary(name)}"


def case(file, hid, expect, blob, note, contains=None, strict=None, also_ok=None, check=None, canary_path=None,
         strict_contains=None, warns=None):
    """`contains`: a substring of the error that proves the intended check fired (the permissive error for
    "error", the strict one for "error-strict"); `strict_contains`: the strict error's, where it differs;
    `warns`: a substring of the warning a "load-warn" file must give."""
    if strict is None:
        strict = "load" if expect in ("load", "load-warn") else "error"
    assert contains or expect not in ("error", "error-strict"), f"{file}: name the error it must give"
    assert strict_contains or contains or strict != "error", f"{file}: name the strict error it must give"
    assert warns or expect != "load-warn", f"{file}: name the warning it must give"
    CASES.append(dict(file=file, id=hid, expect=expect, contains=contains, note=note, strict=strict,
                      also_ok=also_ok, check=check, canary=canary_path, blob=blob, strict_contains=strict_contains,
                      warns=warns))


def zipped(pkl, records=(("0", X4),), prefix="archive", extra_entries=()):
    """A torch-layout zip: <prefix>/data.pkl, <prefix>/data/<key> records, <prefix>/version."""
    recs = [(f"{prefix}/data.pkl", pkl)] + [(f"{prefix}/data/{k}", d) for k, d in records]
    recs += list(extra_entries) + [(f"{prefix}/version", b"3\n")]
    return torch_zip(recs)


def x_tensor():
    return float_tensor("0", 4, 0, (4,), (1,))


def with_x(*pairs):
    """dict {'x': <f32[4] 0..3 on data/0>, ...pairs} as protocol-2 pickle bytes."""
    return pickle2(dict_of([(uni("x"), x_tensor())] + list(pairs)))


CHECK_X = {"x": [0.0, 1.0, 2.0, 3.0]}


def tensor_pickle(numel=4, offset=0, size=(4,), stride=(1,), key="0", stype="FloatStorage", module="torch"):
    """{'t': _rebuild_tensor_v2(...)} with arbitrary (possibly bad) pid numel / geometry (spec §12 hostile.py)."""
    pid = MARK + uni("storage") + glob(module, stype) + uni(key) + uni("cpu") + integer(numel) + TUPLE + BINPERSID
    args = pid + integer(offset) + tup(*[integer(s) for s in size]) + tup(*[integer(s) for s in stride]) + \
        NEWFALSE + ordered_dict_empty()
    return pickle2(dict_of([(uni("t"), glob("torch._utils", "_rebuild_tensor_v2") + MARK + args + TUPLE + REDUCE)]))


def call(module, name, *args):
    """GLOBAL module.name + args tuple + REDUCE."""
    return glob(module, name) + tup(*args) + REDUCE


# ----------------------------------------------------------------------------------------------------------------

def code_execution():
    n = "rce_os_system"
    case(f"{n}.pt", "H1", "error-strict", zipped(pickle2(call("os", "system", uni(touch(n))))),
         "GLOBAL os.system + REDUCE: permissive -> inert placeholder, strict -> error naming os.system",
         contains="os.system", canary_path=canary(n))
    n = "rce_os_system_in_dict"
    case(f"{n}.pt", "H1", "error-strict", zipped(with_x((uni("evil"), call("os", "system", uni(touch(n)))))),
         "a real tensor next to an os.system REDUCE: permissive loads x and a placeholder", contains="os.system",
         check=CHECK_X, canary_path=canary(n))
    for mod, hid in (("posix", "H2"), ("nt", "H2")):
        n = f"rce_{mod}_system"
        case(f"{n}.pt", hid, "error-strict", zipped(pickle2(call(mod, "system", uni(touch(n))))),
             f"GLOBAL {mod}.system + REDUCE", contains=f"{mod}.system", canary_path=canary(n))
    n = "rce_builtins_eval_stackglobal"
    body = suni("builtins") + MEMOIZE + suni("eval") + MEMOIZE + STACK_GLOBAL + MEMOIZE + \
        suni(f"__import__('os').system('{touch(n)}')") + MEMOIZE + TUPLE1 + MEMOIZE + REDUCE + MEMOIZE + STOP
    case(f"{n}.pt", "H3", "error-strict", zipped(proto(4) + frame(len(body)) + body),
         "protocol 4: FRAME, SHORT_BINUNICODE, STACK_GLOBAL builtins.eval + REDUCE (torch WO fails on the FRAME)",
         contains="builtins.eval", canary_path=canary(n))
    n = "rce_builtins_exec"
    case(f"{n}.pt", "H3", "error-strict",
         zipped(pickle2(call("__builtin__", "exec", uni(f"import os; os.system('{touch(n)}')")))),
         "GLOBAL __builtin__.exec (py2 spelling, maps to builtins.exec) + REDUCE", contains="exec",
         canary_path=canary(n))
    n = "rce_inst_os_system"
    case(f"{n}.pt", "H3", "error-strict", zipped(proto(2) + MARK + uni(touch(n)) + inst("os", "system") + STOP),
         "INST opcode (protocol 0 class call) on os.system", contains="os.system", canary_path=canary(n))
    n = "rce_obj_os_system"
    case(f"{n}.pt", "H3", "error-strict",
         zipped(proto(2) + MARK + glob("os", "system") + uni(touch(n)) + OBJ + STOP),
         "OBJ opcode: MARK cls args OBJ on os.system", contains="os.system", canary_path=canary(n))
    n = "rce_subprocess_popen_newobj"
    case(f"{n}.pt", "H3", "error-strict",
         zipped(pickle2(glob("subprocess", "Popen") + tup(list_of([uni("touch"), uni(canary(n))])) + NEWOBJ)),
         "NEWOBJ subprocess.Popen(['touch', canary])", contains="subprocess.Popen", canary_path=canary(n))
    n = "rce_subprocess_popen_newobj_ex"
    body = suni("subprocess") + suni("Popen") + STACK_GLOBAL + tup(list_of([suni("touch"), suni(canary(n))])) + \
        dict_of([(suni("shell"), NEWFALSE)]) + NEWOBJ_EX + STOP
    case(f"{n}.pt", "H3", "error-strict", zipped(proto(4) + frame(len(body)) + body),
         "NEWOBJ_EX subprocess.Popen(args, **{'shell': False})", contains="subprocess.Popen", canary_path=canary(n))
    n = "rce_build_setstate"
    case(f"{n}.pt", "H4", "error-strict",
         zipped(pickle2(glob("os", "_wrap_close") + EMPTY_TUPLE + NEWOBJ +
                        dict_of([(uni("cmd"), uni(touch(n)))]) + BUILD)),
         "NEWOBJ of a blocked-module class + BUILD (would call __setstate__)", contains="os._wrap_close",
         canary_path=canary(n))
    case("unknown_class_newobj.pt", "H4", "error-strict",
         zipped(with_x((uni("obj"), glob("foo.bar", "Baz") + EMPTY_TUPLE + NEWOBJ +
                        dict_of([(uni("a"), integer(1)), (uni("y"), float_tensor("0", 4, 1, (2,), (1,)))]) +
                        BUILD))),
         "NEWOBJ foo.bar.Baz + BUILD state holding a tensor: permissive -> placeholder with state (x and obj.y "
         "= [1,2] reachable)", contains="foo.bar.Baz", check={"x": [0.0, 1.0, 2.0, 3.0], "obj.y": [1.0, 2.0]})


def vm_abuse():
    case("setitem_on_list.pt", "H5", "error", zipped(pickle2(EMPTY_LIST + uni("k") + integer(1) + SETITEM)),
         "SETITEM on a list: type error", contains="SETITEM on list")
    case("setitems_on_int.pt", "H5", "error", zipped(pickle2(integer(5) + MARK + uni("k") + integer(1) + SETITEMS)),
         "SETITEMS on an int", contains="SETITEMS on int")
    case("append_on_dict.pt", "H5", "error", zipped(pickle2(EMPTY_DICT + integer(1) + APPEND)),
         "APPEND on a dict: type error", contains="APPEND on dict")
    case("appends_on_tuple.pt", "H5", "error", zipped(pickle2(EMPTY_TUPLE + MARK + integer(1) + APPENDS)),
         "APPENDS on a tuple", contains="APPENDS on tuple")
    case("build_on_tuple.pt", "H5", "error",
         zipped(pickle2(tup(integer(1)) + dict_of([(uni("a"), integer(1))]) + BUILD)), "BUILD on a tuple",
         contains="BUILD on tuple")
    case("additems_on_list.pt", "H5", "error", zipped(proto(4) + EMPTY_LIST + MARK + integer(1) + ADDITEMS + STOP),
         "ADDITEMS on a list", contains="ADDITEMS on list")
    case("setitem_unhashable_key.pt", "H5", "error",
         zipped(pickle2(EMPTY_DICT + EMPTY_LIST + integer(1) + SETITEM)), "dict key is a list (unhashable)",
         contains="unhashable dict key: list")
    case("setitems_odd_count.pt", "H5", "error",
         zipped(pickle2(EMPTY_DICT + MARK + uni("a") + integer(1) + uni("b") + SETITEMS)),
         "SETITEMS with an odd number of items", contains="SETITEMS with an odd number of items")
    case("memo_get_missing.pt", "H6", "error", zipped(pickle2(get(5))), "BINGET of an index never PUT",
         contains="memo entry 5 read at offset 2 was never stored")
    case("memo_long_binget_missing.pt", "H6", "error", zipped(pickle2(integer(1) + put(0) + long_binget(70000))),
         "LONG_BINGET 70000 with only memo[0] set", contains="memo entry 70000 read at offset 6 was never stored")
    case("memo_put_empty_stack.pt", "H8", "error", zipped(proto(2) + put(0) + integer(1) + STOP),
         "BINPUT with an empty stack", contains="stack underflow in BINPUT")
    case("long_binput_huge_index.pt", "H7", "load",
         zipped(with_x((uni("v"), integer(7) + long_binput(0xFFFFFFFF)), (uni("w"), long_binget(0xFFFFFFFF)))),
         "LONG_BINPUT/LONG_BINGET 0xFFFFFFFF: a dictionary memo, no 4-billion-entry allocation; v = w = 7",
         check=CHECK_X)
    case("stack_underflow_reduce.pt", "H8", "error", zipped(pickle2(REDUCE)), "REDUCE on an empty stack",
         contains="stack underflow in REDUCE")
    case("stack_underflow_setitem.pt", "H8", "error", zipped(pickle2(EMPTY_DICT + SETITEM)),
         "SETITEM with only the dict on the stack", contains="stack underflow in SETITEM")
    case("stack_underflow_tuple3.pt", "H8", "error", zipped(pickle2(integer(1) + TUPLE3)), "TUPLE3 with one item",
         contains="stack underflow in TUPLE3")
    case("pop_mark_without_mark.pt", "H8", "error", zipped(pickle2(integer(1) + POP_MARK + integer(2))),
         "POP_MARK with no MARK", contains="POP_MARK at offset 4 needs a MARK")
    case("tuple_without_mark.pt", "H8", "error", zipped(pickle2(integer(1) + integer(2) + TUPLE)),
         "TUPLE with no MARK", contains="TUPLE at offset 6 needs a MARK")
    case("stop_empty_stack.pt", "H8", "error", zipped(proto(2) + STOP), "STOP with an empty stack",
         contains="stack underflow in STOP")
    case("reduce_args_not_tuple.pt", "H8", "error",
         zipped(pickle2(glob("collections", "OrderedDict") + EMPTY_LIST + REDUCE)),
         "REDUCE whose argument is a list, not a tuple (CPython requires a tuple)",
         contains="REDUCE arguments must be a tuple, got list")
    case("mark_never_closed.pt", "H9", "load-warn", zipped(proto(2) + MARK + with_x()[2:]),
         "MARK never closed before STOP: CPython/torch accept (result = top of the inner stack); permissive "
         "loads and warns, strict errors", strict="error", check=CHECK_X, warns="1 unclosed MARK(s)",
         strict_contains="values or MARKs left on the stack at STOP")
    body = with_x()[:-1]
    case("no_stop.pt", "H10", "error", zipped(body), "pickle ends without STOP (truncated)",
         contains="pickle ended without STOP")
    case("truncated_mid_opcode.pt", "H10", "error", zipped(proto(2) + b"X\x10\x00\x00\x00abc"),
         "BINUNICODE declares 16 bytes, 3 present", contains="reading BINUNICODE of 16 bytes with 3 left")
    case("truncated_binfloat.pt", "H10", "error", zipped(proto(2) + b"G\x3f\xf0"), "BINFLOAT with 2 of 8 bytes",
         contains="reading BINFLOAT of 8 bytes")
    case("proto_6.pt", "H11", "error", zipped(proto(6) + with_x()[2:]),
         "PROTO 6 (CPython rejects > 5; torch warns and loads)", contains="unsupported pickle protocol 6")
    case("proto_not_first.pt", "H11", "error", zipped(proto(2) + EMPTY_DICT + proto(2) + STOP),
         "a second PROTO after the first opcode", also_ok="load-warn", contains="PROTO may only be the first opcode")
    case("trailing_garbage_after_stop.pt", "H12", "load-warn", zipped(with_x() + b"\xde\xad\xbe\xef garbage"),
         "bytes after STOP in data.pkl: torch ignores them; permissive loads + warns, strict errors",
         strict="error", check=CHECK_X, warns="12 trailing bytes after the pickle in data.pkl",
         strict_contains="12 bytes follow STOP in data.pkl")
    case("unknown_opcode.pt", "H10", "error", zipped(proto(2) + b"\xff" + STOP), "opcode 0xFF",
         contains="unknown pickle opcode 0xff")
    case("ext1_opcode.pt", "H41", "error", zipped(proto(2) + b"\x82\x01" + STOP),
         "EXT1 (copyreg extension registry) is rejected", contains="EXT1 at offset 2 is not accepted")
    case("ext4_opcode.pt", "H41", "error", zipped(proto(2) + b"\x84\xff\xff\xff\x7f" + STOP), "EXT4 is rejected",
         contains="EXT4 at offset 2 is not accepted")
    case("next_buffer.pt", "H41", "error", zipped(proto(5) + NEXT_BUFFER + STOP),
         "NEXT_BUFFER (out-of-band buffers) is rejected", contains="NEXT_BUFFER at offset 2 is not accepted")
    case("readonly_buffer.pt", "H41", "error", zipped(proto(5) + sbytes(b"ab") + READONLY_BUFFER + STOP),
         "READONLY_BUFFER on an in-band bytes object (rejected like NEXT_BUFFER)",
         contains="READONLY_BUFFER at offset 6 is not accepted")
    case("int_garbage.pt", "H10", "error", zipped(proto(2) + b"I12ab\n" + STOP), "INT with non-decimal text",
         contains="integer '12ab'")
    case("long_text_garbage.pt", "H10", "error", zipped(proto(2) + b"L12x3L\n" + STOP), "LONG with garbage",
         contains="integer '12x3'")
    case("get_text_garbage.pt", "H6", "error", zipped(proto(2) + integer(1) + b"p0\n" + b"g-1\n" + STOP),
         "GET with a negative decimal index", contains="memo index '-1'")
    case("float_text_garbage.pt", "H10", "error", zipped(proto(2) + b"F1.5.5\n" + STOP), "FLOAT with garbage",
         contains="FLOAT '1.5.5' is not a number")
    case("binstring_negative_len.pt", "H38", "error", zipped(proto(2) + b"T\xff\xff\xff\xff" + STOP),
         "BINSTRING with length -1", contains="negative BINSTRING length")
    case("long1_past_end.pt", "H38", "error", zipped(proto(2) + b"\x8a\xff\x01\x02"), "LONG1 length 255, 2 bytes",
         contains="reading LONG1 of 255 bytes")
    case("bad_utf8_binunicode.pt", "H10", "error",
         zipped(proto(2) + b"X\x02\x00\x00\x00\xc3\x28" + STOP), "BINUNICODE with invalid UTF-8 (not surrogates)",
         also_ok="load", contains="string is not valid UTF-8")

    n = 100000
    deep = EMPTY_LIST * n + APPEND * (n - 1)
    case("deep_nesting_lists_100k.pt", "H13", "load", zipped(with_x((uni("deep"), deep))),
         "100k nested lists (']' x 100000 + 'a' x 99999): loads; printing/flattening/freeing must not overflow the "
         "native stack", also_ok="error", check=CHECK_X)
    m = 200000
    case("deep_marks_200k.pt", "H13", "error",
         build_zip([Entry("archive/data.pkl", proto(2) + MARK * m + TUPLE * m + STOP, method=8),
                    Entry("archive/version", b"3\n")]),
         "200k nested MARKs (metastack depth 200k > the 1e5 cap; data.pkl deflated, 400 KB inflated): clean "
         "depth-limit error (CPython and torch load it)",
         also_ok="load", contains="MARKs nested deeper than 100000")
    case("self_referential_list.pt", "H14", "load",
         zipped(with_x((uni("loop"), EMPTY_LIST + put(1) + get(1) + APPEND))),
         "list containing itself ([[...]]): printing, flattening, equality and freeing terminate", check=CHECK_X)
    case("self_referential_dict.pt", "H14", "load",
         zipped(proto(2) + EMPTY_DICT + put(0) + uni("x") + x_tensor() + SETITEM + uni("self") + get(0) + SETITEM +
                STOP), "root dict containing itself under 'self'; x still reachable once", check=CHECK_X)
    case("self_referential_object.pt", "H14", "load",
         zipped(with_x((uni("obj"), glob("foo", "Node") + EMPTY_TUPLE + NEWOBJ + put(1) +
                        dict_of([(uni("me"), get(1))]) + BUILD))),
         "placeholder whose BUILD state refers to itself", check=CHECK_X, strict="error",
         strict_contains="weights-only allowlist: foo.Node")
    laughs = EMPTY_LIST + put(0)
    for k in range(30):           # L(k+1) = [L(k), L(k)]: the first built inline, the second a BINGET
        laughs = EMPTY_LIST + MARK + laughs + get(k) + APPENDS + put(k + 1)
    case("billion_laughs.pt", "H40", "load", zipped(with_x((uni("bomb"), laughs))),
         "30 levels of [L, L] sharing: 2**30 logical leaves in a 300-byte pickle; loads with shared references "
         "(converters must not expand) or errors on a logical-size cap", also_ok="error", check=CHECK_X)
    dup = EMPTY_LIST + (DUP + TUPLE2) * 30
    case("billion_laughs_dup.pt", "H40", "load", zipped(with_x((uni("bomb"), dup))),
         "30 levels of DUP + TUPLE2: ((x, x), (x, x))... 2**30 leaves", also_ok="error", check=CHECK_X)


def tensor_geometry():
    case("numel_exceeds_record.pt", "H15", "error", zipped(tensor_pickle(numel=1000, size=(4,))),
         "pid numel 1000 floats, record 16 bytes (torch: record size mismatch)",
         contains="storage record 0 has 16 bytes but its tensor metadata declares 4000")
    case("numel_huge.pt", "H16", "error", zipped(tensor_pickle(numel=2 ** 31 - 1, size=(4,))),
         "pid numel 2**31-1, record 16 bytes: error before any allocation",
         contains="storage record 0 has 16 bytes but its tensor metadata declares 8589934588")
    case("numel_2_62.pt", "H16", "error", zipped(tensor_pickle(numel=2 ** 62, size=(4,))),
         "pid numel 2**62 (LONG1): numel*itemsize overflows Int64",
         contains="storage 0 has element count 4611686018427387904")
    case("numel_negative.pt", "H16", "error", zipped(tensor_pickle(numel=-4, size=(4,))), "pid numel -4",
         contains="storage 0 has element count -4")
    case("record_longer_than_numel.pt", "H17", "error", zipped(tensor_pickle(numel=4), records=(("0", X4 * 2),)),
         "pid numel 4 floats, record 32 bytes (torch: record size mismatch)",
         contains="storage record 0 has 32 bytes but its tensor metadata declares 16")
    case("view_out_of_bounds.pt", "H18", "error", zipped(tensor_pickle(numel=4, offset=2, size=(4,))),
         "offset 2 + 4 elements in a 4-element storage",
         contains="tensor view (offset 2, size [4], stride [1]) runs past its storage of 16 bytes")
    case("view_2d_out_of_bounds.pt", "H18", "error", zipped(tensor_pickle(numel=4, size=(2, 3), stride=(3, 1))),
         "2x3 view needs 6 elements, storage has 4",
         contains="tensor view (offset 0, size [2, 3], stride [3, 1]) runs past its storage of 16 bytes")
    case("negative_stride.pt", "H19", "error", zipped(tensor_pickle(numel=4, offset=3, size=(4,), stride=(-1,))),
         "stride -1 (torch: storage size calculation overflowed)", contains="negative stride -1")
    case("negative_size.pt", "H20", "error", zipped(tensor_pickle(numel=4, size=(-1,))), "size -1",
         contains="negative tensor size -1")
    case("negative_offset.pt", "H20", "error", zipped(tensor_pickle(numel=4, offset=-1, size=(2,))),
         "storage_offset -1", contains="storage offset -1")
    case("size_product_overflow.pt", "H21", "error",
         zipped(tensor_pickle(numel=4, size=(2 ** 40, 2 ** 40), stride=(0, 0))),
         "size (2**40, 2**40) with zero strides: each size is plausible, their product overflows Int64 (checked "
         "arithmetic)", contains="tensor size [1099511627776, 1099511627776] overflows")
    case("stride_overflow.pt", "H21", "error", zipped(tensor_pickle(numel=4, size=(2 ** 40,), stride=(2 ** 40,))),
         "size 2**40, stride 2**40: (size-1)*stride overflows Int64",
         contains="tensor extent overflows (size [1099511627776], stride [1099511627776])")
    case("size_entry_huge.pt", "H21", "error", zipped(tensor_pickle(numel=4, size=(2 ** 62, 4), stride=(0, 0))),
         "size entry 2**62: above the 2**59 cap on a single size or stride (so products of a few cannot wrap)",
         contains="tensor size entry 4611686018427387904 is not a usable integer")
    case("size_stride_len_mismatch.pt", "H21", "error",
         zipped(tensor_pickle(numel=4, size=(2, 2), stride=(1,))), "len(size) != len(stride)",
         contains="tensor has 2 sizes but 1 strides")
    case("size_not_int.pt", "H21", "error", zipped(pickle2(dict_of([(uni("t"), glob("torch._utils",
         "_rebuild_tensor_v2") + MARK + storage_pid() + integer(0) + tup(uni("4")) + tup(integer(1)) + NEWFALSE +
         ordered_dict_empty() + TUPLE + REDUCE)]))), "size element is a string",
         contains="tensor size entry '4' is not a usable integer")
    nd = 100000
    big_tuple = MARK + integer(1) + DUP * (nd - 1) + TUPLE + put(1)
    pk = pickle2(dict_of([(uni("t"), glob("torch._utils", "_rebuild_tensor_v2") + MARK + storage_pid() +
                          integer(0) + big_tuple + get(1) + NEWFALSE + ordered_dict_empty() + TUPLE + REDUCE)]))
    case("ndim_huge.pt", "H21", "error", zipped(pk), "ndim 100000 (all sizes 1): rejected by the ndim cap (64)",
         contains="tensor size has 100000 dimensions (limit 64)")
    case("missing_record.pt", "H22", "error", zipped(tensor_pickle(key="7")), "pid key '7', no archive/data/7",
         contains="storage record archive/data/7 is missing")
    case("pid_key_path_traversal.pt", "H23", "error", zipped(tensor_pickle(key="../../../etc/passwd")),
         "pid key '../../../etc/passwd': keys must be [0-9]+",
         contains="storage key '../../../etc/passwd' is not a decimal number")
    case("pid_key_non_numeric.pt", "H23", "error",
         zipped(tensor_pickle(key="version"), records=(("version", b"3\n"),)),
         "pid key 'version' (a real record name under data/ here): keys must be [0-9]+",
         contains="storage key 'version' is not a decimal number")
    case("pid_key_absolute.pt", "H23", "error", zipped(tensor_pickle(key="/etc/passwd")), "pid key '/etc/passwd'",
         contains="storage key '/etc/passwd' is not a decimal number")
    case("unknown_storage_type.pt", "H24", "error", zipped(tensor_pickle(stype="EvilStorage")),
         "storage type torch.EvilStorage: never default to a dtype", contains="storage type torch.EvilStorage")
    case("storage_type_os_system.pt", "H24", "error", zipped(tensor_pickle(module="os", stype="system")),
         "storage type GLOBAL os.system in the pid", contains="storage type os.system")
    case("pid_typename_module.pt", "H25", "error",
         zipped(pickle2(MARK + uni("module") + glob("torch.nn", "Linear") + uni("x.py") + uni("src") + TUPLE +
                        BINPERSID)), "pid ('module', ...) inside a zip (only legacy files use it)",
                        contains="persistent id of kind 'module' is not a storage")
    case("pid_not_tuple.pt", "H25", "error", zipped(pickle2(uni("0") + BINPERSID)), "pid is a bare string",
         contains="persistent id must be a tuple starting with a name, got str")
    case("pid_wrong_arity.pt", "H25", "error",
         zipped(pickle2(MARK + uni("storage") + glob("torch", "FloatStorage") + uni("0") + TUPLE + BINPERSID)),
         "pid tuple with 3 fields", contains="zip storage id has 3 fields, expected 5")
    case("persid_text.pt", "H25", "error", zipped(proto(2) + b"P0\n" + STOP), "PERSID text opcode in a zip",
         contains="persistent id must be a tuple starting with a name, got str")
    case("storage_dtype_conflict.pt", "H24", "error",
         zipped(pickle2(dict_of([(uni("a"), float_tensor("0", 4, 0, (4,), (1,))),
                                 (uni("b"), rebuild_v2(storage_pid("IntStorage", "0", "cpu", 4), 0, (4,), (1,)))]))),
         "one non-empty record referenced as FloatStorage and as IntStorage",
         contains="storage 0 is referenced as both float32 and int32")


def zip_structure():
    good = with_x()
    evil = pickle2(call("os", "system", uni(touch("duplicate_data_pkl"))))
    blob = build_zip([Entry("archive/data.pkl", good), Entry("archive/data/0", X4), Entry("archive/version", b"3\n"),
                      Entry("archive/data.pkl", evil)])
    case("duplicate_data_pkl.pt", "H26", "error", blob,
         "two archive/data.pkl entries (benign first, os.system second): torch reads the first, Python zipfile the "
         "last; reject duplicates",
         contains="duplicate entry archive/data.pkl", canary_path=canary("duplicate_data_pkl"))
    blob = build_zip([Entry("archive/data.pkl", good), Entry("archive/data/0", X4), Entry("archive/data/0", X4[:8]),
                      Entry("archive/version", b"3\n")])
    case("duplicate_record.pt", "H26", "error", blob, "two archive/data/0 entries of different sizes",
         contains="duplicate entry archive/data/0")
    case("no_archive_prefix.pt", "H27", "error", torch_zip([("data.pkl", good), ("data/0", X4), ("version", b"3\n")]),
         "entries without a directory prefix", contains="first entry 'data.pkl' is not inside an archive folder")
    case("mixed_prefix.pt", "H27", "error",
         torch_zip([("a/data.pkl", good), ("a/data/0", X4), ("b/version", b"3\n")]), "entries under a/ and b/",
         contains="entry 'b/version' is outside the archive folder 'a/'")
    case("missing_data_pkl.pt", "H27", "error", torch_zip([("archive/data/0", X4), ("archive/version", b"3\n")]),
         "no data.pkl", contains="archive/data.pkl is missing")
    case("zip_traversal_names.pt", "H27", "error",
         torch_zip([("archive/data.pkl", good), ("archive/data/0", X4), ("archive/../../evil", b"x"),
                    ("archive/version", b"3\n")]),
         "an entry named archive/../../evil (never extracted; names with '..' are rejected)", also_ok="load",
         contains="entry name 'archive/../../evil' escapes the archive folder")
    case("zip_absolute_name.pt", "H27", "error",
         torch_zip([("/archive/data.pkl", good), ("/archive/data/0", X4), ("/archive/version", b"3\n")]),
         "entry names starting with '/' (empty prefix)",
         contains="entry name '/archive/data.pkl' escapes the archive folder")
    blob = build_zip([Entry("archive/data.pkl", good, local_name="archive/evil.pkl"), Entry("archive/data/0", X4),
                      Entry("archive/version", b"3\n")])
    case("cd_local_name_mismatch.pt", "H28", "error", blob,
         "central directory says archive/data.pkl, local header says archive/evil.pkl",
         contains="local header name differs from central directory name archive/data.pkl")
    blob = build_zip([Entry("archive/data.pkl", good, flags=0x0809), Entry("archive/data/0", X4),
                      Entry("archive/version", b"3\n")])
    case("encrypted_flag.pt", "H28", "error", blob, "flag bit 0 (encrypted) on data.pkl",
         contains="entry archive/data.pkl is encrypted")
    for bit in (0x20, 0x40):
        blob = build_zip([Entry("archive/data.pkl", good, flags=0x0808 | bit), Entry("archive/data/0", X4),
                          Entry("archive/version", b"3\n")])
        case(f"flag_{bit:#04x}.pt", "H28", "load", blob,
             f"flag bit {bit:#x} on data.pkl: tolerated per spec §11.5 H28 (miniz may refuse it; see 'torch')",
             check=CHECK_X, also_ok="error")
    blob = build_zip([Entry("archive/data.pkl", good, method=99), Entry("archive/data/0", X4),
                      Entry("archive/version", b"3\n")])
    case("unknown_method.pt", "H28", "error", blob, "compression method 99", contains="uses compression method 99")
    blob = build_zip([Entry("archive/data.pkl", good), Entry("archive/data/0", X4, csize=12),
                      Entry("archive/version", b"3\n")])
    case("stored_csize_ne_usize.pt", "H31", "error", blob, "stored record with CD csize 12 != usize 16",
         contains="stored entry archive/data/0 has compressed size 12 != size 16")
    blob = build_zip([Entry("archive/data.pkl", good, crc=0x12345678), Entry("archive/data/0", X4),
                      Entry("archive/version", b"3\n")])
    case("crc_corrupted.pt", "H29", "load", blob,
         "wrong CRC for data.pkl in descriptor and CD: loads by default (torch never checks); strict-CRC mode "
         "errors", check=CHECK_X)

    zeros = b"\x00" * (128 << 20)
    blob = build_zip([Entry("archive/data.pkl", zeros, method=8), Entry("archive/version", b"3\n")])
    case("zip_bomb_ratio.pt", "H30", "error", blob,
         "data.pkl deflates 128 MiB of zeros into ~127 KiB (ratio ~1030, deflate's maximum): refused by the "
         "inflate cap (1024 x the file size, at least 64 MiB) before anything is allocated",
         contains="claims 134217728 bytes, more than the")
    pad = pickle2(dict_of([(uni("x"), x_tensor()), (uni("pad"), uni("A" * (4 << 20)))]))
    blob = build_zip([Entry("archive/data.pkl", pad, method=8, usize=100), Entry("archive/data/0", X4),
                      Entry("archive/version", b"3\n")])
    case("zip_bomb_lying_usize.pt", "H30", "error", blob,
         "deflated data.pkl whose CD usize says 100 bytes but inflates to 4 MiB: stop when the inflated size != "
         "usize", contains="does not inflate to its declared 100 bytes")
    blob = build_zip([Entry("archive/data.pkl", good, method=8, usize=1 << 40, zip64=True),
                      Entry("archive/data/0", X4), Entry("archive/version", b"3\n")])
    case("zip_usize_1tb.pt", "H30", "error", blob, "zip64 CD usize 2**40 for a ~150-byte deflated pickle: never "
         "allocate the claimed size; error when the stream ends early",
         contains="claims 1099511627776 bytes, more than the")

    recs = [Entry("archive/data.pkl", good), Entry("archive/data/0", X4), Entry("archive/version", b"3\n")]
    raw = build_zip(recs)
    case("eocd_cd_offset_outside.pt", "H31", "error", build_zip(recs, cd_offset=len(raw) + 1000),
         "EOCD and zip64 EOCD give a CD offset past the end of the file", contains="bytes at 1747, beyond the file")
    case("eocd_count_too_big.pt", "H31", "error", build_zip(recs, entry_count=500), "entry count 500, 3 present",
         contains="central directory claims 500 entries in 183 bytes")
    case("cd_count_ffffffff.pt", "H31", "error", build_zip(recs, entry_count=0xFFFFFFFF),
         "zip64 EOCD entry count 2**32-1 (EOCD 0xFFFF)", contains="claims 4294967295 entries")
    case("cd_size_outside.pt", "H31", "error", build_zip(recs, cd_size=1 << 40), "CD size 2**40",
         contains="1099511627776 bytes at 466, beyond the file")
    blob = build_zip([Entry("archive/data.pkl", good), Entry("archive/data/0", X4, lho=1 << 31),
                      Entry("archive/version", b"3\n")])
    case("lho_outside.pt", "H31", "error", blob, "local header offset of data/0 is 2**31 (outside the file)",
         contains="entry archive/data/0 has sizes or offset outside the file")
    # data/0's payload holds a complete local header named archive/data/1, and data/1's CD entry points at it:
    # every name and size agrees, only the overlap check can refuse it.
    inner = b"archive/data/1"
    hidden = LOCAL_SIG + struct.pack("<HHHHHIIIHH", 0, 0x0800, 0, 0, 0, zlib.crc32(X4), 16, 16, len(inner), 0) + \
        inner + X4
    entries = [Entry("archive/data.pkl", good), Entry("archive/data/0", X4 + hidden), Entry("archive/data/1", X4),
               Entry("archive/version", b"3\n")]
    lay = Layout()
    build_zip(entries, layout=lay)
    entries[2].lho = lay.payload_offsets[1] + len(X4)
    case("overlapping_entries.pt", "H31", "error", build_zip(entries),
         "archive/data/1's CD entry points at a local header hidden inside archive/data/0's payload (names and "
         "sizes agree; the two records overlap)", contains="entries archive/data/0 and archive/data/1 overlap")
    lay_blob = bytearray(raw)
    eocd = lay_blob.rfind(b"PK\x05\x06")
    del lay_blob[eocd:]
    z = lay_blob.rfind(b"PK\x06\x06")
    del lay_blob[z:]
    case("no_eocd.pt", "H31", "error", bytes(lay_blob), "starts with PK\\3\\4 but has no end-of-central-directory",
         contains="end of central directory not found")
    case("eocd_only.pt", "H31", "error", b"PK\x05\x06" + b"\x00" * 18, "an empty zip (22-byte EOCD only; not "
         "PK\\3\\4 so not even detected as zip)", contains="unrecognised leading bytes")
    blob = bytearray(raw)
    z = blob.rfind(b"PK\x06\x06")
    blob[z + 48:z + 56] = struct.pack("<Q", 0)           # zip64 EOCD cd offset -> 0 (a local header, not CD)
    case("zip64_eocd_cd_offset_wrong.pt", "H31", "error", bytes(blob), "zip64 EOCD points the CD at offset 0",
         contains="central directory entry signature missing at 0")

    tl = spec_legacy_tl()
    evil_zip = zipped(pickle2(call("os", "system", uni(touch("polyglot_legacy_zip")))))
    case("polyglot_legacy_zip.pt", "H32", "load", tl + evil_zip,
         "legacy tl.pt followed by a zip whose data.pkl calls os.system: leading bytes decide -> legacy, "
         "x = [0,1,2,3] (torch does the same); Python's zipfile would see the zip", check=CHECK_X,
         canary_path=canary("polyglot_legacy_zip"))


def spec_legacy_tl():
    """tl.pt from spec §5.1, regenerated: {'x': arange(4.)} legacy with key '94821505106992'."""
    key = "94821505106992"
    main = pickle2(dict_of([(uni("x"), float_tensor(key, 4, 0, (4,), (1,), legacy=True))]))
    return legacy_header() + main + legacy_keys([key]) + legacy_storage(4, X4)


def legacy_cases():
    key = "94821505106992"
    hdr = legacy_header()
    main = pickle2(dict_of([(uni("x"), float_tensor(key, 4, 0, (4,), (1,), legacy=True))]))
    n = "magic_bypass"
    magic = proto(2) + call("builtins", "eval", uni("0x1950a86a20f9469cfc6c")) + STOP
    payload = pickle2(call("os", "system", uni(touch(n))))
    case(f"{n}.pt", "H33", "error", magic + hdr[15:21] + hdr[21:] + payload + legacy_keys([]),
         "legacy magic produced by builtins.eval REDUCE, then an os.system main pickle: the magic pickle must be "
         "exactly LONG1", canary_path=canary(n), contains="unrecognised leading bytes")
    case("legacy_bad_magic.pt", "H33", "error",
         proto(2) + long1(0x1950A86A20F9469CFC6D) + STOP + hdr[15:] + main + legacy_keys([key]) +
         legacy_storage(4, X4), "magic off by one", also_ok="error", contains="unrecognised leading bytes")
    case("legacy_bad_protocol.pt", "H33", "error",
         hdr[:15] + proto(2) + integer(1002) + STOP + hdr[21:] + main + legacy_keys([key]) + legacy_storage(4, X4),
         "legacy protocol version 1002", contains="protocol version 1002, expected 1001")
    case("legacy_keys_missing.pt", "H34", "error", hdr + main + legacy_keys([]),
         "keys list omits the referenced storage (torch returns uninitialised memory)",
         contains="storage 94821505106992 is referenced but has no data")
    case("legacy_numel_mismatch.pt", "H34", "error",
         hdr + main + legacy_keys([key]) + legacy_storage(5, X4 + b"\0" * 4),
         "raw header numel 5, pid numel 4", contains="data header says 5 elements, its tensors declare 4")
    case("legacy_truncated_data.pt", "H34", "error", hdr + main + legacy_keys([key]) + legacy_storage(4, X4[:10]),
         "storage data truncated (10 of 16 bytes)", contains="data for storage 94821505106992 is truncated")
    case("legacy_extra_key.pt", "H34", "error",
         hdr + main + legacy_keys([key, "94821505107000"]) + legacy_storage(4, X4) + legacy_storage(1, b"\0" * 4),
         "keys list has a key no pid referenced (torch: AssertionError)",
         contains="storage key 94821505107000 is listed but never referenced")
    case("legacy_numel_header_huge.pt", "H34", "error",
         hdr + main + legacy_keys([key]) + struct.pack("<q", 2 ** 62) + X4, "raw header numel 2**62",
         contains="data header says 4611686018427387904 elements")
    case("legacy_keys_not_list.pt", "H34", "error", hdr + main + pickle2(integer(5)) + legacy_storage(4, X4),
         "keys pickle is an int", contains="storage key list is not a list")
    case("legacy_view_metadata_bad.pt", "H34", "error",
         hdr + pickle2(dict_of([(uni("x"), rebuild_v2(MARK + uni("storage") + glob("torch", "FloatStorage") +
                                                      uni(key) + uni("cpu") + integer(4) +
                                                      tup(uni("94821505107777"), integer(3), integer(100)) +
                                                      TUPLE + BINPERSID,
                                                      0, (4,), (1,)))])) +
         legacy_keys([key]) + legacy_storage(4, X4),
         "old-style view_metadata (view key, offset 3, size 100 elements) past the end of the 4-element root",
         contains="legacy storage view of 94821505106992 is malformed or out of bounds")
    case("legacy_module_pid_bad.pt", "H25", "error",
         hdr + pickle2(MARK + uni("module") + integer(5) + TUPLE + BINPERSID) + legacy_keys([]),
         "legacy ('module', 5) pid with a non-class and missing fields",
         contains="malformed ('module', ...) persistent id")

    # H35: legacy tar with absurd metadata (strict mode refuses the format itself, as weights_only does).
    tar = dict(strict_contains="strict mode refuses the legacy tar format")
    for name, ndim, note in (("tar_ndim_huge", 2 ** 31 - 1, "tensors entry: ndim 2**31-1"),
                             ("tar_ndim_negative", -1, "tensors entry: ndim -1")):
        case(f"{name}.pt", "H35", "error", legacy_tar_with(tensor_meta=struct.pack("<i", ndim) + b"\0" * 4 +
                                                            struct.pack("<3q", 2, 3, 1)), note,
             contains=f"tensor 2001 has {ndim} dimensions", **tar)
    case("tar_size_past_end.pt", "H35", "error",
         legacy_tar_with(tensor_meta=struct.pack("<i", 3) + b"\0" * 4 + struct.pack("<2q", 2, 3)),
         "tensors entry ends inside the size/stride arrays",
         contains="bad legacy tar checkpoint: field of 8 bytes at offset 58 runs past the end", **tar)
    case("tar_storage_numel_huge.pt", "H35", "error", legacy_tar_with(storage_numel=2 ** 60),
         "storages entry: numel 2**60 with 24 bytes present",
         contains="storage 1001 claims 1152921504606846976 elements", **tar)
    case("tar_view_outside_storage.pt", "H35", "error",
         legacy_tar_with(tensor_meta=struct.pack("<i", 1) + b"\0" * 4 + struct.pack("<3q", 6, 1, 3)),
         "tensor (6,) at offset 3 in a 6-float storage (torch.load weights_only=False returns 3 floats of "
         "out-of-bounds heap memory here)",
         contains="tensor view (offset 3, size [6], stride [1]) runs past its storage of 24 bytes", **tar)
    case("tar_pax_absurd.pt", "H35", "error", tar_pax_absurd(), "a PAX header record with length 99999999999",
         contains="malformed PAX record", **tar)
    case("tar_entry_size_huge.pt", "H35", "error", tar_size_field_huge(),
         "ustar size field 77777777777 (octal) for an entry at the end of the file",
         contains="entry at 1024 claims 8589934591 bytes beyond the end of the file", **tar)


def legacy_tar_with(tensor_meta=None, storage_numel=6):
    """The spec gen_tar.py layout with one tensor whose raw metadata / storage header can be replaced."""
    def p(o):
        return pickle.dumps(o, protocol=2)
    st = p(1) + pickle2(tup(integer(1001), uni("cpu"), glob("torch", "FloatStorage"))) + \
        struct.pack("<q", storage_numel) + struct.pack("<6f", 0, 1, 2, 3, 4, 5) + p([])
    meta = tensor_meta if tensor_meta is not None else \
        struct.pack("<i", 2) + b"\0" * 4 + struct.pack("<5q", 2, 3, 3, 1, 0)
    te = p(1) + pickle2(tup(integer(2001), integer(1001), glob("torch", "FloatTensor"))) + meta
    pk = pickle2(dict_of([(uni("w"), uni("2001") + BINPERSID)]))
    si = p({"protocol_version": 1000, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 8}})
    return make_tar([("sys_info", si), ("pickle", pk), ("tensors", te), ("storages", st)])


def make_tar(entries):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 0
            tar.addfile(ti, io.BytesIO(data))
    return out.getvalue()


def _tar_header(name, size, typeflag=b"0"):
    h = bytearray(512)
    h[0:len(name)] = name.encode()
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = (b"%011o" % size + b"\0") if size < 8 ** 11 else b"77777777777\0"
    h[136:148] = b"00000000000\0"
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    chk = sum(h)
    h[148:156] = b"%06o\0 " % chk
    return bytes(h)


def tar_pax_absurd():
    rec = b"99999999999 path=sys_info\n"
    pax = _tar_header("././@PaxHeader", len(rec), b"x") + rec + b"\0" * (512 - len(rec))
    si = pickle.dumps({"protocol_version": 1000, "little_endian": True}, protocol=2)
    body = _tar_header("sys_info", len(si)) + si + b"\0" * (512 - len(si) % 512)
    return pax + body + b"\0" * 1024


def tar_size_field_huge():
    si = pickle.dumps({"protocol_version": 1000, "little_endian": True}, protocol=2)
    return _tar_header("sys_info", len(si)) + si + b"\0" * (512 - len(si) % 512) + \
        _tar_header("pickle", 8 ** 11 - 1) + b"\x80\x02}."


def pickle_edge():
    body = suni("x") + x_tensor()
    # FRAME straddling: the frame says 5 bytes, the SHORT_BINUNICODE 'straddle...' runs past it.
    s = suni("straddle_across_frame_end")
    fr = proto(4) + frame(12) + EMPTY_DICT + MARK + s + uni("v") + body + SETITEMS + STOP
    case("frame_straddle.pt", "H36", "error-strict", zipped(fr),
         "FRAME of 12 bytes while an opcode runs past the frame end (fickling straddle): permissive ignores "
         "framing and loads, strict errors", check=CHECK_X, contains="runs past the end of its FRAME")
    rest = EMPTY_DICT + MARK + body + SETITEMS + STOP
    case("frame_len_too_long.pt", "H36", "error-strict", zipped(proto(4) + frame(1 << 40) + rest),
         "FRAME length 2**40 > remaining bytes", check=CHECK_X,
         contains="FRAME of 1099511627776 bytes runs past the end of the data")
    case("frame_len_too_short.pt", "H36", "load", zipped(proto(4) + frame(1) + rest),
         "FRAME of 1 byte (EMPTY_DICT), the rest unframed: CPython accepts unframed data after a finished frame "
         "and no opcode crosses the frame end, so both modes load", check=CHECK_X)
    case("stack_global_int_operands.pt", "H37", "error", zipped(proto(4) + integer(1) + integer(2) + STACK_GLOBAL +
                                                                STOP), "STACK_GLOBAL with int operands",
         contains="STACK_GLOBAL needs two str operands, got int and int")
    case("stack_global_memo_nonstr.pt", "H37", "error",
         zipped(proto(4) + EMPTY_LIST + MEMOIZE + POP + get(0) + suni("system") + STACK_GLOBAL + STOP),
         "STACK_GLOBAL whose module operand is a memoized list",
         contains="STACK_GLOBAL needs two str operands, got list and str")
    case("stack_global_one_operand.pt", "H37", "error", zipped(proto(4) + suni("os") + STACK_GLOBAL + STOP),
         "STACK_GLOBAL with one operand on the stack", contains="stack underflow in STACK_GLOBAL")
    case("global_non_utf8.pt", "H37", "error", zipped(proto(2) + glob(b"mod", b"\xf8") + STOP),
         "GLOBAL 'mod' '\\xf8' (picklescan not_a_pickle.bin pattern) inside a zip",
         contains="GLOBAL name is not a valid UTF-8 name")
    case("global_no_newline.pt", "H37", "error", zipped(proto(2) + b"cos\nsystem"), "GLOBAL name never terminated",
         contains="reading GLOBAL name (no newline)")
    case("global_cr.pt", "H37", "error-strict", zipped(pickle2(glob("os", "system\r") + uni("x") + TUPLE1 + REDUCE)),
         "GLOBAL name 'system\\r' (CPython keeps the CR; never strip it into os.system)", contains="system")
    case("not_a_pickle.bin", "H37", "error", b"cmod\n\xf8\n", "raw bytes c 'mod\\n\\xf8\\n': unknown format",
         contains="unrecognised leading bytes")

    huge = struct.pack("<Q", 2 ** 64 - 1)
    case("binunicode8_huge.pt", "H38", "error", zipped(proto(4) + b"\x8d" + huge + b"abc" + STOP),
         "BINUNICODE8 length 2**64-1: error before allocating",
         contains="reading BINUNICODE8 of 18446744073709551615 bytes")
    case("binbytes8_huge.pt", "H38", "error", zipped(proto(4) + b"\x8e" + huge + b"abc" + STOP),
         "BINBYTES8 length 2**64-1", contains="reading BINBYTES8 of 18446744073709551615 bytes")
    case("bytearray8_huge.pt", "H38", "error", zipped(proto(5) + b"\x96" + struct.pack("<Q", 2 ** 63) + STOP),
         "BYTEARRAY8 length 2**63", contains="reading BYTEARRAY8 of 9223372036854775808 bytes")
    case("binunicode_huge.pt", "H38", "error", zipped(proto(2) + b"X\xff\xff\xff\xff" + b"abc" + STOP),
         "BINUNICODE length 2**32-1", contains="reading BINUNICODE of 4294967295 bytes")
    case("binbytes_huge.pt", "H38", "error", zipped(proto(3) + b"B\xff\xff\xff\xff" + b"abc" + STOP),
         "BINBYTES length 2**32-1", contains="reading BINBYTES of 4294967295 bytes")
    case("long4_huge.pt", "H38", "error", zipped(proto(2) + b"\x8b\xff\xff\xff\x7f" + b"\x01" * 8 + STOP),
         "LONG4 length 2**31-1", contains="LONG4 of 2147483647 bytes")
    case("long4_negative.pt", "H38", "error", zipped(proto(2) + b"\x8b\xff\xff\xff\xff" + STOP), "LONG4 length -1",
         contains="negative LONG4 length -1")
    case("long4_2kib_size.pt", "H38", "error",
         zipped(pickle2(dict_of([(uni("t"), glob("torch._utils", "_rebuild_tensor_v2") + MARK + storage_pid() +
                                 integer(0) + tup(b"\x8b" + struct.pack("<i", 2048) + b"\x01" * 2048) +
                                 tup(integer(1)) + NEWFALSE + ordered_dict_empty() + TUPLE + REDUCE)]))),
         "a tensor size given as a 2048-byte LONG4 integer (> the 1024-byte cap for ints used as sizes)",
         contains="tensor size entry <int of 2048 bytes> is not a usable integer")


def nested_blobs():
    def legacy_file(main_obj_body):
        return legacy_header() + pickle2(main_obj_body) + legacy_keys([])

    key = "94821505106992"
    inner = legacy_header() + pickle2(float_tensor(key, 4, 0, (4,), (1,), legacy=True)) + legacy_keys([key]) + \
        legacy_storage(4, X4)
    blob = inner
    for _ in range(9):
        blob = legacy_file(call("torch.storage", "_load_from_bytes", sbytes(blob)))
    outer = pickle2(dict_of([(uni("x"), call("torch.storage", "_load_from_bytes",
                                             call("_codecs", "encode", uni(blob.decode("latin1")),
                                                  uni("latin1"))))]))
    case("nested_load_from_bytes_10.pt", "H39", "error", zipped(outer, records=()),
         "torch.storage._load_from_bytes nested 10 deep: depth-limit error (limit 1-2)",
         contains="nested deeper than 2 levels (pickle offset 1640) (inside a torch.storage._load_from_bytes blob)")
    n = "nested_blob_os_system"
    evil = legacy_file(call("os", "system", uni(touch(n))))
    outer = pickle2(dict_of([(uni("x"), x_tensor()),
                             (uni("blob"), call("torch.storage", "_load_from_bytes",
                                                call("_codecs", "encode", uni(evil.decode("latin1")),
                                                     uni("latin1"))))]))
    case(f"{n}.pt", "H39", "error-strict", zipped(outer),
         "a nested legacy blob whose main pickle is os.system: permissive keeps it inert (placeholder), strict "
         "errors (_load_from_bytes is not in torch's allowlist either)", contains="os.system", check=CHECK_X,
         canary_path=canary(n))


def public_patterns():
    """H41: our own equivalents of picklescan / fickling payload families (none copied)."""
    def simple(n, module, name, *args, note, contains=None):
        case(f"{n}.pt", "H41", "error-strict", zipped(with_x((uni("p"), call(module, name, *args)))),
             note, contains=contains or f"{module}.{name}", check=CHECK_X, canary_path=canary(n))

    n = "runpy_run_code"
    simple(n, "runpy", "_run_code", uni(f"import os; os.system('{touch(n)}')"), EMPTY_DICT, note="runpy._run_code")
    n = "pty_spawn"
    simple(n, "pty", "spawn", list_of([uni("touch"), uni(canary(n))]), note="pty.spawn")
    n = "io_fileio"
    simple(n, "_io", "FileIO", uni(canary(n)), uni("w"), note="_io.FileIO(canary, 'w') creates the file")
    n = "logging_filehandler"
    simple(n, "logging", "FileHandler", uni(canary(n)), note="logging.FileHandler(canary) creates the file")
    n = "webbrowser_open"
    simple(n, "webbrowser", "open", uni("http://127.0.0.1:9/vqrt_canary"), note="webbrowser.open")
    n = "urllib_urlopen"
    simple(n, "urllib.request", "urlopen", uni("http://127.0.0.1:9/vqrt_canary"), note="SSRF via urlopen")
    n = "ssl_get_server_certificate"
    simple(n, "ssl", "get_server_certificate", tup(uni("127.0.0.1"), integer(9)), note="DNS/connect exfiltration")
    n = "shutil_rmtree"
    simple(n, "shutil", "rmtree", uni(canary(n) + "_dir"), note="shutil.rmtree")
    n = "uuid_get_command_stdout"
    simple(n, "uuid", "_get_command_stdout", uni("touch"), uni(canary(n)), note="uuid._get_command_stdout")
    n = "pydoc_pipepager"
    simple(n, "pydoc", "pipepager", uni(""), uni(touch(n)), note="pydoc.pipepager runs a shell command")
    n = "numpy_runstring"
    simple(n, "numpy.testing._private.utils", "runstring", uni(f"__import__('os').system('{touch(n)}')"),
           EMPTY_DICT, note="numpy runstring exec gadget")
    n = "pickle_loads_nested"
    inner = pickle2(call("os", "system", uni(touch(n))))
    simple(n, "pickle", "loads", sbytes(inner), note="nested pickle.loads of an os.system pickle (bytes via "
           "BINBYTES)")
    n = "torch_load_nested"
    simple(n, "torch.serialization", "load", uni(canary(n) + ".pt"), note="torch.load of another file")
    n = "import_then_getattr"
    imp = call("builtins", "__import__", uni("os"))
    getter = call("builtins", "getattr", imp, uni("system"))
    case(f"{n}.pt", "H41", "error-strict", zipped(with_x((uni("p"), getter + tup(uni(touch(n))) + REDUCE))),
         "__import__('os') -> getattr(., 'system') -> call: REDUCE whose callee is itself a REDUCE result",
         contains="builtins.getattr", check=CHECK_X, canary_path=canary(n))
    n = "attrgetter_gadget"
    ag = call("operator", "attrgetter", uni("system"))
    case(f"{n}.pt", "H41", "error-strict",
         zipped(with_x((uni("p"), ag + tup(call("importlib", "import_module", uni("os"))) + REDUCE +
                        tup(uni(touch(n))) + REDUCE))),
         "operator.attrgetter('system')(importlib.import_module('os'))(cmd)", contains="operator.attrgetter",
         check=CHECK_X, canary_path=canary(n))
    n = "functools_partial"
    part = call("functools", "partial", glob("os", "system"), uni(touch(n)))
    case(f"{n}.pt", "H41", "error-strict", zipped(with_x((uni("p"), part + EMPTY_TUPLE + REDUCE))),
         "functools.partial(os.system, cmd)()", contains="functools.partial", check=CHECK_X, canary_path=canary(n))
    n = "code_interpreter"
    interp = glob("code", "InteractiveInterpreter") + EMPTY_TUPLE + REDUCE
    run = call("builtins", "getattr", interp, uni("runsource"))
    case(f"{n}.pt", "H41", "error-strict",
         zipped(with_x((uni("p"), run + tup(uni(f"__import__('os').system('{touch(n)}')")) + REDUCE))),
         "code.InteractiveInterpreter().runsource(src)", contains="code.InteractiveInterpreter", check=CHECK_X,
         canary_path=canary(n))
    n = "marshal_function"
    code_bytes = marshal.dumps(compile(f"__import__('os').system('{touch(n)}')", "<x>", "exec"))
    fn = call("types", "FunctionType", call("marshal", "loads", sbytes(code_bytes)), EMPTY_DICT)
    case(f"{n}.pt", "H41", "error-strict", zipped(with_x((uni("p"), fn + EMPTY_TUPLE + REDUCE))),
         "types.FunctionType(marshal.loads(code), {})() (cloudpickle-style code object; bytes never run)",
         contains="marshal.loads", check=CHECK_X, canary_path=canary(n))
    n = "ctypes_cdll"
    lib = call("ctypes", "CDLL", NONE)
    fn = call("builtins", "getattr", lib, uni("system"))
    case(f"{n}.pt", "H41", "error-strict",
         zipped(with_x((uni("p"), fn + tup(sbytes(touch(n).encode())) + REDUCE))),
         "ctypes.CDLL(None).system(cmd)", contains="ctypes.CDLL", check=CHECK_X, canary_path=canary(n))
    n = "copyreg_reconstructor"
    case(f"{n}.pt", "H41", "error-strict",
         zipped(with_x((uni("p"), call("copy_reg", "_reconstructor", glob("subprocess", "Popen"),
                                       glob("__builtin__", "object"), NONE)))),
         "copy_reg._reconstructor(subprocess.Popen, object, None) (py2 spelling)", contains="subprocess.Popen",
         check=CHECK_X)
    n = "rebuild_tensor_callee_swap"
    case(f"{n}.pt", "H41", "error-strict",
         zipped(with_x((uni("p"), glob("os", "system") + put(200) + POP + get(200) + tup(uni(touch(n))) + REDUCE))),
         "os.system fetched back from the memo before the REDUCE (scanner-evasion shape)", contains="os.system",
         check=CHECK_X, canary_path=canary(n))

    case("sevenzip_wrapped.7z", "H41", "error", b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(range(64)),
         "7-Zip signature (picklescan malicious1.7z shape): unknown format", contains="unrecognised leading bytes")
    rnd = random.Random(1234)
    case("random_bytes.bin", "H41", "error", bytes(rnd.getrandbits(8) for _ in range(4096)),
         "4 KiB of random bytes", contains="unrecognised leading bytes")
    case("random_after_zip_magic.pt", "H41", "error", b"PK\x03\x04" + bytes(rnd.getrandbits(8) for _ in range(4092)),
         "zip magic followed by random bytes", contains="end of central directory not found")
    case("empty_file.pt", "H41", "error", b"", "0-byte file", contains="the file is empty")
    case("pytorch1_preview.pt", "H41", "error", b"PYTORCH1" + b"\0" * 56,
         "2018 preview container magic (the C++ reader rejects it)",
         contains="the 2018 preview container (PYTORCH1) is not supported")
    full = with_x()
    case("broken_model_truncated_pkl.pt", "H41", "error", zipped(full[:len(full) // 2]),
         "a zip whose data.pkl is cut in half (picklescan broken_model shape)",
         contains="pickle truncated at offset 64")


def truncation_seeds(committed_dir):
    """Small valid files; the Swift tests truncate them at every offset (every proper prefix must error).
    truncation_seed.pt is written by torch.save itself; without PyTorch (the CI check) its committed bytes are
    reused and reported as not regenerated."""
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        b = io.BytesIO()
        torch.save({"w": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "e": torch.zeros(0), "i": torch.tensor(3),
                    "v": torch.arange(6, dtype=torch.float16)[1::2]}, b)
        seed = b.getvalue()
    else:
        seed = (pathlib.Path(committed_dir) / "truncation_seed.pt").read_bytes()
        NOT_REGENERATED.append("truncation_seed.pt")
    case("truncation_seed.pt", "H10", "load", seed,
         "truncation seed (zip): loads as-is (w, e, i, v); the Swift tests cut it at every offset and every "
         "proper prefix must error without crashing",
         check={"w": [1.0, 2.0, 3.0, 4.0], "e": [], "i": [3], "v": [1.0, 3.0, 5.0]})
    case("truncation_seed_legacy.pt", "H10", "load", spec_legacy_tl(),
         "truncation seed (legacy, = tl.pt): every proper prefix must error", check=CHECK_X)


# ----------------------------------------------------------------------------------------------------------------

OBSERVER = r"""
import sys, json, resource, signal, os, warnings
warnings.filterwarnings("ignore")
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
import torch
def alarm(*a): raise TimeoutError("timeout")
signal.signal(signal.SIGALRM, alarm)
for path in sys.argv[1:]:
    signal.alarm(20)
    try:
        r = torch.load(path, weights_only=True, map_location="cpu")
        out = "loads: " + type(r).__name__
    except BaseException as e:
        msg = str(e).strip()
        boiler = ("Weights only load failed", "Please file an issue", "Check the documentation", "This file can")
        lines = [l.strip().replace("WeightsUnpickler error:", "").strip() for l in msg.splitlines()]
        lines = [l for l in lines if l and not l.startswith(boiler) and not l.startswith(("(1)", "(2)"))]
        line = lines[0] if lines else (msg.splitlines()[0] if msg else "")
        line = line.split(". This is an internal miniz error")[0].split(" In PyTorch 2.6")[0]
        line = line.split(" was not an allowed global by default")[0]
        out = "error: %s: %s" % (type(e).__name__, line[:150])
    signal.alarm(0)
    print(json.dumps([path, out]), flush=True)
"""


def observe_torch(paths):
    """torch.load(weights_only=True) on each file in a child process; a crash only loses that file."""
    result = {}
    todo = list(paths)
    while todo:
        p = subprocess.run([sys.executable, "-c", OBSERVER] + [str(x) for x in todo], capture_output=True,
                           text=True, timeout=1200)
        done = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("[")]
        for path, out in done:
            result[path] = out
        if len(done) < len(todo):
            crashed = todo[len(done)]
            result[str(crashed)] = f"crash: exit {p.returncode}"
            todo = todo[len(done) + 1:]
        else:
            todo = []
    return result


def generate(out_dir, observe=True, committed_dir=None):
    """Writes every case and manifest.json into out_dir. `observe`: record torch's reaction (needs PyTorch);
    otherwise the `torch` fields come from the manifest already in out_dir, or in committed_dir."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    committed_dir = pathlib.Path(committed_dir or out_dir)
    CASES.clear()
    NOT_REGENERATED.clear()
    code_execution()
    vm_abuse()
    tensor_geometry()
    zip_structure()
    legacy_cases()
    pickle_edge()
    nested_blobs()
    public_patterns()
    truncation_seeds(committed_dir)
    names = [c["file"] for c in CASES]
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    for c in CASES:
        (out_dir / c["file"]).write_bytes(c["blob"])
    previous = {}
    mf = out_dir / "manifest.json"
    for m in (committed_dir / "manifest.json", mf):
        if m.exists():
            previous = {e["file"]: e.get("torch") for e in json.loads(m.read_text())}
    observed = {}
    if observe:
        for c in CASES:
            if os.path.exists(c["canary"] or "/nonexistent"):
                os.remove(c["canary"])
        observed = observe_torch([out_dir / c["file"] for c in CASES])
        leaked = [c["canary"] for c in CASES if c["canary"] and os.path.exists(c["canary"])]
        assert not leaked, f"canary files appeared: {leaked}"
    manifest = []
    for c in CASES:
        e = {"file": c["file"], "id": c["id"], "expect": c["expect"]}
        if c["contains"]:
            e["contains"] = c["contains"]
        e["note"] = c["note"]
        e["strict"] = c["strict"]
        for k in ("strict_contains", "warns", "also_ok", "check", "canary"):
            if c[k] is not None:
                e[k] = c[k]
        t = observed.get(str(out_dir / c["file"]), previous.get(c["file"]))
        if t:
            e["torch"] = t
        manifest.append(e)
    with open(mf, "w") as f:
        f.write("[\n" + ",\n".join(" " + json.dumps(e, ensure_ascii=False) for e in manifest) + "\n]\n")
    return len(CASES)


def check():
    """Regenerates hostile/ into a temporary directory without PyTorch (torch's observed reactions are taken from
    the committed manifest) and compares every file byte for byte. Standard library only: CI runs it."""
    import filecmp
    import shutil
    import tempfile
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="vqrt_hostile_"))
    try:
        generate(tmp, observe=False, committed_dir=COMMITTED)
        names = sorted(set(os.listdir(tmp)) | set(os.listdir(COMMITTED)))
        differ = [n for n in names if not (tmp / n).exists() or not (COMMITTED / n).exists()
                  or not filecmp.cmp(tmp / n, COMMITTED / n, shallow=False)]
    finally:
        shutil.rmtree(tmp)
    skipped = f" ({', '.join(NOT_REGENERATED)} not regenerated: needs PyTorch)" if NOT_REGENERATED else ""
    if differ:
        print(f"Fixtures/loader/hostile: DIFFERENT: {', '.join(differ)}{skipped}")
        return 1
    print(f"Fixtures/loader/hostile: {len(names)} files identical{skipped}")
    return 0


if __name__ == "__main__":
    # The full generator (positive fixtures, torch's observed reactions, the README) is tools/make_fixtures.py.
    if sys.argv[1:] != ["--check"]:
        sys.exit("usage: tools/fixtures_hostile.py --check  (writing them: tools/make_fixtures.py --only hostile)")
    sys.exit(check())
