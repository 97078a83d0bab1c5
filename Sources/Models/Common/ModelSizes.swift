// What input sizes a model takes and how much memory an image needs, known before any compute: the pipeline
// checks sizes taken from input files (code grids, preset sizes) against them and refuses what cannot work or
// cannot fit with a one-line error instead of failing deep inside a kernel or an allocation.

import NN

extension TamingConfig {
    /// Spatial reduction of the encoder (one stride-2 downsampling between consecutive levels).
    public var downsampling: Int { 1 << (chMult.count - 1) }

    /// Sides must be whole multiples of the downsampling factor: the encoder's stride-2 convolutions would
    /// otherwise drop pixels and the decoder return a smaller image than it was given.
    public func checkInputSize(height: Int, width: Int, family: String) throws {
        let f = downsampling
        guard height >= f, width >= f, height % f == 0, width % f == 0 else {
            throw ModelError.badInput("\(family) takes images whose sides are multiples of \(f) (its downsampling factor), not \(width)x\(height)")
        }
    }

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
