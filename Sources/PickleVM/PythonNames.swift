// Python 2 → 3 name fixing, applied to every GLOBAL before anything matches it (spec §3.3; CPython
// `_compat_pickle`), plus torch's own module rename `torch.tensor` → `torch._tensor`.

public enum PythonNames {
    static let modules: [String: String] = [
        "__builtin__": "builtins", "copy_reg": "copyreg", "UserDict": "collections", "UserList": "collections",
        "UserString": "collections", "StringIO": "io", "cStringIO": "io", "Queue": "queue", "repr": "reprlib",
        "_abcoll": "collections.abc", "whichdb": "dbm", "torch.tensor": "torch._tensor",
    ]
    static let names: [String: (String, String)] = [
        "__builtin__.xrange": ("builtins", "range"), "__builtin__.unicode": ("builtins", "str"),
        "__builtin__.long": ("builtins", "int"), "__builtin__.basestring": ("builtins", "str"),
        "__builtin__.reduce": ("functools", "reduce"), "__builtin__.intern": ("sys", "intern"),
        "__builtin__.unichr": ("builtins", "chr"), "itertools.izip": ("builtins", "zip"),
        "itertools.imap": ("builtins", "map"), "itertools.ifilter": ("builtins", "filter"),
        "UserDict.UserDict": ("collections", "UserDict"), "UserList.UserList": ("collections", "UserList"),
    ]

    public static func normalise(_ module: String, _ name: String) -> PyGlobal {
        if let mapped = names["\(module).\(name)"] { return PyGlobal(mapped.0, mapped.1) }
        return PyGlobal(modules[module] ?? module, name)
    }
}
