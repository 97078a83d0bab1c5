// PNG and JPEG decoding to 8-bit RGB, reproducing PIL's `Image.open(path).convert("RGB")` sample for sample.
//
// PIL rules reproduced here (each checked against Pillow 13 by the fixtures in Fixtures/imaging/decode/):
// - PNG ancillary colour chunks (gAMA, cHRM, iCCP, sRGB, sBIT) are ignored: raw samples are used.
// - Gray 1/2/4-bit: scaled by 255, 85, 17 (PIL's "1", "L;2", "L;4" unpackers). Gray 16-bit opens as "I;16" and
//   converts to RGB by clamping the 16-bit value to 255 (not by taking the high byte).
// - RGB / RGBA / gray+alpha 16-bit: the high byte of each sample (PIL's ";16B" unpackers).
// - Alpha is dropped (no compositing); tRNS is ignored; palette indices past the end of PLTE give black.
// - JPEG: libjpeg defaults (ISLOW IDCT, fancy upsampling); CMYK/YCCK files are read as Adobe-inverted CMYK
//   ("CMYK;I") and converted with PIL's integer cmyk2rgb formula.

import CImageShim
import Foundation

public enum ImageFormat: String, Sendable {
    case png, jpeg
}

public enum ImageDecoder {
    /// Default cap on width × height (2^28 pixels, 768 MiB of RGB): larger images are refused before allocation.
    public static let defaultMaxPixels = 1 << 28
    /// Progressive JPEGs with more scans than this are refused (a known CPU bomb; real files have < 100).
    public static let maxJPEGScans = 1000

    /// The format named by the file's first bytes (not its extension, as PIL does), or nil.
    public static func sniff(_ bytes: [UInt8]) -> ImageFormat? {
        if bytes.count >= 8 && bytes[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF { return .jpeg }
        return nil
    }

    /// Reads and decodes an image file. Errors name `path`.
    public static func decode(path: String, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        try decode(bytes: try readFile(path), name: path, maxPixels: maxPixels)
    }

    /// Decodes PNG or JPEG bytes; `name` is used in error messages.
    public static func decode(data: Data, name: String = "<memory>", maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        try decode(bytes: [UInt8](data), name: name, maxPixels: maxPixels)
    }

    public static func decode(bytes: [UInt8], name: String = "<memory>", maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        guard let format = sniff(bytes) else {
            throw ImagingError(.unsupported, file: name, bytes.isEmpty ? "empty file" : "not a PNG or JPEG file")
        }
        var raw = vqrt_raw_image()
        var msg = [CChar](repeating: 0, count: 320)
        let cap = UInt64(max(0, maxPixels))
        let status: Int32 = bytes.withUnsafeBufferPointer { b in
            switch format {
            case .png: return vqrt_png_decode(b.baseAddress, b.count, cap, &raw, &msg, msg.count)
            case .jpeg: return vqrt_jpeg_decode(b.baseAddress, b.count, cap, Int32(maxJPEGScans), &raw, &msg, msg.count)
            }
        }
        defer { vqrt_free(raw.samples) }
        let message = String(cString: msg)
        let what = format == .png ? "PNG" : "JPEG"
        switch Int(status) {
        case VQRT_OK: break
        case VQRT_ERR_TRUNCATED: throw ImagingError(.truncated, file: name, message)
        case VQRT_ERR_TOO_LARGE: throw ImagingError(.tooLarge, file: name, message)
        case VQRT_ERR_MEMORY: throw ImagingError(.tooLarge, file: name, message)
        default: throw ImagingError(.corrupt, file: name, "bad \(what): \(message)")
        }
        guard let samples = raw.samples else { throw ImagingError(.corrupt, file: name, "\(what) decoder returned no data") }
        let w = Int(raw.width), h = Int(raw.height), n = w * h
        let src = UnsafeBufferPointer(start: samples, count: n * Int(raw.channels) * (raw.bit_depth == 16 ? 2 : 1))
        var out = [UInt8](repeating: 0, count: n * 3)
        switch format {
        case .png: try convertPNG(src, raw: raw, pixels: n, into: &out, name: name)
        case .jpeg: try convertJPEG(src, raw: raw, pixels: n, into: &out, name: name)
        }
        return RGBImage(unchecked: w, h, out)
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        guard let fh = FileHandle(forReadingAtPath: path) else {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
                throw ImagingError(.io, file: path, isDir.boolValue ? "is a directory" : "cannot open file (permission denied?)")
            }
            throw ImagingError(.io, file: path, "no such file")
        }
        defer { try? fh.close() }
        do { return [UInt8](try fh.readToEnd() ?? Data()) } catch {
            throw ImagingError(.io, file: path, "read failed: \(error.localizedDescription)")
        }
    }

