// torchvision.transforms on PIL images (torchvision 0.29 `transforms.functional`, PIL backend): Resize and
// CenterCrop, with torchvision's size arithmetic. The resampling itself is Pillow's (PILResize).

public enum TorchvisionTransforms {
    /// `Resize(size)` with an int: the shorter side becomes `size`, the longer `int(size * long / short)`
    /// (truncated, as torchvision's `_compute_resized_output_size` does); PIL resampling with `filter`.
    public static func resizeShorterSide(_ image: RGBImage, to size: Int, filter: PILFilter = .bilinear) throws -> RGBImage {
        let (w, h) = shorterSideSize(width: image.width, height: image.height, size: size)
        if w == image.width && h == image.height { return image }
        return try PILResize.resize(image, width: w, height: h, filter: filter)
    }

    /// Output (width, height) of `Resize(size)` for an int `size`.
    public static func shorterSideSize(width w: Int, height h: Int, size: Int) -> (width: Int, height: Int) {
        let (short, long) = w <= h ? (w, h) : (h, w)
        guard short > 0 else { return (w, h) }
        // Python: int(size * long / short) — float multiply then true division, truncated.
        let newLong = Int((Double(size * long) / Double(short)).rounded(.towardZero))
        return w <= h ? (size, newLong) : (newLong, size)
    }

    /// `Resize((height, width))`: both sides given (aspect ratio not kept).
    public static func resize(_ image: RGBImage, width: Int, height: Int, filter: PILFilter = .bilinear) throws -> RGBImage {
        try PILResize.resize(image, width: width, height: height, filter: filter)
    }

    /// `CenterCrop((height, width))` on a PIL image: pads with black (fill 0) first where the crop is larger than
    /// the image, then crops at `int(round((size - crop) / 2.0))` (Python's round: halves to even).
    public static func centerCrop(_ image: RGBImage, width cw: Int, height chh: Int) throws -> RGBImage {
        guard cw > 0, chh > 0 else {
            throw ImagingError(.invalidArgument, file: "<memory>", "crop size \(cw)x\(chh)")
        }
        var img = image
        if cw > img.width || chh > img.height {
            let left = cw > img.width ? (cw - img.width) / 2 : 0
            let top = chh > img.height ? (chh - img.height) / 2 : 0
            let right = cw > img.width ? (cw - img.width + 1) / 2 : 0
            let bottom = chh > img.height ? (chh - img.height + 1) / 2 : 0
            img = pad(img, left: left, top: top, right: right, bottom: bottom)
            if img.width == cw && img.height == chh { return img }
        }
        let top = roundHalfEvenHalf(img.height - chh)
        let left = roundHalfEvenHalf(img.width - cw)
        return try crop(img, left: left, top: top, width: cw, height: chh)
    }

    /// `int(round(d / 2.0))` for an integer d >= 0 (ties to even, as Python 3's round).
    static func roundHalfEvenHalf(_ d: Int) -> Int {
        let k = d / 2
        if d % 2 == 0 { return k }
        return k % 2 == 0 ? k : k + 1
    }

    /// Zero padding (PIL `ImageOps.expand`-style, fill 0).
    public static func pad(_ image: RGBImage, left: Int, top: Int, right: Int, bottom: Int) -> RGBImage {
        let w = image.width + left + right, h = image.height + top + bottom
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<image.height {
            let src = y * image.width * 3
            let dst = ((y + top) * w + left) * 3
            out.replaceSubrange(dst..<(dst + image.width * 3), with: image.pixels[src..<(src + image.width * 3)])
        }
        return RGBImage(unchecked: w, h, out)
    }

    /// A crop fully inside the image.
    public static func crop(_ image: RGBImage, left: Int, top: Int, width: Int, height: Int) throws -> RGBImage {
        guard left >= 0, top >= 0, width > 0, height > 0, left + width <= image.width, top + height <= image.height else {
            throw ImagingError(.invalidArgument, file: "<memory>",
                               "crop \(width)x\(height) at (\(left), \(top)) outside the \(image.width)x\(image.height) image")
        }
        if left == 0 && top == 0 && width == image.width && height == image.height { return image }
        var out = [UInt8]()
        out.reserveCapacity(width * height * 3)
        for y in top..<(top + height) {
            let s = (y * image.width + left) * 3
            out.append(contentsOf: image.pixels[s..<(s + width * 3)])
        }
        return RGBImage(unchecked: width, height, out)
    }
}
