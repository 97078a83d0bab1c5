// latent-diffusion `VQModel` (ldm/models/autoencoder.py), also taming's VQGAN:
//   encode: encoder → quant_conv → quantize;   decode: post_quant_conv → decoder.

import Imaging
import NN
import Tensor
import TorchFormats

public final class LDMVQGAN: VQModel {
    public let config: TamingConfig
    public let embedDim: Int
    let encoder: Encoder
    let decoder: Decoder
    let quantize: VectorQuantizer2
    let quantConv: Conv2d
    let postQuantConv: Conv2d

    public init(_ w: Weights, config: TamingConfig, nEmbed: Int, embedDim: Int) throws {
        self.config = config
        self.embedDim = embedDim
        encoder = try Encoder(w.scope("encoder"), config: config)
        decoder = try Decoder(w.scope("decoder"), config: config)
        quantize = try VectorQuantizer2(w.scope("quantize"), nEmbed: nEmbed, embedDim: embedDim)
        quantConv = try Conv2d(w.scope("quant_conv"), inChannels: config.zChannels, outChannels: embedDim, kernelSize: 1)
        postQuantConv = try Conv2d(w.scope("post_quant_conv"), inChannels: embedDim, outChannels: config.zChannels, kernelSize: 1)
    }

    public var family: ModelFamily { .ldmVQGAN }
    public var codebookSize: Int { quantize.nEmbed }
    public var preset: Preset { .ldmVQGAN(resolution: config.resolution) }

    public func encode(_ x: Tensor) throws -> Encoded {
        let h = try quantConv(try encoder(x)).plain()
        let (codes, err) = try quantize.codes(h)
        return Encoded(latents: h, codes: codes, codeShape: [h.shape[0], h.shape[2], h.shape[3]], quantizationError: err)
    }

    public func decode(codes: [Int], shape: [Int]) throws -> Tensor {
        try checkCodes(codes, shape: shape)
        let q = try quantize.entries(codes, n: shape[0], h: shape[1], w: shape[2])
        return try decoder(try postQuantConv(q)).plain()
    }

    public func checkInputSize(height: Int, width: Int) throws {
        try config.checkInputSize(height: height, width: width, family: family.rawValue)
    }
    public func codeGrid(height: Int, width: Int) -> (height: Int, width: Int) {
        (height / config.downsampling, width / config.downsampling)
    }
    public func imageSize(codeHeight: Int, codeWidth: Int) throws -> (height: Int, width: Int) {
        let (h, hOverflow) = codeHeight.multipliedReportingOverflow(by: config.downsampling)
        let (w, wOverflow) = codeWidth.multipliedReportingOverflow(by: config.downsampling)
        guard !hOverflow, !wOverflow else { throw ModelError.badCodes("a \(codeHeight)x\(codeWidth) code grid is too large") }
        return (h, w)
    }
    public func activationBytes(height: Int, width: Int) -> Int { config.activationBytes(height: height, width: width) }
}
