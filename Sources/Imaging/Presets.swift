// Family preprocessing presets: the exact evaluation pipelines of the upstream code bases.
//
// rt-vqvae  (Table 1, cfifty/rotation_trick `src/data/imagenet_dataset.py`, `src/reconstruction_fid.py`):
//     torchvision `CenterCrop((256, 256))` on the PIL image (no resize; images smaller than 256 are padded with
//     black), `ToTensor()`, `Normalize(mean=[0.4815, 0.4578, 0.4082], std=[0.2686, 0.2613, 0.2758])` (float32).
//     Outputs (and the reference originals, which the script also passes through the same mapping):
//     `x * std + mean` with float64 numpy constants, `* 255`, `astype(np.uint8)` (truncation). numpy wraps
//     out-of-range values; vqrt clamps by default ("rt-vqvae"), "rt-vqvae-numpy" wraps like numpy.
// ldm-vqgan (Table 3, rotation_trick `exp_weights_and_configs/table_3/*/config.yaml` → taming
//     `taming.data.imagenet.ImageNetValidation` with `size: 256` → `taming/data/base.py` `ImagePaths`):
//     PIL decode, `convert("RGB")`, albumentations `SmallestMaxSize(max_size=256)` (cv2.INTER_LINEAR) and
//     `CenterCrop(256, 256)`, then `(image / 127.5 - 1.0).astype(np.float32)`. Outputs:
//     `((x + 1) * 127.5).clamp(0, 255).to(torch.uint8)` (latent-diffusion `scripts/sample_diffusion.py`).
// vit-vqgan (Table 4, rotation_trick `exp_weights_and_configs/table_4/config.yaml` → enhancing-transformers
//     `enhancing/dataloader/imagenet.py` `ImageNetValidation(resolution=256)`): torchvision
//     `Resize((256, 256))` (PIL bilinear, aspect ratio not kept), `CenterCrop((256, 256))` (a no-op), `ToTensor()`.
//     Outputs: `clamp(0, 1)`, `(x * 255).astype(np.uint8)` (enhancing `utils/callback.py`).
//     "vit-vqgan-colab": the author's notebook variant, shorter side to 256 with LANCZOS, then center crop.
// llamagen-vq (FoundationVision/LlamaGen `tokenizer/tokenizer_image/reconstruction_vq_ddp.py` and
//     `tokenizer/validation/val_ddp.py`): `center_crop_arr` (ADM: PIL BOX halvings while the shorter side is at
//     least twice the size, PIL BICUBIC to `round(side * size / shorter)`, crop at floor((side - size) / 2)),
//     `ToTensor()`, `Normalize([0.5]*3, [0.5]*3)` (float32). Outputs: `torch.clamp(127.5 * x + 128.0, 0, 255)`,
//     `.to(torch.uint8)` (truncation). val_ddp.py writes its reference images through the same mapping, which
//     gives back the prepared pixels exactly.
// maskgit-vqgan (bytedance/1d-tokenizer `data/webdataset_reader.py` `ImageTransform.eval_transform` with the
//     configs' defaults): torchvision `Resize(256, interpolation=BICUBIC, antialias=True)` on the PIL image
//     (shorter side, Pillow bicubic), `CenterCrop(256)`, `ToTensor()`, `Normalize([0]*3, [1]*3)` (an exact
//     identity): input [0, 1]. Outputs (`utils/train_utils.py` `eval_reconstruction`): `torch.clamp(x, 0, 1)`,
//     `torch.round(x * 255)` (halves to even), not truncated.
// open-magvit2 (TencentARC/SEED-Voken `evaluation_image.py` with `--image_size 256` → the config's
//     `src.Open_MAGVIT2.data.imagenet.ImageNetValidation` → `src/Open_MAGVIT2/data/base.py` `ImagePaths`): PIL decode,
//     `convert("RGB")`, torchvision `Resize(256)` (shorter side, PIL bilinear) and `CenterCrop((256, 256))`, then
//     `(image / 127.5 - 1.0).astype(np.float32)`. Outputs (evaluation_image.py): `clamp(-1, 1)`, `(x + 1) / 2`,
//     `(x * 255.0).to(torch.uint8)`, the same bytes as `((x + 1) * 127.5).clamp(0, 255)` (halving is exact).
//     Their PSNR/SSIM compare against the input taken through the same round trip (`images` → `(images + 1) / 2`
//     → `* 255` → uint8), which loses one level on 95 of the 256 byte values: the originals here do the same.
// ibq (the same script → `src.IBQ.data.imagenet.ImageNetValidation` → `src/IBQ/data/base.py` `ImagePaths`):
//     albumentations 1.4.4 `SmallestMaxSize(256)` (cv2 INTER_LINEAR, sides rounded half to even) and
//     `CenterCrop(256, 256)` (offset (h − 256) // 2) on the uint8 array, i.e. the ldm-vqgan geometry, then
//     `(image / 127.5 - 1.0).astype(np.float32)`. Outputs and originals as open-magvit2.
// inception (pytorch-fid 0.3.0 `ImagePathDataset` + `InceptionV3.forward`): `ToTensor()`, then
//     `F.interpolate(size=(299, 299), mode="bilinear", align_corners=False)`, then `2 * x - 1`.
// inception-torch-fidelity (torch-fidelity 0.4.0 `ImagesPathDataset` + `FeatureExtractorInceptionV3.forward`, also
//     behind torchmetrics' FID/KID and the bytedance 1d-tokenizer evaluator): the uint8 image as float32 [0, 255],
//     TF1-style bilinear resize to 299 (`TensorFlowResize`), then `(x - 128) / 128`.
//
// A preset name may carry a resolution: "ldm-vqgan@512" uses 512 wherever the preset uses 256.

