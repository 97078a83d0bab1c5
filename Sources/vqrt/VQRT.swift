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
        Threading.reexecWithPassiveOpenMPIfNeeded()
        main(nil)
    }
}
