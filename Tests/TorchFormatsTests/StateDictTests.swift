// Finding the model weights (spec §10 item 6) in the containers the paper's checkpoints use, and strict mode.

import Foundation
import PickleVM
import TorchFormats
import XCTest

final class StateDictTests: XCTestCase {
    func testTable1CheckpointWithPickledSchedulerAndNamespace() throws {
        let ckpt = try Checkpoint.open(path: Fixtures.loader("table1_rt.pth"))
        let sd = try ckpt.stateDict()
        XCTAssertEqual(sd.source, "model")
        XCTAssertEqual(sd.prefixStripped, "module.")
        XCTAssertFalse(sd.names.contains { $0.hasPrefix("module.") })
        XCTAssertTrue(sd.setAside.contains { $0.hasPrefix("optimizer") })
        XCTAssertEqual(ckpt.namespaceArgs()?["f"], .int(8))
        // The scheduler's getattr reduce and AdamW are named, never called; torch.load(weights_only=True) refuses
        // them (and the Namespace), getattr being the one that can execute code.
        XCTAssertTrue(ckpt.globals.contains(PyGlobal("builtins", "getattr")))
        let unsafe = ckpt.globalsOutsideWeightsOnly
        XCTAssertEqual(unsafe.filter(\.isKnownCodeExecution), [PyGlobal("builtins", "getattr")])
        XCTAssertTrue(unsafe.contains(PyGlobal("argparse", "Namespace")))
        XCTAssertFalse(unsafe.contains { $0.module == "torch._utils" || $0 == PyGlobal("collections", "OrderedDict") })
    }

    func testLightningAndLatentDiffusionContainers() throws {
        let pl = try Checkpoint.open(path: Fixtures.loader("pl_last.ckpt"))
        XCTAssertEqual(try pl.stateDict().source, "state_dict")
        XCTAssertEqual(pl.archivePrefix, "archive")
        let meta = Dictionary(uniqueKeysWithValues: pl.metadata())
        XCTAssertEqual(meta["pytorch-lightning_version"], .string("2.6.6"))
        XCTAssertEqual(meta["hyper_parameters"]?["cfg"]?["model"]?["layers"], .array([.int(1), .int(2)]))
        let ldm = try Checkpoint.open(path: Fixtures.loader("ldm_style.ckpt")).stateDict()
        XCTAssertEqual(ldm.prefixStripped, "first_stage_model.")
        XCTAssertTrue(ldm.names.contains("quantize.embedding.weight"))
        XCTAssertFalse(ldm.names.contains { $0.hasPrefix("model.") || $0.hasPrefix("loss.") })
        let dp = try Checkpoint.open(path: Fixtures.loader("dp_model.pt")).stateDict()
        XCTAssertEqual(dp.prefixStripped, "module.")
        XCTAssertEqual(dp.count, 7)
    }

    func testStrictModeRefusesWhatWeightsOnlyRefuses() throws {
        var strict = LoadOptions()
        strict.strict = true
        XCTAssertNoThrow(try Checkpoint.open(path: Fixtures.loader("sd_small.pt"), options: strict))
        XCTAssertNoThrow(try Checkpoint.open(path: Fixtures.loader("dtypes.pt"), options: strict))
        XCTAssertThrowsError(try Checkpoint.open(path: Fixtures.loader("table1_rt.pth"), options: strict)) { e in
            XCTAssertTrue("\(e)".contains("argparse.Namespace"), "\(e)")
        }
        XCTAssertThrowsError(try Checkpoint.open(path: Fixtures.loader("pl_last.ckpt"), options: strict))
    }

    func testCRCVerificationIsOptIn() throws {
        XCTAssertNoThrow(try Checkpoint.open(path: Fixtures.loader("crc_bad.pt")))
        XCTAssertNoThrow(try Checkpoint.open(path: Fixtures.loader("nocrc.pt")))
        var verify = LoadOptions()
        verify.verifyCRC = true
        XCTAssertThrowsError(try Checkpoint.open(path: Fixtures.loader("crc_bad.pt"), options: verify))
        XCTAssertNoThrow(try Checkpoint.open(path: Fixtures.loader("nocrc.pt"), options: verify))
    }
}
