// Errors of the Imaging module: typed, one line, naming the file.

public struct ImagingError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case io            // cannot read / write the file
        case unsupported   // not a PNG or JPEG, or a variant we do not decode
        case corrupt       // the decoder rejected the data
        case truncated     // the data ends before the image does
        case tooLarge      // width × height above the configured pixel limit
        case invalidArgument // bad sizes / shapes passed by the caller
        case sizeMismatch  // images of different sizes in one batch without a resizing preset
    }

    public let kind: Kind
    public let file: String
    public let message: String

    public init(_ kind: Kind, file: String, _ message: String) {
        self.kind = kind
        self.file = file
        self.message = message.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }

    public var description: String { "\(file): \(message)" }
}
