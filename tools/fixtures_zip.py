"""Raw zip writer/reader used by tools/make_fixtures.py (developer-only, see Fixtures/loader/README.md).

`build_zip` writes archives byte-for-byte like PyTorch's PyTorchStreamWriter (miniz with MZ_ZIP_FLAG_WRITE_ZIP64):
local headers with flags 0x0808 and zeroed CRC/sizes, an 'FB' padding extra that puts every payload at a multiple
of the alignment, 16-byte data descriptors, a central directory without extras, and ZIP64 EOCD + locator + EOCD.
Every field can be overridden per entry so the same code writes the positive re-zips (missing records, big-endian
rewrite, forced zip64, deflate) and the hostile zip-structure cases. `read_records` parses a torch zip's central
directory without checking CRCs (torch never checks them, and nocrc.pt has CRC 0).
"""
import struct
import zlib
from dataclasses import dataclass, field

LOCAL_SIG = b"PK\x03\x04"
CD_SIG = b"PK\x01\x02"
DD_SIG = b"PK\x07\x08"


@dataclass
class Entry:
    name: str
    data: bytes
    method: int = 0                 # 0 stored, 8 deflate
    flags: int | None = None        # None: 0x0808 (0x0800 for an empty stored record), as torch writes
    crc: int | None = None          # None: the real CRC-32 (or 0 when build_zip(compute_crc=False))
    usize: int | None = None        # CD uncompressed size override (lying sizes)
    csize: int | None = None        # CD compressed size override
    local_name: str | None = None   # a different name in the local header (CD/local mismatch)
    zip64: bool = False             # zip64 extras in the local header and CD, 24-byte data descriptor
    lho: int | None = None          # CD local-header-offset override
    cd_flags: int | None = None     # CD flags override (default: same as the local header)
    raw_payload: bytes | None = None  # bytes written as the payload instead of (compressed) data


@dataclass
class Layout:
    """What build_zip produced, for tests that patch offsets afterwards."""
    local_offsets: list = field(default_factory=list)
    payload_offsets: list = field(default_factory=list)
    cd_offset: int = 0
    cd_size: int = 0
    zip64_eocd_offset: int = 0
    eocd_offset: int = 0


def _roundup(x, a):
    return (x + a - 1) // a * a


