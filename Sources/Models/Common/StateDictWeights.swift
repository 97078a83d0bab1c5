// A checkpoint's state dict as a weight source for the NN layers (float32 values, converted from other float dtypes).

import NN
import TorchFormats

public final class StateDictWeightSource: WeightSource {
    public let stateDict: StateDict
    public init(_ sd: StateDict) { stateDict = sd }
    public var names: [String] { stateDict.names }
    public func tensor(named name: String) throws -> (shape: [Int], values: [Float])? {
        guard let t = stateDict[name] else { return nil }
        return (t.shape, try t.floats())
    }
}
