// Fuzzing entry for the pickle VM and every container reader.
//
// Built by tools/fuzz with `-sanitize=fuzzer,address -D FUZZING`: libFuzzer drives `fuzzOne`. In an ordinary build
// the executable replays the files given on its command line through the same function (to reproduce a crash).

import Foundation
import PickleVM
import TorchFormats

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    // 1. The bytes as a bare pickle, permissive and strict.
    _ = try? Unpickler(bytes, hooks: nil).load()
    var strict = UnpicklerOptions()
    strict.strict = true
    _ = try? Unpickler(bytes, hooks: nil, options: strict).load()
    // 2. The bytes as a checkpoint file: detection, container, pickle, tensors, state dict, plain values.
    guard let ckpt = try? Checkpoint.load(bytes: Array(bytes), name: "fuzz-input") else { return }
    for (_, t) in ckpt.allTensors() {
        // Materialising and hashing is linear work, bounded by TensorRef.maxExpandedBytes (a stride-0 view of a
        // few bytes may expand to 256 MB), which this sanitised debug build does an order of magnitude more slowly
        // than a release build: long enough for libFuzzer's per-input timeout to report a false hang. Larger views are not hashed here.
        let (bytes, overflow) = t.numel.multipliedReportingOverflow(by: t.dtype.itemSize)
        if !overflow && bytes <= 4 << 20 { _ = try? t.sha256() }
    }
    _ = try? ckpt.stateDict()
    _ = ckpt.metadata().map { $0.1.render() }
    _ = PlainValues.convert(ckpt.root).render()
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
exit(status)
#else
for path in CommandLine.arguments.dropFirst() {
    guard let data = FileManager.default.contents(atPath: path) else { print("cannot read \(path)"); continue }
    data.withUnsafeBytes { fuzzOne($0) }
    print("ok \(path)")
}
#endif