/// The bilinear resize of a preset's tensor step.
public enum TensorResizeMethod: Sendable, Equatable {
    /// `F.interpolate(mode="bilinear", align_corners=False)` (`Interpolate`).
    case pytorch
    /// TensorFlow 1.x `resize_bilinear` as torch-fidelity reimplements it (`TensorFlowResize`).
    case tensorflow1
}

public struct Preset: Sendable, Equatable {
    public enum Geometry: Sendable, Equatable {
        /// Keep the decoded image as it is.
        case none
        /// torchvision `CenterCrop(size)` on a PIL image (pads with black where the image is smaller).
        case centerCrop(size: Int)
        /// torchvision `Resize((size, size))` (PIL resampling) then `CenterCrop(size)`.
        case resizeSquare(size: Int, filter: PILFilter)
        /// torchvision `Resize(size)` (shorter side, PIL resampling) then `CenterCrop(size)`.
        case resizeShorterCenterCrop(size: Int, filter: PILFilter)
        /// albumentations `SmallestMaxSize(size)` (cv2 INTER_LINEAR) then `CenterCrop(size, size)`.
        case smallestMaxSizeCenterCrop(size: Int)
        /// ADM's `center_crop_arr(image, size)` (PIL BOX halvings, PIL BICUBIC, floor-offset crop).
        case admCenterCrop(size: Int)
    }

    public var name: String
    public var geometry: Geometry
    public var input: InputScaling
    /// If set: `F.interpolate` (bilinear, align_corners=False, ATen's CPU kernel choice) to this square size,
    /// applied to the scaled tensor, followed by `x * affineScale + affineOffset` (pytorch-fid's `2 * x - 1`).
    public var tensorResize: Int?
    /// Which bilinear resize `tensorResize` means.
    public var tensorResizeMethod: TensorResizeMethod = .pytorch
    public var affineScale: Float = 1
    public var affineOffset: Float = 0
    public var output: OutputMapping
    /// Whether the reference "originals" are the preprocessed input mapped back through `output` (rotation_trick's
    /// `reconstruction_fid.py` does this) rather than the cropped/resized 8-bit pixels.
    public var originalsViaRoundTrip: Bool = false

    public static let rtMean: [Float] = [0.4815, 0.4578, 0.4082]
    public static let rtStd: [Float] = [0.2686, 0.2613, 0.2758]
    /// The same constants as Python floats (float64), as numpy uses them in the output mapping.
    public static let rtMean64: [Double] = [0.4815, 0.4578, 0.4082]
    public static let rtStd64: [Double] = [0.2686, 0.2613, 0.2758]

