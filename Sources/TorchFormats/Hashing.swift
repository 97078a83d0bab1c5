// SHA-256 through swift-crypto (BoringSSL's implementation, SHA-NI where the CPU has it), fed in pieces: tensor
// fingerprints (`inspect --tensors --json`), weight-file checks, run identities.

import Crypto
import Foundation

public enum Hashing {
    /// An incremental SHA-256.
    public struct SHA256Stream {
        private var hasher = Crypto.SHA256()
        public init() {}
        public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }
        public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
        /// The digest as lowercase hex (the stream is used up).
        public func hex() -> String { hasher.finalize().map { String(format: "%02x", $0) }.joined() }
    }

    public static func sha256(_ bytes: [UInt8]) -> String {
        var s = SHA256Stream()
        s.update(bytes)
        return s.hex()
    }

    public static func sha256(_ text: String) -> String { sha256(Array(text.utf8)) }

    /// SHA-256 of a file's bytes, read through a mapping in 8 MB pieces.
    public static func sha256(file path: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        var s = SHA256Stream()
        data.withUnsafeBytes { all in
            var offset = 0
            while offset < all.count {
                let end = min(all.count, offset + (8 << 20))
                s.update(UnsafeRawBufferPointer(rebasing: all[offset..<end]))
                offset = end
            }
        }
        return s.hex()
    }
}
