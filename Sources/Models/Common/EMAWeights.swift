// Exponential-moving-average weights as Lightning's `LitEma` stores them (SEED-Voken `src/*/modules/ema.py`, the
// same class as latent-diffusion's): for every trainable parameter `name` of the LightningModule a buffer
// `model_ema.<name without dots>` (`encoder.conv_in.weight` -> `model_ema.encoderconv_inweight`), plus
// `model_ema.decay` and `model_ema.num_updates`. SEED-Voken's evaluation (`evaluation_image.py`) runs the model
// inside `ema_scope()`, which copies those shadows over the parameters; this source does the same by serving a
// parameter's shadow under the parameter's own name.

import NN
import TorchFormats

public final class EMAWeightSource: WeightSource {
    public static let prefix = "model_ema."
    /// LitEma's own buffers, not shadows of parameters.
    static let bookkeeping: Set<String> = ["model_ema.decay", "model_ema.num_updates"]

    let base: WeightSource
    let shapeOf: (String) -> [Int]?
    let baseNames: [String]
    /// Parameter name with its dots removed -> the shadow's key.
    let shadows: [String: String]
    private var servedKeys: Set<String> = []

    /// Whether the state dict holds LitEma shadows.
    public static func present(in sd: StateDict) -> Bool { present(names: sd.names) }

    public static func present(names: [String]) -> Bool {
        names.contains { $0.hasPrefix(prefix) && !bookkeeping.contains($0) }
    }

    public convenience init(_ sd: StateDict) throws { try self.init(StateDictWeightSource(sd), shapes: { sd[$0]?.shape }) }

    /// `base`: the checkpoint's weights, parameters and `model_ema.*` shadows side by side; `shapes` answers a
    /// key's shape without reading its values (else they are read).
    public init(_ base: WeightSource, shapes: ((String) -> [Int]?)? = nil) throws {
        self.base = base
        self.shapeOf = shapes ?? { name in (try? base.tensor(named: name))??.shape }
        baseNames = base.names
        var shadows: [String: String] = [:]
        for key in baseNames where key.hasPrefix(Self.prefix) && !Self.bookkeeping.contains(key) {
            shadows[String(key.dropFirst(Self.prefix.count))] = key
        }
        // Removing dots can make two parameter names equal (`down.1.block.11` and `down.11.block.1`); LitEma
        // itself could not have registered both, so such a checkpoint is not one it wrote.
        var owner: [String: String] = [:]
        for key in baseNames where !key.hasPrefix(Self.prefix) {
            let flat = key.replacingOccurrences(of: ".", with: "")
            if let other = owner[flat], shadows[flat] != nil {
                throw ModelError.badConfig("EMA weights are ambiguous: '\(other)' and '\(key)' both map to '\(Self.prefix)\(flat)'")
            }
            owner[flat] = key
        }
        self.shadows = shadows
    }

    /// Every non-EMA key: the model asks for parameters by their own names.
    public var names: [String] { baseNames.filter { !$0.hasPrefix(Self.prefix) } }

    /// Parameter names whose values came from their EMA shadow.
    public var served: Set<String> { servedKeys }

    /// The shadow keys never served (LitEma's bookkeeping, the loss modules' shadows...).
    public var unusedShadows: [String] {
        let used = Set(servedKeys.compactMap { shadows[$0.replacingOccurrences(of: ".", with: "")] })
        return baseNames.filter { $0.hasPrefix(Self.prefix) && !used.contains($0) }
    }

    public func tensor(named name: String) throws -> (shape: [Int], values: [Float])? {
        guard let shadow = shadows[name.replacingOccurrences(of: ".", with: "")], let t = try base.tensor(named: shadow) else {
            return try base.tensor(named: name)
        }
        // A shadow of another shape than its parameter is an error rather than a silent substitute.
        if let raw = shapeOf(name), raw != t.shape {
            throw ModelError.badConfig("EMA weight '\(shadow)' has shape \(t.shape) but '\(name)' has \(raw)")
        }
        servedKeys.insert(name)
        return t
    }

    /// After the model is built: every weight it used must have come from EMA (LitEma shadows every trainable
    /// parameter; a missing shadow would silently mix EMA and training weights).
    public func checkComplete(used: Set<String>) throws {
        if let raw = used.subtracting(servedKeys).sorted().first {
            throw ModelError.badConfig("the checkpoint has EMA weights (\(Self.prefix)*) but none for '\(raw)' (expected '\(Self.prefix)\(raw.replacingOccurrences(of: ".", with: ""))')")
        }
    }
}
