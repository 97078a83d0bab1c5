// vqrt: run and measure vector-quantised image tokenizers from PyTorch checkpoints, without Python.
// The command line only parses, wires and reports (see ../shared/spec/cli.md for the contract).

import ArgumentParser

@main
struct VQRT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqrt",
        abstract: "Run VQ image tokenizers (rotation-trick VQ-VAE, LDM VQGAN, ViT-VQGAN) from PyTorch checkpoints.",
        version: "0.1.0",
        subcommands: [Inspect.self, Encode.self, Decode.self, Reconstruct.self, Features.self, FIDStats.self, FID.self, IS.self, Eval.self, Merge.self, Demo.self, Bench.self])
}
