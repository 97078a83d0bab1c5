// vqrt: run and measure vector-quantised image tokenizers from PyTorch checkpoints, without Python.
// The command line parses, validates, wires the Pipeline and prints (../shared/spec/cli.md is the contract).

import ArgumentParser
import Foundation
import Tensor

@main
struct VQRT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqrt",
        abstract: "Run VQ image tokenizers (rotation-trick VQ-VAE, LDM VQGAN, ViT-VQGAN) from PyTorch checkpoints, and measure them as the papers' tools do.",
        version: "0.2.0",
        subcommands: [Inspect.self, Encode.self, Decode.self, Reconstruct.self, Features.self, FIDStats.self, FID.self,
                      IS.self, KID.self, SSIM.self, LPIPSCommand.self, Eval.self, Compare.self, Merge.self, Demo.self, Bench.self])

    /// Parses, runs, and turns every failure into one `error:` line on stderr (argument errors included) and a
    /// non-zero exit status. Help and version requests print as usual.
    static func main() {
        // Idle OpenMP threads spin after each oneDNN call and steal the cores from the next kernel; libgomp reads its
        // wait policy only at process start, so vqrt restarts itself once with a passive policy (unless the user
        // chose one). `vqrt fid A.npz B.npz` runs no OpenMP code and skips the restart.
        if !comparesStatisticsFilesOnly() { Threading.reexecWithPassiveOpenMPIfNeeded() }
        Knobs.apply()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            let exitCode = self.exitCode(for: error)
            if exitCode == .success {   // --help, --version
                exit(withError: error)
            }
            let text = message(for: error).split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }.joined(separator: "; ")
            Console.error(text.isEmpty ? "\(error)" : text)
            Foundation.exit(exitCode.rawValue == 0 ? 1 : exitCode.rawValue)
        }
    }

    static func comparesStatisticsFilesOnly() -> Bool {
        let args = CommandLine.arguments
        guard args.count > 3, args[1] == "fid", let fid = try? FID.parse(Array(args.dropFirst(2))) else { return false }
        return fid.a.hasSuffix(".npz") && fid.b.hasSuffix(".npz")
    }
}