def build_zip(entries, alignment=64, compute_crc=True, zip64_end=True, entry_count=None, cd_offset=None,
              cd_size=None, comment=b"", layout=None):
    """Serialize `entries` in torch's layout. `entry_count`/`cd_offset`/`cd_size` override the end records."""
    out = bytearray()
    cd = bytearray()
    lay = layout if layout is not None else Layout()
    for e in entries:
        payload = e.raw_payload
        if payload is None:
            payload = zlib.compress(e.data, 9)[2:-4] if e.method == 8 else e.data
        usize = len(e.data)
        csize = len(payload)
        crc = (zlib.crc32(e.data) & 0xFFFFFFFF) if compute_crc else 0
        if e.crc is not None:
            crc = e.crc
        empty = usize == 0 and e.method == 0
        flags = e.flags if e.flags is not None else (0x0800 if empty else 0x0808)
        descriptor = bool(flags & 0x08)
        cursor = len(out)
        lname = (e.local_name if e.local_name is not None else e.name).encode()
        # Local zip64 extra: sizes (16 bytes) + the header's own offset (8 bytes, a miniz quirk) when forced.
        lx64 = b""
        if e.zip64:
            lx64 = struct.pack("<HHQQQ", 0x0001, 24, usize, csize, cursor)
        start = cursor + 30 + len(lname) + len(lx64) + 4
        pad = (_roundup(start, alignment) - start) if alignment > 1 else 0
        extra = lx64 + struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        lsz = 0xFFFFFFFF if e.zip64 else 0
        out += LOCAL_SIG + struct.pack("<HHHHHIIIHH", 0, flags, e.method, 0, 0, 0, lsz, lsz, len(lname), len(extra))
        out += lname + extra
        lay.local_offsets.append(cursor)
        lay.payload_offsets.append(len(out))
        out += payload
        if descriptor:
            if e.zip64:
                out += DD_SIG + struct.pack("<IQQ", crc, csize, usize)
            else:
                out += DD_SIG + struct.pack("<III", crc, csize, usize)
        cu = e.usize if e.usize is not None else usize
        cc = e.csize if e.csize is not None else csize
        lho = e.lho if e.lho is not None else cursor
        cname = e.name.encode()
        cx = b""
        if e.zip64:
            cx = struct.pack("<HHQQQ", 0x0001, 24, cu, cc, lho)
            cu = cc = lho = 0xFFFFFFFF
        cflags = e.cd_flags if e.cd_flags is not None else flags
        cd += CD_SIG + struct.pack("<HHHHHHIIIHHHHHII", 0, 0, cflags, e.method, 0, 0, crc, cc, cu, len(cname),
                                   len(cx), 0, 0, 0, 0, lho)
        cd += cname + cx
    lay.cd_offset = len(out)
    lay.cd_size = len(cd)
    out += cd
    n = len(entries) if entry_count is None else entry_count
    cdo = lay.cd_offset if cd_offset is None else cd_offset
    cds = lay.cd_size if cd_size is None else cd_size
    if zip64_end:
        lay.zip64_eocd_offset = len(out)
        out += b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 0x031E, 45, 0, 0, n, n, cds, cdo)
        out += b"PK\x06\x07" + struct.pack("<IQI", 0, lay.zip64_eocd_offset, 1)
    lay.eocd_offset = len(out)
    n16 = min(n, 0xFFFF)
    out += b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, n16, n16, min(cds, 0xFFFFFFFF), min(cdo, 0xFFFFFFFF),
                                       len(comment)) + comment
    return bytes(out)


def read_records(blob):
    """[(name, bytes)] in central-directory order, for stored or deflated torch zips. No CRC check."""
    eocd = blob.rfind(b"PK\x05\x06")
    if eocd < 0:
        raise ValueError("no EOCD")
    n, cds, cdo = struct.unpack("<HII", blob[eocd + 10:eocd + 20])
    z = blob.rfind(b"PK\x06\x06", 0, eocd)
    if z >= 0:
        n, cds, cdo = struct.unpack("<QQQ", blob[z + 32:z + 56])
    out = []
    p = cdo
    for _ in range(n):
        assert blob[p:p + 4] == CD_SIG
        (_, _, flags, method, _, _, crc, cs, us, nl, xl, cl, _, _, _, lho) = struct.unpack(
            "<HHHHHHIIIHHHHHII", blob[p + 4:p + 46])
        name = blob[p + 46:p + 46 + nl].decode()
        x = blob[p + 46 + nl:p + 46 + nl + xl]
        q = 0
        while q + 4 <= len(x):
            tag, ln = struct.unpack("<HH", x[q:q + 4])
            if tag == 1:
                vals = list(struct.unpack("<%dQ" % (ln // 8), x[q + 4:q + 4 + ln]))
                if us == 0xFFFFFFFF:
                    us = vals.pop(0)
                if cs == 0xFFFFFFFF:
                    cs = vals.pop(0)
                if lho == 0xFFFFFFFF:
                    lho = vals.pop(0)
            q += 4 + ln
        p += 46 + nl + xl + cl
        lnl, lxl = struct.unpack("<HH", blob[lho + 26:lho + 30])
        start = lho + 30 + lnl + lxl
        raw = blob[start:start + cs]
        data = zlib.decompress(raw, -15) if method == 8 else raw
        assert len(data) == us, name
        out.append((name, data))
    return out


def torch_zip(records, alignment=64, **kw):
    """Rebuild a torch-layout zip from [(name, bytes)] records (all stored)."""
    return build_zip([Entry(n, d) for n, d in records], alignment=alignment, **kw)