    // MARK: PIL's conversions

    static func convertPNG(_ s: UnsafeBufferPointer<UInt8>, raw: vqrt_raw_image, pixels n: Int,
                           into out: inout [UInt8], name: String) throws {
        let depth = Int(raw.bit_depth), ch = Int(raw.channels)
        out.withUnsafeMutableBufferPointer { o in
            switch (Int(raw.color_type), depth) {
            case (0, 16):
                // "I;16" → RGB: clamp to 255.
                for i in 0..<n {
                    let v = Int(s[2 * i]) << 8 | Int(s[2 * i + 1])
                    let g = UInt8(min(v, 255))
                    o[3 * i] = g; o[3 * i + 1] = g; o[3 * i + 2] = g
                }
            case (0, _):
                let scale: UInt8 = depth == 1 ? 255 : depth == 2 ? 85 : depth == 4 ? 17 : 1
                for i in 0..<n {
                    let g = s[i] &* scale
                    o[3 * i] = g; o[3 * i + 1] = g; o[3 * i + 2] = g
                }
            case (3, _):
                // Palette: PIL's palette holds the PLTE entries; indices past its end read as black.
                let pal = withUnsafeBytes(of: raw.palette) { Array($0) }
                let count = Int(raw.palette_size)
                for i in 0..<n {
                    let k = Int(s[i])
                    if k < count {
                        o[3 * i] = pal[3 * k]; o[3 * i + 1] = pal[3 * k + 1]; o[3 * i + 2] = pal[3 * k + 2]
                    }
                }
            case (4, _), (2, _), (6, _):
                // Gray+alpha, RGB, RGBA: first sample(s), alpha dropped; 16-bit → high byte.
                let bps = depth == 16 ? 2 : 1
                let stride = ch * bps
                let gray = raw.color_type == 4
                for i in 0..<n {
                    let p = i * stride
                    if gray {
                        let g = s[p]
                        o[3 * i] = g; o[3 * i + 1] = g; o[3 * i + 2] = g
                    } else {
                        o[3 * i] = s[p]; o[3 * i + 1] = s[p + bps]; o[3 * i + 2] = s[p + 2 * bps]
                    }
                }
            default:
                break
            }
        }
        guard [0, 2, 3, 4, 6].contains(Int(raw.color_type)) else {
            throw ImagingError(.unsupported, file: name, "unsupported PNG colour type \(raw.color_type)")
        }
    }

    static func convertJPEG(_ s: UnsafeBufferPointer<UInt8>, raw: vqrt_raw_image, pixels n: Int,
                            into out: inout [UInt8], name: String) throws {
        switch raw.channels {
        case 1:
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<n { let g = s[i]; o[3 * i] = g; o[3 * i + 1] = g; o[3 * i + 2] = g }
            }
        case 3:
            out.withUnsafeMutableBufferPointer { o in for i in 0..<(3 * n) { o[i] = s[i] } }
        case 4:
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<n {
                    // PIL reads 4-component JPEGs as "CMYK;I" (Adobe's inverted convention): c = 255 - stored.
                    let k = 255 - Int(s[4 * i + 3])
                    let nk = 255 - k
                    for c in 0..<3 {
                        let v = 255 - Int(s[4 * i + c])
                        o[3 * i + c] = cmykChannel(v, nk)
                    }
                }
            }
        default:
            throw ImagingError(.unsupported, file: name, "unsupported JPEG with \(raw.channels) components")
        }
    }

    /// PIL `cmyk2rgb`: `clip8(nk - MULDIV255(v, nk))` with `MULDIV255(a, b) = ((a*b+128) >> 8 + (a*b+128)) >> 8`.
    @inline(__always) static func cmykChannel(_ v: Int, _ nk: Int) -> UInt8 {
        let t = v * nk + 128
        let m = ((t >> 8) + t) >> 8
        return UInt8(clamping: nk - m)
    }
}
