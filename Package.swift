// swift-tools-version:6.0
// vqrt: a Swift runtime for vector-quantised image tokenizers (see README.md and ../shared/DESIGN.md).
import PackageDescription

// No unsafe flags: SwiftPM refuses them in a package that another package depends on by version. The instruction set
// is chosen on the command line instead (the Makefile and tools/swift pass `-Xcc -march=x86-64-v3`: AVX2 + FMA,
// which the ClangImporter hands to Swift's code generation too; `make native` builds for the building machine).
// -Ounchecked is not used: bounds checks stay on for safety.

let package = Package(
    name: "vqrt",
    products: [
        .executable(name: "vqrt", targets: ["vqrt"]),
        .library(name: "VQRT", targets: ["PickleVM", "TorchFormats", "Tensor", "NN", "Models", "Imaging", "Metrics", "NPY", "Pipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // C libraries from Debian packages (tools/install-deps installs them).
        .systemLibrary(name: "CZip", path: "Sources/CZip"),
        .systemLibrary(name: "CDeflate", path: "Sources/CDeflate"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG"),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG"),
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .systemLibrary(name: "CLAPACK", path: "Sources/CLAPACK"),

        // A safe pickle interpreter: bytes to inert values. Knows nothing of torch or files.
        .target(name: "PickleVM"),
        // torch.save containers (zip, legacy stacked, legacy tar) and safetensors, storages, tensors, state dicts.
        .target(name: "TorchFormats", dependencies: ["PickleVM", "CZlib", .product(name: "Crypto", package: "swift-crypto")]),
        // .npy / .npz reading and writing.
        .target(name: "NPY", dependencies: ["CZip", "CDeflate"]),
        // vqrt's own C kernels (AVX2 + FMA intrinsics, chosen at run time).
        .target(name: "CKernels"),
        // The tensor type and its kernels (oneDNN, BLAS, own SIMD loops).
        .target(name: "Tensor", dependencies: ["CDNNL", "CLAPACK", "CKernels"]),
        // Layers and the prefix-scoped weight loader.
        .target(name: "NN", dependencies: ["Tensor", "TorchFormats"]),
        // The three VQ families and Inception-v3.
        .target(name: "Models", dependencies: ["NN", "Tensor", "TorchFormats", "Imaging", "Yams"]),
        // Image decode/encode, PIL-compatible conversion and resizing, family presets.
        // libpng/libjpeg calls under setjmp (their errors longjmp, which must not cross Swift frames).
        .target(name: "CImageShim", linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg")]),
        .target(name: "Imaging", dependencies: ["CImageShim"]),
        // FID, IS, reconstruction statistics, reports.
        .target(name: "Metrics", dependencies: ["Tensor", "CLAPACK", "NPY", "Imaging"]),
        // The one batch path under every command: images -> model / Inception -> images, arrays, metrics;
        // evaluation state, merge and reports; the checks every command makes before compute.
        .target(name: "Pipeline", dependencies: ["Models", "Imaging", "Metrics", "NPY", "Tensor", "TorchFormats", "NN"]),
        // The command line: parsing, validation, wiring and printing.
        .executableTarget(
            name: "vqrt",
            dependencies: ["Pipeline", "PickleVM", "TorchFormats", "NPY", "Tensor", "Models", "Imaging", "Metrics",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Times the paper metrics' library calls for tools/bench_paper_metrics.py.
        .executableTarget(name: "vqrt-paper-bench", dependencies: ["Imaging", "Metrics", "Models", "NN", "Tensor"],
                          path: "Sources/PaperMetricsBench"),
        // libFuzzer entry points; built only by tools/fuzz with -sanitize=fuzzer.
        .executableTarget(name: "vqrt-fuzz", dependencies: ["PickleVM", "TorchFormats"], path: "Sources/Fuzz"),

        // What every test target shares: where the fixtures are, and Fixtures/nn's cases (NNTests, TensorTests).
        .target(name: "TestSupport", dependencies: ["NPY", "Tensor"], path: "Tests/TestSupport"),
        .testTarget(name: "PickleVMTests", dependencies: ["TestSupport", "PickleVM"]),
        .testTarget(name: "TorchFormatsTests", dependencies: ["TestSupport", "TorchFormats", "PickleVM"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "vqrt", "Models", "NN", "Pipeline", "NPY"]),
        .testTarget(name: "ModelsTests", dependencies: ["TestSupport", "Models", "NN", "Tensor", "NPY", "TorchFormats"]),
        .testTarget(name: "NPYTests", dependencies: ["TestSupport", "NPY"]),
        .testTarget(name: "ImagingTests", dependencies: ["TestSupport", "Imaging", "NPY"]),
        .testTarget(name: "TensorTests", dependencies: ["TestSupport", "Tensor", "NPY", "CKernels"]),
        .testTarget(name: "NNTests", dependencies: ["TestSupport", "NN", "Tensor", "NPY"]),
        .testTarget(name: "InceptionTests", dependencies: ["TestSupport", "Models", "NN", "Tensor", "Imaging", "NPY"]),
        .testTarget(name: "MetricsTests", dependencies: ["TestSupport", "Metrics", "NPY", "Tensor", "NN", "CLAPACK", "Imaging"]),
        // The README's Slurm array example on a private single-node Slurm (tools/slurm-eval); skipped where Slurm cannot start.
        .testTarget(name: "SlurmTests", dependencies: ["TestSupport", "vqrt", "Models", "NN", "NPY"]),
    ],
    swiftLanguageModes: [.v5]
)
