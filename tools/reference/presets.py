"""Preprocessing presets (upstream evaluation pipelines) and the 8-bit output mapping of each family.

    family     resize / crop (evaluation code)                                   input range           output -> uint8
    ldm-vqgan  shorter side -> S (albumentations SmallestMaxSize, bilinear),   x/127.5 - 1 ([-1,1])    floor(clamp((v+1)/2,0,1)*255)
               center crop SxS with top = (h-S)//2 (albumentations)
    rt-vqvae   CenterCrop(256) on the ORIGINAL image (torchvision, no resize;   (x/255 - mean)/std      floor(clamp(v*std+mean,0,1)*255)
               top = round((h-S)/2), zero padding if smaller)                   mean (0.4815,0.4578,0.4082), std (0.2686,0.2613,0.2758)
    vit-vqgan  shorter side -> S, center crop SxS (author's snippet; the val    x/255 ([0,1])           floor(clamp(v,0,1)*255)
               loader instead squashes to SxS)

S = 256 for the released models. All uint8 conversions upstream are `astype(np.uint8)` (truncation), so pixels are
floor(v*255) after clamping (rt_vqvae upstream even omits the clamp; we clamp). Resizing here uses PIL bilinear
(with PIL's antialiasing when shrinking); fixtures store the preprocessed float input (input.npy), so model tests
do not depend on the resampler.
"""
import numpy as np
from PIL import Image

RT_MEAN = np.array([0.4815, 0.4578, 0.4082], dtype=np.float32)
RT_STD = np.array([0.2686, 0.2613, 0.2758], dtype=np.float32)


def load_rgb(path):
    im = Image.open(path)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8)


def resize_shorter(img, size, resample=Image.BILINEAR):
    h, w = img.shape[:2]
    if min(h, w) == size:
        return img
    if h <= w:
        nh, nw = size, int(size * w / h)     # albumentations / torchvision both truncate the long side
    else:
        nh, nw = int(size * h / w), size
    return np.asarray(Image.fromarray(img).resize((nw, nh), resample), dtype=np.uint8)


def center_crop(img, size, rounding="floor"):
    """rounding="floor": albumentations ((h-S)//2); "round": torchvision (int(round((h-S)/2)), banker's rounding).
    Zero-pads (torchvision behaviour) when the image is smaller than the crop."""
    h, w = img.shape[:2]
    if h < size or w < size:
        ph, pw = max(size - h, 0), max(size - w, 0)
        img = np.pad(img, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
        h, w = img.shape[:2]
    if rounding == "floor":
        top, left = (h - size) // 2, (w - size) // 2
    else:
        top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return img[top:top + size, left:left + size]


def crop_for(family, img, size=256):
    """uint8 HWC -> uint8 SxSx3 as the family's evaluation code crops it."""
    if family == "ldm-vqgan":
        return center_crop(resize_shorter(img, size), size, "floor")
    if family == "rt-vqvae":
        return center_crop(img, size, "round")
    if family == "vit-vqgan":
        return center_crop(resize_shorter(img, size), size, "round")
    raise ValueError(family)


def to_input(family, img_u8):
    """uint8 [H,W,3] (already cropped) -> float32 [3,H,W] in the model's input space, with upstream's arithmetic."""
    if family == "ldm-vqgan":
        x = (img_u8 / 127.5 - 1.0).astype(np.float32)            # float64 math, then cast (taming data/base.py)
    elif family == "vit-vqgan":
        x = img_u8.astype(np.float32) / np.float32(255)           # ToTensor: float32 division
    elif family == "rt-vqvae":
        x = (img_u8.astype(np.float32) / np.float32(255) - RT_MEAN) / RT_STD   # ToTensor then Normalize, float32
    else:
        raise ValueError(family)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def to_unit(family, v):
    """Model output [.., 3, H, W] -> nominal [0, 1] (before clamping)."""
    v = np.asarray(v)
    if family == "ldm-vqgan":
        return (v + 1.0) / 2.0
    if family == "vit-vqgan":
        return v
    if family == "rt-vqvae":
        return v * RT_STD.reshape(3, 1, 1).astype(v.dtype) + RT_MEAN.reshape(3, 1, 1).astype(v.dtype)
    raise ValueError(family)


def to_uint8(family, v):
    """Model output -> uint8 pixels: clamp to [0,1], then floor(v*255) (astype(uint8) truncation)."""
    return np.floor(np.clip(to_unit(family, v), 0.0, 1.0) * 255.0).astype(np.uint8)


def psnr_uint8(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))
