// Recognising a LlamaGen tokenizer checkpoint and reading its hyper-parameters (for the loader and `inspect`).
//
// Containers as released: `vq_train.py` saves a `.pt` dict {"model", "optimizer", "discriminator",
// "optimizer_disc", "steps", "args" (an argparse.Namespace), and "ema" when trained with --ema}; the published
// `vq_ds16_c2i.pt` / `vq_ds8_c2i.pt` keep "model". The evaluation scripts (reconstruction_vq_ddp.py, vq_demo.py)
// take "ema", then "model", then "state_dict". `VQModelHF.save_pretrained` writes `model.safetensors` (the bare
// state dict) and a `config.json` holding the ModelArgs fields.
//
// What the weights cannot tell: `codebook_l2_norm` (ModelArgs default True, as in every release and in vq_train's
// arguments); it comes from config.json or the `args` Namespace when they carry it.

import TorchFormats

extension LlamaGenVQ {
    /// Where the evaluation scripts look for the weights, in order.
    public static let stateDictKeys = ["ema", "model", "state_dict"]
    /// State-dict entries that inference never reads: the codebook-usage buffer (`show_usage`).
    public static let unusedKeys = ["quantize.codebook_used"]

    /// LlamaGen's key layout: taming-style blocks under `conv_blocks.{i}.res.{j}`, plus quant_conv and the codebook.
    public static func matches(_ sd: StateDict) -> Bool {
        ["encoder.conv_blocks.0.res.0.conv1.weight", "decoder.conv_blocks.0.res.0.conv1.weight",
         "quantize.embedding.weight", "quant_conv.weight"].allSatisfy { sd[$0] != nil }
    }

    /// The hyper-parameters the shapes give, refined by `config` (config.json's ModelArgs fields or the checkpoint's
    /// `args` Namespace: `codebook_l2_norm`; the sizes it states must agree with the weights). Errors name the first
    /// missing or mis-shaped key.
    public static func args(from sd: StateDict, config: [String: Any] = [:]) throws -> LlamaGenArgs {
        func shape(_ key: String, rank: Int) throws -> [Int] {
            let s = try ModelLoader.shape(sd, key)
            guard s.count == rank, s.allSatisfy({ $0 > 0 }) else {
                throw ModelError.badConfig("weight '\(key)' has shape \(s), expected \(rank) positive dimensions")
            }
            return s
        }
        var a = LlamaGenArgs()
        let convIn = try shape("encoder.conv_in.weight", rank: 4)
        a.ch = convIn[0]; a.inChannels = convIn[1]
        func multiple(_ key: String) throws -> Int {
            let out = try shape(key, rank: 4)[0]
            guard out % a.ch == 0 else {
                throw ModelError.badConfig("weight '\(key)' has \(out) output channels, not a multiple of ch \(a.ch)")
            }
            return out / a.ch
        }
        a.encoderChMult = []
        while sd["encoder.conv_blocks.\(a.encoderChMult.count).res.0.conv1.weight"] != nil {
            a.encoderChMult.append(try multiple("encoder.conv_blocks.\(a.encoderChMult.count).res.0.conv1.weight"))
        }
        guard !a.encoderChMult.isEmpty else { throw ModelError.badConfig("weight 'encoder.conv_blocks.0.res.0.conv1.weight' is missing") }
        a.numResBlocks = 0
        while sd["encoder.conv_blocks.0.res.\(a.numResBlocks).conv1.weight"] != nil { a.numResBlocks += 1 }
        // The decoder's conv_blocks run from the lowest resolution up: block k is level L-1-k.
        var decoderReversed: [Int] = []
        while sd["decoder.conv_blocks.\(decoderReversed.count).res.0.conv1.weight"] != nil {
            decoderReversed.append(try multiple("decoder.conv_blocks.\(decoderReversed.count).res.0.conv1.weight"))
        }
        guard !decoderReversed.isEmpty else { throw ModelError.badConfig("weight 'decoder.conv_blocks.0.res.0.conv1.weight' is missing") }
        a.decoderChMult = decoderReversed.reversed()
        a.zChannels = try shape("encoder.conv_out.weight", rank: 4)[0]
        a.outChannels = try shape("decoder.conv_out.weight", rank: 4)[0]
        let e = try shape("quantize.embedding.weight", rank: 2)
        a.codebookSize = e[0]; a.codebookEmbedDim = e[1]

        if let l2 = config["codebook_l2_norm"] {
            guard let b = l2 as? Bool else { throw ModelError.badConfig("codebook_l2_norm is \(l2), not a boolean") }
            a.codebookL2Norm = b
        }
        let stated: [(String, Any)] = [("codebook_size", a.codebookSize), ("codebook_embed_dim", a.codebookEmbedDim),
                                       ("z_channels", a.zChannels), ("encoder_ch_mult", a.encoderChMult),
                                       ("decoder_ch_mult", a.decoderChMult)]
        for (key, fromWeights) in stated {
            guard let v = config[key] else { continue }
            if "\(v)" != "\(fromWeights)" {
                throw ModelError.badConfig("the config says \(key) = \(v), the weights \(fromWeights)")
            }
        }
        return a
    }

    public static func summary(_ a: LlamaGenArgs) -> [(String, String)] {
        var s: [(String, String)] = []
        if let n = a.upstreamName { s.append(("vq_model", n)) }
        s += [("ch", "\(a.ch)"), ("encoder_ch_mult", "\(a.encoderChMult)"), ("decoder_ch_mult", "\(a.decoderChMult)"),
              ("num_res_blocks", "\(a.numResBlocks)"), ("z_channels", "\(a.zChannels)"),
              ("codebook_size", "\(a.codebookSize)"), ("codebook_embed_dim", "\(a.codebookEmbedDim)"),
              ("codebook_l2_norm", "\(a.codebookL2Norm)")]
        return s
    }

    /// `summary` as typed values, for `inspect --json`.
    public static func hyperParameters(_ a: LlamaGenArgs) -> [(String, JSONValue)] {
        var s: [(String, JSONValue)] = []
        if let n = a.upstreamName { s.append(("vq_model", .string(n))) }
        func ints(_ v: [Int]) -> JSONValue { .array(v.map { .int(Int64($0)) }) }
        s += [("ch", .int(Int64(a.ch))), ("encoder_ch_mult", ints(a.encoderChMult)), ("decoder_ch_mult", ints(a.decoderChMult)),
              ("num_res_blocks", .int(Int64(a.numResBlocks))), ("z_channels", .int(Int64(a.zChannels))),
              ("codebook_size", .int(Int64(a.codebookSize))), ("codebook_embed_dim", .int(Int64(a.codebookEmbedDim))),
              ("codebook_l2_norm", .bool(a.codebookL2Norm))]
        return s
    }
}
