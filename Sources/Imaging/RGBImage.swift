// The 8-bit RGB image every decoder produces and every preset consumes.

/// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC): `pixels[(y * width + x) * 3 + c]`.
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    /// Validating initialiser: `pixels.count` must be `width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width >= 0, height >= 0, width.multipliedReportingOverflow(by: height).partialValue * 3 == pixels.count,
              !width.multipliedReportingOverflow(by: height).overflow
        else {
            throw ImagingError(.invalidArgument, file: "<memory>",
                               "\(pixels.count) bytes for a \(width)x\(height) RGB image")
        }
        self.width = width; self.height = height; self.pixels = pixels
    }

    /// A black image.
    public init(width: Int, height: Int) {
        self.width = max(0, width); self.height = max(0, height)
        self.pixels = [UInt8](repeating: 0, count: self.width * self.height * 3)
    }

    init(unchecked width: Int, _ height: Int, _ pixels: [UInt8]) {
        self.width = width; self.height = height; self.pixels = pixels
    }

    public subscript(x: Int, y: Int, c: Int) -> UInt8 { pixels[(y * width + x) * 3 + c] }
}
