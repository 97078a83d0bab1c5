// What input sizes a model takes and how much memory an image needs, known before any compute: the pipeline
// checks sizes taken from input files (code grids, preset sizes) against them and refuses what cannot work or
// cannot fit with a one-line error instead of failing deep inside a kernel or an allocation.

import NN

extension TamingConfig {
    /// Spatial reduction of the encoder (one stride-2 downsampling between consecutive levels).
    public var downsampling: Int { 1 << (chMult.count - 1) }

    /// Activations of one image: at each level, a residual block holds about six tensors of its width (input, two
    /// normalised copies, two convolution outputs, the residual sum), the first decoder level and the mid block
    /// run at the widest channel count; attention adds the h·w × h·w scores of one image and its q|k|v.
    public func activationBytes(height: Int, width: Int) -> Int {
        var peak = 0, attention = 0
        for (level, m) in chMult.enumerated() {
            let pixels = (height >> level) * (width >> level)
            let channels = ch * max(m, level > 0 ? chMult[level - 1] : 1)
            peak = max(peak, 6 * channels * pixels * 4)
            let attends = attnType == .vanilla && (attnResolutions.contains(resolution >> level) || level == chMult.count - 1)
            if attends { attention = max(attention, pixels * pixels * 4 + 3 * channels * pixels * 4) }
        }
        // The decoder's last level and the image itself (3 channels in and out).
        peak = max(peak, 6 * ch * chMult[0] * height * width * 4)
        return peak + attention
    }
}

extension ViTVQConfig {
    /// One image's tokens through the widest layer (the MLP), a few copies, plus one image's attention scores.
    public var activationBytes: Int {
        let tokens = grid * grid
        let widest = max(encoder.mlpDim, decoder.mlpDim, 3 * max(encoder.dim, decoder.dim))
        let heads = max(encoder.heads, decoder.heads)
        return 6 * tokens * widest * 4 + heads * tokens * tokens * 4 + 3 * imageSize * imageSize * 4
    }
}

/// A convolutional tokenizer whose encoder halves the image between consecutive levels: the sides must be whole
/// multiples of the factor, and a code grid decodes to the grid times the factor.
public protocol DownsamplingVQModel: VQModel {
    var downsampling: Int { get }
}

extension DownsamplingVQModel {
    public func checkInputSize(height: Int, width: Int) throws {
        let f = downsampling
        guard height >= f, width >= f, height % f == 0, width % f == 0 else {
            throw ModelError.badInput("\(family.rawValue) takes images whose sides are multiples of \(f) (its downsampling factor), not \(width)x\(height)")
        }
    }
    public func codeGrid(height: Int, width: Int) -> (height: Int, width: Int) { (height / downsampling, width / downsampling) }
    public func imageSize(codeHeight: Int, codeWidth: Int) throws -> (height: Int, width: Int) {
        let (h, hOverflow) = codeHeight.multipliedReportingOverflow(by: downsampling)
        let (w, wOverflow) = codeWidth.multipliedReportingOverflow(by: downsampling)
        guard !hOverflow, !wOverflow else { throw ModelError.badCodes("a \(codeHeight)x\(codeWidth) code grid is too large") }
        return (h, w)
    }
}

/// Activations of one image in a pyramid of convolutional levels (the estimate TamingConfig.activationBytes makes):
/// about six tensors of a level's widest channel count at its resolution, the full-resolution level's, and for the
/// levels with self-attention one h·w × h·w score matrix and q|k|v. `widths[l]`: the widest channel count at level l
/// (resolution divided by 2^l). Computed in floating point and saturated, as sizes come from untrusted code grids.
func pyramidActivationBytes(height: Int, width: Int, widths: [Int], attentionLevels: Set<Int>) -> Int {
    var peak = 0.0, attention = 0.0
    for (level, channels) in widths.enumerated() {
        let pixels = Double(height >> level) * Double(width >> level)
        peak = max(peak, 6 * Double(channels) * pixels * 4)
        if attentionLevels.contains(level) { attention = max(attention, pixels * pixels * 4 + 3 * Double(channels) * pixels * 4) }
    }
    let total = peak + attention
    return total >= Double(Int.max) ? Int.max : Int(total)
}

/// Per level, the wider of a level's own channel count and the previous level's (a block's input).
private func levelWidths(_ base: Int, _ mult: [Int]) -> [Int] {
    mult.indices.map { base * max(mult[$0], $0 > 0 ? mult[$0 - 1] : 1) }
}

extension LlamaGenArgs {
    public var downsampling: Int { 1 << (encoderChMult.count - 1) }

    /// Attention follows every block of the lowest-resolution level and sits in the mid blocks.
    public func activationBytes(height: Int, width: Int) -> Int {
        let enc = levelWidths(ch, encoderChMult), dec = levelWidths(ch, decoderChMult)
        let widths = (0..<max(enc.count, dec.count)).map { max($0 < enc.count ? enc[$0] : 0, $0 < dec.count ? dec[$0] : 0) }
        return pyramidActivationBytes(height: height, width: width, widths: widths, attentionLevels: [widths.count - 1])
    }
}

extension MaskGIT.Config {
    public var downsampling: Int { 1 << (channelMult.count - 1) }

    /// No attention anywhere.
    public func activationBytes(height: Int, width: Int) -> Int {
        pyramidActivationBytes(height: height, width: width, widths: levelWidths(hiddenChannels, channelMult), attentionLevels: [])
    }
}

extension OpenMAGVIT2Config {
    public var downsampling: Int { 1 << (chMult.count - 1) }

    /// No attention; the decoder's depth-to-space upsampling holds 4x the channels at the lower resolution, the
    /// same bytes as the level above.
    public func activationBytes(height: Int, width: Int) -> Int {
        pyramidActivationBytes(height: height, width: width, widths: levelWidths(ch, chMult), attentionLevels: [])
    }
}
