// The 68 opcodes of pickle protocols 0 to 5 (CPython `Lib/pickletools.py`; spec §3.2).

enum Opcode: UInt8 {
    case mark = 0x28, emptyTuple = 0x29, stop = 0x2E, pop = 0x30, popMark = 0x31, dup = 0x32
    case binbytes = 0x42, shortBinbytes = 0x43, float = 0x46, binfloat = 0x47, int = 0x49, binint = 0x4A
    case binint1 = 0x4B, long = 0x4C, binint2 = 0x4D, none = 0x4E, persid = 0x50, binpersid = 0x51
    case reduce = 0x52, string = 0x53, binstring = 0x54, shortBinstring = 0x55, unicode = 0x56, binunicode = 0x58
    case emptyList = 0x5D, append = 0x61, build = 0x62, global = 0x63, dict = 0x64, appends = 0x65
    case get = 0x67, binget = 0x68, inst = 0x69, longBinget = 0x6A, list = 0x6C, obj = 0x6F, put = 0x70
    case binput = 0x71, longBinput = 0x72, setitem = 0x73, tuple = 0x74, setitems = 0x75, emptyDict = 0x7D
    case proto = 0x80, newobj = 0x81, ext1 = 0x82, ext2 = 0x83, ext4 = 0x84, tuple1 = 0x85, tuple2 = 0x86
    case tuple3 = 0x87, newtrue = 0x88, newfalse = 0x89, long1 = 0x8A, long4 = 0x8B, shortBinunicode = 0x8C
    case binunicode8 = 0x8D, binbytes8 = 0x8E, emptySet = 0x8F, additems = 0x90, frozenset = 0x91
    case newobjEx = 0x92, stackGlobal = 0x93, memoize = 0x94, frame = 0x95, bytearray8 = 0x96
    case nextBuffer = 0x97, readonlyBuffer = 0x98

    /// The pickletools name, for messages.
    var name: String {
        let s = String(describing: self)
        var out = ""
        for ch in s {
            if ch.isUppercase { out += "_" }
            out += ch.uppercased()
        }
        return out
    }
}
