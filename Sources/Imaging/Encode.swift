// 8-bit RGB PNG encoding (libpng, through the C shim), with atomic file writes.

import CImageShim
import Foundation

public enum ImageEncoder {
    /// PNG bytes of `image` (8-bit RGB, not interlaced). `compressionLevel`: zlib level 0-9 (PIL's default is 6).
    public static func encodePNG(_ image: RGBImage, compressionLevel: Int = 6) throws -> [UInt8] {
        guard image.width > 0, image.height > 0, image.width <= Int(UInt32.max), image.height <= Int(UInt32.max) else {
            throw ImagingError(.invalidArgument, file: "<memory>", "cannot encode a \(image.width)x\(image.height) image")
        }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var msg = [CChar](repeating: 0, count: 320)
        let status = image.pixels.withUnsafeBufferPointer { p in
            vqrt_png_encode(p.baseAddress, UInt32(image.width), UInt32(image.height), 3,
                            Int32(max(0, min(9, compressionLevel))), &out, &size, &msg, msg.count)
        }
        defer { vqrt_free(out) }
        guard status == VQRT_OK, let out else {
            throw ImagingError(.invalidArgument, file: "<memory>", "PNG encoding failed: \(String(cString: msg))")
        }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }

    /// Writes `image` as PNG to `path` atomically (temporary file in the same directory, then rename).
    public static func writePNG(_ image: RGBImage, to path: String, compressionLevel: Int = 6) throws {
        let bytes: [UInt8]
        do { bytes = try encodePNG(image, compressionLevel: compressionLevel) } catch let e as ImagingError {
            throw ImagingError(e.kind, file: path, e.message)
        }
        try writeAtomically(bytes, to: path)
    }

    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ImagingError(.io, file: path, "cannot create file: \(String(cString: strerror(errno)))")
        }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        let written: Bool = bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let r = write(fd, buf.baseAddress! + off, buf.count - off)
                if r < 0 { if errno == EINTR { continue }; return false }
                off += r
            }
            return true
        }
        let e = errno
        close(fd)
        guard written else { throw ImagingError(.io, file: path, "write failed: \(String(cString: strerror(e)))") }
        guard rename(tmp, path) == 0 else {
            throw ImagingError(.io, file: path, "rename failed: \(String(cString: strerror(errno)))")
        }
        ok = true
    }
}
