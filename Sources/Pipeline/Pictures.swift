// Pictures of originals over reconstructions: the demo's side-by-side picture and eval's worst / best / random
// picture, whose columns carry a caption (group and PSNR) drawn with a small bitmap font.

import Foundation
import Imaging
import Metrics
import Models

public enum SideBySide {
    /// `top` images over `bottom` images, column by column, on white with 4-pixel gutters; `captions` (one per
    /// column, optional; lines separated by "\n") are drawn above each column.
    public static func make(top: [RGBImage], bottom: [RGBImage], captions: [String]? = nil, gutter: Int = 4) throws -> RGBImage {
        let cellW = (top + bottom).map(\.width).max() ?? 0, cellH = (top + bottom).map(\.height).max() ?? 0
        let cols = max(top.count, bottom.count)
        let scale = max(1, min(3, cellW / 80))
        let lines = captions?.map { $0.split(separator: "\n").count }.max() ?? 0
        let captionH = captions == nil ? 0 : lines * (Caption.height + 2) * scale + 2 * gutter
        let width = cols * cellW + (cols + 1) * gutter, height = captionH + 2 * cellH + 3 * gutter
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        for (row, images) in [top, bottom].enumerated() {
            for (col, img) in images.enumerated() {
                let x0 = gutter + col * (cellW + gutter), y0 = captionH + gutter + row * (cellH + gutter)
                for y in 0..<img.height {
                    let src = y * img.width * 3, dst = ((y0 + y) * width + x0) * 3
                    pixels.replaceSubrange(dst..<(dst + img.width * 3), with: img.pixels[src..<(src + img.width * 3)])
                }
            }
        }
        for (col, text) in (captions ?? []).enumerated() {
            for (row, line) in text.split(separator: "\n").enumerated() {
                Caption.draw(String(line), into: &pixels, width: width, x: gutter + col * (cellW + gutter),
                             y: gutter + row * (Caption.height + 2) * scale, scale: scale, maxWidth: cellW)
            }
        }
        return try RGBImage(width: width, height: height, pixels: pixels)
    }
}

/// Upper-case captions in a 5x7 pixel font (the letters and digits the pictures need).
enum Caption {
    static let height = 7

    static func draw(_ text: String, into pixels: inout [UInt8], width: Int, x: Int, y: Int, scale: Int, maxWidth: Int) {
        var cx = x
        for ch in text.uppercased() {
            guard let rows = glyphs[ch] else { continue }
            if cx + 5 * scale > x + maxWidth { break }
            for (r, bits) in rows.enumerated() {
                for c in 0..<5 where bits & (1 << (4 - c)) != 0 {
                    for dy in 0..<scale {
                        for dx in 0..<scale {
                            let p = ((y + r * scale + dy) * width + cx + c * scale + dx) * 3
                            if p >= 0 && p + 2 < pixels.count { pixels[p] = 0; pixels[p + 1] = 0; pixels[p + 2] = 0 }
                        }
                    }
                }
            }
            cx += 6 * scale
        }
    }

    static let glyphs: [Character: [UInt8]] = [
        " ": [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000],
        "-": [0b00000, 0b00000, 0b00000, 0b11111, 0b00000, 0b00000, 0b00000],
        ".": [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b01100],
        "0": [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110],
        "1": [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
        "2": [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111],
        "3": [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110],
        "4": [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010],
        "5": [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110],
        "6": [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110],
        "7": [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000],
        "8": [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110],
        "9": [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100],
        "A": [0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001],
        "B": [0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110],
        "C": [0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110],
        "D": [0b11110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11110],
        "E": [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111],
        "F": [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000],
        "I": [0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
        "M": [0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001],
        "N": [0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001, 0b10001],
        "O": [0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110],
        "P": [0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000],
        "R": [0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001],
        "S": [0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110],
        "T": [0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100],
        "W": [0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010],    ]
}

/// eval's picture: the images with the lowest and highest PSNR and a few chosen at random (fixed seed).
public enum EvalPicture {
    public static let fileName = "worst_best_random.png"
    public static let worst = 3, best = 3, random = 3

    /// The chosen positions (into the run's images) with their captions.
    static func choose(_ psnr: [Double]) -> [(index: Int, caption: String)] {
        let order = psnr.indices.sorted { psnr[$0] < psnr[$1] || (psnr[$0] == psnr[$1] && $0 < $1) }
        var chosen: [(Int, String)] = order.prefix(worst).map { ($0, "worst") }
        for i in order.suffix(best).reversed() where !chosen.contains(where: { $0.0 == i }) { chosen.append((i, "best")) }
        for pick in randomPicks(count: order.count) where chosen.count < min(order.count, worst + best + random) {
            if !chosen.contains(where: { $0.0 == pick }) { chosen.append((pick, "random")) }
        }
        return chosen.map { i, group in
            let p = psnr[i]
            return (i, "\(group)\n" + (p.isFinite ? String(format: "PSNR %.2f dB", p) : "PSNR inf"))
        }
    }

    /// The seeded draws `choose` takes its random images from, in order (64 at most, as `choose` tries).
    static func randomPicks(count: Int) -> [Int] {
        guard count > 0 else { return [] }
        var rng = UInt64(0x5EED)
        return (0..<64).map { _ in
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Int(rng >> 33) % count
        }
    }

    /// Writes the picture. `eval`: the chosen images from `held` where the run kept them (the same bits: a
    /// reconstruction does not depend on its batch), the others (a resumed run's earlier images, a merge) read and
    /// reconstructed again. `compare`: both files of each chosen pair are read.
    static func write(_ s: EvalState, dir: String, vq given: LoadedVQ?, held: PictureCandidates? = nil) throws {
        let chosen = choose(s.perImagePSNR)
        let originals: [RGBImage], reconstructions: [RGBImage]
        if let m = s.meta.identity.model {
            let missing = chosen.map(\.index).filter { held?.pair($0) == nil }
            var recomputed: [Int: (original: RGBImage, reconstruction: RGBImage)] = [:]
            if !missing.isEmpty {
                let vq: LoadedVQ
                if let given {
                    vq = given
                } else {
                    // The same arithmetic as the run (merge runs in a fresh process).
                    let execution = ExecutionSettings.parse(algorithm: m.convAlgorithm, precision: m.precision)
                    vq = try ModelSource(checkpoint: m.checkpoint, config: m.config, family: ModelFamily(rawValue: m.family),
                                         preprocess: m.preset, execution: execution).load()
                }
                let batch = BatchLoader.load(paths: missing.map { s.files[$0] }, preset: vq.preset, keepOriginals: true)
                guard batch.failures.isEmpty, let o = batch.originals else { throw PipelineError("the images are no longer readable") }
                let (_, output) = try VQRunner(vq).reconstruct(batch)
                for (k, index) in missing.enumerated() {
                    recomputed[index] = (o[k], try output.image(k, preset: vq.preset))
                }
            }
            let pairs = chosen.map { held?.pair($0.index) ?? recomputed[$0.index]! }
            originals = pairs.map(\.original)
            reconstructions = pairs.map(\.reconstruction)
        } else {
            let indices = chosen.map(\.index)
            let batch = try PairReader.load(a: indices.map { s.files[$0] }, b: indices.map { s.reconstructionFiles[$0] },
                                            range: 0..<indices.count, threads: 0)
            originals = batch.a
            reconstructions = batch.b
        }
        let picture = try SideBySide.make(top: originals, bottom: reconstructions, captions: chosen.map(\.caption))
        try naming(fileName) { try ImageEncoder.writePNG(picture, to: (dir as NSString).appendingPathComponent(fileName)) }
    }
}