    public static func rtVQVAE(resolution: Int = 256, numpyWrap: Bool = false) -> Preset {
        Preset(name: numpyWrap ? "rt-vqvae-numpy" : "rt-vqvae", geometry: .centerCrop(size: resolution),
               input: .normalized(mean: rtMean, std: rtStd), tensorResize: nil,
               output: .unnormalize(mean: rtMean64, std: rtStd64, wrap: numpyWrap), originalsViaRoundTrip: true)
    }

    public static func ldmVQGAN(resolution: Int = 256) -> Preset {
        Preset(name: "ldm-vqgan", geometry: .smallestMaxSizeCenterCrop(size: resolution), input: .symmetric,
               tensorResize: nil, output: .symmetric)
    }

    /// taming-transformers' own `ImagePaths` (the data code latent-diffusion copied): the ldm-vqgan pipeline under
    /// the taming-vqgan family's name.
    public static func tamingVQGAN(resolution: Int = 256) -> Preset {
        var p = ldmVQGAN(resolution: resolution)
        p.name = "taming-vqgan"
        return p
    }

    public static func vitVQGAN(resolution: Int = 256) -> Preset {
        Preset(name: "vit-vqgan", geometry: .resizeSquare(size: resolution, filter: .bilinear), input: .unit,
               tensorResize: nil, output: .unit)
    }

    public static func vitVQGANColab(resolution: Int = 256) -> Preset {
        Preset(name: "vit-vqgan-colab", geometry: .resizeShorterCenterCrop(size: resolution, filter: .lanczos),
               input: .unit, tensorResize: nil, output: .unit)
    }

