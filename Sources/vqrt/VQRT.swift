// vqrt: run and measure vector-quantised image tokenizers from PyTorch checkpoints, without Python.
// The command line only parses, wires and reports (see ../shared/spec/cli.md for the contract).

import ArgumentParser
import Tensor

@main
struct VQRT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqrt",
        abstract: "Run VQ image tokenizers (rotation-trick VQ-VAE, LDM VQGAN, ViT-VQGAN) from PyTorch checkpoints.",
        version: "0.1.0",
        subcommands: [Inspect.self, Encode.self, Decode.self, Reconstruct.self, Features.self, FIDStats.self, FID.self, IS.self, Eval.self, Merge.self, Demo.self, Bench.self])

    /// Idle OpenMP threads spin for milliseconds after each oneDNN call and steal the cores from the next kernel;
    /// libgomp reads its wait policy only at process start, so vqrt restarts itself once with a passive policy
    /// (unless the user chose one). Measured 1.5-2x on a busy 2-core machine (Tensor/Parallel.swift).
    static func main() {
        if !comparesStatisticsFilesOnly() { Threading.reexecWithPassiveOpenMPIfNeeded() }
        main(nil)
    }

    /// `vqrt fid A.npz B.npz` runs no OpenMP code (no Inception, only OpenBLAS), so it skips the restart (~20 ms
    /// of a ~1 s command). Anything that does not parse as exactly that restarts as usual.
    static func comparesStatisticsFilesOnly() -> Bool {
        let args = CommandLine.arguments
        guard args.count > 3, args[1] == "fid", let fid = try? FID.parse(Array(args.dropFirst(2))) else { return false }
        return fid.a.hasSuffix(".npz") && fid.b.hasSuffix(".npz")
    }
}
