// The ADM (openai/guided-diffusion `image_datasets.py`) centre crop that LlamaGen copies as `center_crop_arr`
// (LlamaGen `dataset/augmentation.py`, `tokenizer/validation/val_ddp.py`; 1d-tokenizer `scripts/pretokenization.py`):
//
//     while min(*pil_image.size) >= 2 * image_size:
//         pil_image = pil_image.resize(tuple(x // 2 for x in pil_image.size), resample=Image.BOX)
//     scale = image_size / min(*pil_image.size)
//     pil_image = pil_image.resize(tuple(round(x * scale) for x in pil_image.size), resample=Image.BICUBIC)
//     crop_y = (arr.shape[0] - image_size) // 2;  crop_x = (arr.shape[1] - image_size) // 2
//
// The resizes are Pillow's (PILResize, bit for bit); `round` is Python's (halves to even) on the float64 product;
// the crop offsets are floor divisions (not torchvision's rounded ones).

public enum ADMTransforms {
    /// `center_crop_arr(pil_image, image_size)`: an `imageSize` x `imageSize` crop.
    public static func centerCropArr(_ image: RGBImage, imageSize: Int) throws -> RGBImage {
        guard imageSize > 0, image.width > 0, image.height > 0 else {
            throw ImagingError(.invalidArgument, file: "<memory>",
                               "cannot centre-crop a \(image.width)x\(image.height) image to \(imageSize)")
        }
        var img = image
        // Each halving needs a side of at least 2 * imageSize >= 2, so both halves stay >= 1.
        while min(img.width, img.height) >= 2 * imageSize {
            img = try PILResize.resize(img, width: img.width / 2, height: img.height / 2, filter: .box)
        }
        let (w, h) = bicubicSize(width: img.width, height: img.height, imageSize: imageSize)
        img = try PILResize.resize(img, width: w, height: h, filter: .bicubic)
        return try TorchvisionTransforms.crop(img, left: (img.width - imageSize) / 2, top: (img.height - imageSize) / 2,
                                              width: imageSize, height: imageSize)
    }

    /// `tuple(round(x * scale) for x in size)` with `scale = image_size / min(size)` (float64, halves to even).
    public static func bicubicSize(width: Int, height: Int, imageSize: Int) -> (width: Int, height: Int) {
        let scale = Double(imageSize) / Double(min(width, height))
        return (Int((Double(width) * scale).rounded(.toNearestOrEven)),
                Int((Double(height) * scale).rounded(.toNearestOrEven)))
    }
}