    public static func llamagenVQ(resolution: Int = 256) -> Preset {
        Preset(name: "llamagen-vq", geometry: .admCenterCrop(size: resolution),
               input: .normalized(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]), tensorResize: nil,
               output: .symmetricOffset128, originalsViaRoundTrip: true)
    }

    public static func maskgitVQGAN(resolution: Int = 256) -> Preset {
        Preset(name: "maskgit-vqgan", geometry: .resizeShorterCenterCrop(size: resolution, filter: .bicubic),
               input: .unit, tensorResize: nil, output: .unitRounded)
    }

    public static func openMAGVIT2(resolution: Int = 256) -> Preset {
        Preset(name: "open-magvit2", geometry: .resizeShorterCenterCrop(size: resolution, filter: .bilinear),
               input: .symmetric, tensorResize: nil, output: .symmetric, originalsViaRoundTrip: true)
    }

    public static func ibq(resolution: Int = 256) -> Preset {
        Preset(name: "ibq", geometry: .smallestMaxSizeCenterCrop(size: resolution), input: .symmetric,
               tensorResize: nil, output: .symmetric, originalsViaRoundTrip: true)
    }

    public static func inception(resolution: Int = 299) -> Preset {
        Preset(name: "inception", geometry: .none, input: .unit, tensorResize: resolution,
               affineScale: 2, affineOffset: -1, output: .unit)
    }

    /// torch-fidelity's Inception input: bytes as float32, TF1 bilinear resize, `(x - 128) / 128`, computed as
    /// `x * (1/128) - 1`, which rounds identically (scaling by a power of two is exact).
    public static func inceptionTorchFidelity(resolution: Int = 299) -> Preset {
        Preset(name: "inception-torch-fidelity", geometry: .none, input: .byte, tensorResize: resolution,
               tensorResizeMethod: .tensorflow1, affineScale: 1.0 / 128, affineOffset: -1, output: .unit)
    }

    /// Names accepted by `named(_:)`.
    public static let names = ["rt-vqvae", "rt-vqvae-numpy", "ldm-vqgan", "vit-vqgan", "vit-vqgan-colab", "llamagen-vq",
                               "maskgit-vqgan", "open-magvit2", "ibq", "taming-vqgan", "inception", "inception-torch-fidelity"]

    /// A preset by name, optionally with "@resolution" ("vit-vqgan@128"). Nil for unknown names / bad sizes.
    public static func named(_ spec: String) -> Preset? {
        let parts = spec.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return nil }
        var res: Int? = nil
        if parts.count == 2 {
            guard let r = Int(parts[1]), r > 0, r <= 16384 else { return nil }
            res = r
        }
        switch parts[0] {
        case "rt-vqvae": return rtVQVAE(resolution: res ?? 256)
        case "rt-vqvae-numpy": return rtVQVAE(resolution: res ?? 256, numpyWrap: true)
        case "ldm-vqgan": return ldmVQGAN(resolution: res ?? 256)
        case "vit-vqgan": return vitVQGAN(resolution: res ?? 256)
        case "vit-vqgan-colab": return vitVQGANColab(resolution: res ?? 256)
        case "llamagen-vq": return llamagenVQ(resolution: res ?? 256)
        case "maskgit-vqgan": return maskgitVQGAN(resolution: res ?? 256)
        case "open-magvit2": return openMAGVIT2(resolution: res ?? 256)
        case "ibq": return ibq(resolution: res ?? 256)
        case "taming-vqgan": return tamingVQGAN(resolution: res ?? 256)
        case "inception": return inception(resolution: res ?? 299)
        case "inception-torch-fidelity": return inceptionTorchFidelity(resolution: res ?? 299)
        default: return nil
        }
    }

    /// (height, width) of `tensor(_:)`'s planes, or nil when it follows the input size.
    public var tensorSize: (height: Int, width: Int)? {
        if let r = tensorResize { return (r, r) }
        switch geometry {
        case .none: return nil
        case .centerCrop(let s), .resizeSquare(let s, _), .resizeShorterCenterCrop(let s, _),
             .smallestMaxSizeCenterCrop(let s), .admCenterCrop(let s): return (s, s)
        }
    }

    /// The crop / resize step on 8-bit pixels.
    public func prepare(_ image: RGBImage) throws -> RGBImage {
        switch geometry {
        case .none:
            return image
        case .centerCrop(let s):
            return try TorchvisionTransforms.centerCrop(image, width: s, height: s)
        case .resizeSquare(let s, let f):
            let r = try TorchvisionTransforms.resize(image, width: s, height: s, filter: f)
            return try TorchvisionTransforms.centerCrop(r, width: s, height: s)
        case .resizeShorterCenterCrop(let s, let f):
            let r = try TorchvisionTransforms.resizeShorterSide(image, to: s, filter: f)
            return try TorchvisionTransforms.centerCrop(r, width: s, height: s)
        case .smallestMaxSizeCenterCrop(let s):
            let r = try Albumentations.smallestMaxSize(image, maxSize: s)
            return try Albumentations.centerCrop(r, width: s, height: s)
        case .admCenterCrop(let s):
            return try ADMTransforms.centerCropArr(image, imageSize: s)
        }
    }

    /// The model input for one image: float32 CHW, `3 x H x W` (H, W from `tensorSize`, or the image's).
    public func tensor(_ image: RGBImage) throws -> [Float] {
        try run(image).tensor
    }

    /// Geometry, scaling and tensor resize; also returns the plane size and the prepared 8-bit image.
    func run(_ image: RGBImage) throws -> (tensor: [Float], height: Int, width: Int, prepared: RGBImage) {
        let p = try prepare(image)
        var x = TensorConversion.chw(p, scaling: input)
        guard let r = tensorResize else { return (x, p.height, p.width, p) }
        switch tensorResizeMethod {
        case .pytorch:
            x = try Interpolate.bilinear(x, channels: 3, inHeight: p.height, inWidth: p.width, outHeight: r, outWidth: r)
        case .tensorflow1:
            x = try TensorFlowResize.bilinear(x, channels: 3, inHeight: p.height, inWidth: p.width, outHeight: r, outWidth: r)
        }
        if affineScale != 1 || affineOffset != 0 {
            // Two roundings (no FMA), as `2 * x - 1` in PyTorch.
            let a = affineScale, b = affineOffset
            for i in x.indices { let t = x[i] * a; x[i] = t + b }
        }
        return (x, r, r, p)
    }

    /// Model output (float32 CHW) to 8-bit pixels.
    public func pixels(chw: [Float], width: Int, height: Int) throws -> RGBImage {
        try TensorConversion.pixels(chw: chw, width: width, height: height, mapping: output)
    }

    /// The reference image for reconstruction metrics: the preprocessed input as 8-bit pixels.
    public func originals(_ image: RGBImage) throws -> RGBImage {
        try originals(prepared: prepare(image))
    }

    func originals(prepared p: RGBImage) throws -> RGBImage {
        guard originalsViaRoundTrip else { return p }
        return try pixels(chw: TensorConversion.chw(p, scaling: input), width: p.width, height: p.height)
    }
}
