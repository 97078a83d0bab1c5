// Errors of the NPY module: one line, naming the file (or "<memory>") and the problem.

/// Every failure of `.npy` / `.npz` reading and writing. `description` is a single line that starts with the file name.
public struct NPYError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case io                 // cannot open / read / write the file
        case badMagic           // not an .npy stream
        case badHeader          // header dict malformed, missing keys, too long
        case unsupportedDType   // dtype we do not read (structured, object, complex ...)
        case truncated          // fewer data bytes than the header promises
        case trailingData       // more data bytes than the header promises
        case overflow           // shape product or byte count overflows
        case typeMismatch       // asked for int64s() of a float array, etc.
        case shapeMismatch      // values.count != product(shape) when writing
        case zip                // libzip reported an error / bad archive
        case missingEntry       // .npz lacks a requested array
    }

    public let kind: Kind
    public let file: String
    public let message: String

    public init(_ kind: Kind, file: String, _ message: String) {
        self.kind = kind
        self.file = file
        // Keep it on one line whatever the source of the text.
        self.message = message.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }

    public var description: String { "\(file): \(message)" }
}
