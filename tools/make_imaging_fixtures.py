#!/usr/bin/env python3
"""Fixtures for the NPY and Imaging modules (deterministic).

Command line (from the package root):
    .venv-tools/bin/python tools/make_imaging_fixtures.py            # writes Fixtures/imaging/
    .venv-tools/bin/python tools/make_imaging_fixtures.py --only npy  # just Fixtures/imaging/npy/

Fixtures/imaging/decode/: PNG and JPEG files in every variant the decoder handles (PNG written by the small
encoder below so that every colour type / bit depth / interlace / tRNS / palette case exists; JPEG written by Pillow,
plus YCCK and marker-less CMYK files written by a tiny libjpeg program compiled on the fly), with PIL's
`Image.open(p).convert("RGB")` result as `<file>.rgb.npy` (uint8 HxWx3), listed in manifest.json.

Fixtures/imaging/npy/: .npy/.npz files written by numpy (numpy.lib.format.write_array; .npz members packed with
zipfile exactly as np.savez / np.savez_compressed do, but with a fixed timestamp so the bytes are reproducible), and
manifest.json giving each file's dtype, shape and values.
"""
import argparse
import hashlib
import io
import json
import os
import struct
import subprocess
import tempfile
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npformat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Fixtures", "imaging")


def npy_bytes(arr, version=None):
    buf = io.BytesIO()
    npformat.write_array(buf, arr, version=version, allow_pickle=False)
    return buf.getvalue()


def write_npz(path, arrays, compressed):
    # Same member layout as numpy's _savez (zipfile, "<name>.npy", ZIP_DEFLATED for savez_compressed).
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 2, 0, 0, 0))
            info.compress_type = method
            zf.writestr(info, npy_bytes(arr))


def values_json(arr):
    a = np.ascontiguousarray(arr)
    if a.dtype.kind in "US":
        return [str(x) if a.dtype.kind == "U" else x.decode("latin-1") for x in a.reshape(-1)]
    if a.dtype.kind == "f":
        # JSON has no inf/nan: those are written as the strings "inf", "-inf", "nan".
        return [float(x) if np.isfinite(x) else str(float(x)) for x in a.astype(np.float64).reshape(-1)]
    return [int(x) for x in a.reshape(-1)]


def make_npy():
    d = os.path.join(OUT, "npy")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(1234)
    cases = {}

    def add(name, arr, version=None, fortran=False):
        a = np.asfortranarray(arr) if fortran else arr
        with open(os.path.join(d, name + ".npy"), "wb") as f:
            f.write(npy_bytes(a, version))
        cases[name + ".npy"] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "values": values_json(arr),
                                "fortran_order": bool(fortran and arr.ndim > 1), "version": list(version or (1, 0))}

    f32 = rng.standard_normal((2, 3, 4)).astype(np.float32)
    f32.flat[0] = np.float32(1e-40)   # subnormal
    f32.flat[1] = -0.0
    add("f4_2x3x4", f32)
    add("f8_5", rng.standard_normal(5))
    add("i8_3x2", np.array([[0, -1], [2**40, -(2**40)], [7, 9007199254740991]], dtype=np.int64))
    add("i4_4", np.array([1, -2, 2**31 - 1, -(2**31)], dtype=np.int32))
    add("u1_2x2", np.array([[0, 255], [17, 128]], dtype=np.uint8))
    add("b1_5", np.array([True, False, True, True, False]))
    add("i2_3", np.array([-32768, 0, 32767], dtype=np.int16))
    add("u2_3", np.array([0, 1000, 65535], dtype=np.uint16))
    add("f2_6", np.array([0.0, 1.0, -2.5, 65504.0, 6e-8, np.inf], dtype=np.float16))
    add("be_f4_3", np.array([1.5, -2.25, 3.0], dtype=">f4"))
    add("be_f8_2x2", np.array([[1.0, 2.0], [3.0, 4.5]], dtype=">f8"))
    add("be_i8_3", np.array([1, -2, 2**50], dtype=">i8"))
    add("be_i2_2", np.array([-2, 300], dtype=">i2"))
    add("fortran_f4_2x3", np.arange(6, dtype=np.float32).reshape(2, 3), fortran=True)
    add("fortran_i8_2x3x4", np.arange(24, dtype=np.int64).reshape(2, 3, 4), fortran=True)
    add("v2_f4_3", np.array([1.0, 2.0, 3.0], dtype=np.float32), version=(2, 0))
    add("v3_f4_3", np.array([4.0, 5.0, 6.0], dtype=np.float32), version=(3, 0))
    add("scalar_f8", np.array(3.25))
    add("empty_f4_0x3", np.zeros((0, 3), dtype=np.float32))
    add("unicode_3", np.array(["a.png", "dir/é.jpg", ""]))

    mu = rng.standard_normal(8)
    sigma = rng.standard_normal((8, 8))
    sigma = sigma @ sigma.T
    for name, comp in (("stats_compressed", True), ("stats_stored", False)):
        write_npz(os.path.join(d, name + ".npz"), {"mu": mu, "sigma": sigma}, comp)
        cases[name + ".npz"] = {"members": {"mu": {"dtype": "<f8", "shape": [8], "values": values_json(mu)},
                                            "sigma": {"dtype": "<f8", "shape": [8, 8], "values": values_json(sigma)}},
                                "compressed": comp}
    mixed = {"codes": np.arange(6, dtype=np.int64).reshape(1, 2, 3), "feat": f32, "files": np.array(["x.png", "y.png"])}
    write_npz(os.path.join(d, "mixed.npz"), mixed, True)
    cases["mixed.npz"] = {"members": {k: {"dtype": v.dtype.str, "shape": list(v.shape), "values": values_json(v)}
                                      for k, v in mixed.items()}, "compressed": True}

    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump({"numpy": np.__version__, "cases": cases}, f, indent=1, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------------------------------------------------------
# PNG writer (all colour types, bit depths, Adam7) — Pillow cannot write most of these variants.

def _chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def _pack_rows(samples, bitdepth):
    h, w, c = samples.shape
    rows = []
    for y in range(h):
        r = samples[y].reshape(-1)
        if bitdepth == 16:
            rows.append(r.astype(">u2").tobytes())
        elif bitdepth == 8:
            rows.append(r.astype(np.uint8).tobytes())
        else:
            per = 8 // bitdepth
            out = bytearray((len(r) * bitdepth + 7) // 8)
            for i, v in enumerate(r):
                out[i // per] |= int(v) << (8 - bitdepth * (i % per + 1))
            rows.append(bytes(out))
    return rows


def _filtered(row, prev, bpp, ftype):
    # PNG filters 0-4, so the decoder's unfiltering is exercised too.
    out = bytearray(len(row))
    for i in range(len(row)):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i] if prev is not None else 0
        c = prev[i - bpp] if (prev is not None and i >= bpp) else 0
        if ftype == 0:
            pred = 0
        elif ftype == 1:
            pred = a
        elif ftype == 2:
            pred = b
        elif ftype == 3:
            pred = (a + b) // 2
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
        out[i] = (row[i] - pred) & 0xFF
    return bytes([ftype]) + bytes(out)


def png_bytes(samples, color_type, bitdepth, palette=None, trns=None, interlace=False, extra=b""):
    samples = np.asarray(samples)
    if samples.ndim == 2:
        samples = samples[:, :, None]
    h, w, c = samples.shape
    bpp = max(1, c * bitdepth // 8)
    raw = bytearray()
    passes = [(0, 0, 1, 1)] if not interlace else ADAM7
    for (x0, y0, dx, dy) in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        prev = None
        for k, r in enumerate(_pack_rows(sub, bitdepth)):
            raw += _filtered(r, prev, bpp, k % 5)
            prev = r
    out = b"\x89PNG\r\n\x1a\n"
    out += _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bitdepth, color_type, 0, 0, 1 if interlace else 0))
    out += extra
    if palette is not None:
        out += _chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    comp = zlib.compress(bytes(raw), 9)
    # Two IDAT chunks: the split must not matter.
    half = len(comp) // 2
    out += _chunk(b"IDAT", comp[:half]) + _chunk(b"IDAT", comp[half:])
    out += _chunk(b"IEND", b"")
    return out


# A libjpeg program for the JPEG variants Pillow cannot write (YCCK, CMYK without an Adobe marker).
JPEG_HELPER_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
/* usage: helper in.cmyk W H out.jpg mode(0 = YCCK+Adobe, 1 = CMYK no Adobe, 2 = CMYK+Adobe) quality */
int main(int argc, char **argv) {
    int w = atoi(argv[2]), h = atoi(argv[3]), mode = atoi(argv[5]), q = atoi(argv[6]);
    unsigned char *buf = malloc((size_t)w * h * 4);
    FILE *f = fopen(argv[1], "rb"); if (fread(buf, 1, (size_t)w * h * 4, f) != (size_t)w * h * 4) return 1; fclose(f);
    struct jpeg_compress_struct c; struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e); jpeg_create_compress(&c);
    FILE *o = fopen(argv[4], "wb"); jpeg_stdio_dest(&c, o);
    c.image_width = w; c.image_height = h; c.input_components = 4; c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, mode == 0 ? JCS_YCCK : JCS_CMYK);
    if (mode == 1) c.write_Adobe_marker = FALSE;
    jpeg_set_quality(&c, q, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) { JSAMPROW r = buf + (size_t)c.next_scanline * w * 4; jpeg_write_scanlines(&c, &r, 1); }
    jpeg_finish_compress(&c); jpeg_destroy_compress(&c); fclose(o); free(buf); return 0;
}
"""


def _jpeg_helper(tmp):
    src = os.path.join(tmp, "helper.c")
    exe = os.path.join(tmp, "helper")
    with open(src, "w") as f:
        f.write(JPEG_HELPER_C)
    subprocess.run(["gcc", "-O1", "-o", exe, src, "-ljpeg"], check=True)
    return exe


def _natural(name, w, h, box=None):
    """A small natural image from scikit-image's bundled data (PIL-resized, deterministic)."""
    import skimage.data
    from PIL import Image
    a = getattr(skimage.data, name)()
    im = Image.fromarray(a)
    if box is not None:
        im = im.crop(box)
    return np.asarray(im.resize((w, h), Image.BICUBIC))


def _pil_rgb(path):
    from PIL import Image
    with Image.open(path) as im:
        mode = im.mode
        return np.ascontiguousarray(np.asarray(im.convert("RGB"))), mode


def make_decode():
    from PIL import Image
    d = os.path.join(OUT, "decode")
    if os.path.isdir(d):
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    rgb = _natural("chelsea", 45, 30)                         # 30x45 RGB
    gray = _natural("camera", 37, 29)                          # 29x37 L
    alpha = _natural("logo", 33, 31)[:, :, 3]                  # a real alpha plane
    files = {}

    def put(name, data):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        files[name] = {}

    # --- PNG, every colour type and depth
    g16 = (gray.astype(np.uint16) * 257 + rng.integers(0, 257, gray.shape)).astype(np.uint16)
    g16[0, :8] = [0, 1, 254, 255, 256, 300, 4095, 65535]       # I;16 -> RGB clamps at 255
    put("gray1.png", png_bytes(gray >= 128, 0, 1))
    put("gray2.png", png_bytes(gray >> 6, 0, 2))
    put("gray4.png", png_bytes(gray >> 4, 0, 4))
    put("gray8.png", png_bytes(gray, 0, 8))
    put("gray8_trns.png", png_bytes(gray, 0, 8, trns=struct.pack(">H", int(gray[0, 0]))))
    put("gray16.png", png_bytes(g16, 0, 16))
    put("gray16_low.png", png_bytes((g16 >> 8).astype(np.uint16), 0, 16))  # all values <= 255: visible in RGB
    put("gray16_interlaced.png", png_bytes(g16 >> 7, 0, 16, interlace=True))
    rgb16 = rgb.astype(np.uint16) * 257 + rng.integers(0, 257, rgb.shape).astype(np.uint16)
    put("rgb8.png", png_bytes(rgb, 2, 8))
    put("rgb8_trns.png", png_bytes(rgb, 2, 8, trns=struct.pack(">HHH", *[int(v) for v in rgb[0, 0]])))
    put("rgb8_interlaced.png", png_bytes(rgb, 2, 8, interlace=True))
    put("rgb16.png", png_bytes(rgb16, 2, 16))
    put("rgb16_interlaced.png", png_bytes(rgb16, 2, 16, interlace=True))
    # gAMA / cHRM / sRGB / iCCP-free colour chunks must be ignored (PIL does not colour-manage).
    gama = _chunk(b"gAMA", struct.pack(">I", 100000)) + _chunk(b"sBIT", b"\x05\x06\x05")
    put("rgb8_gamma.png", png_bytes(rgb, 2, 8, extra=gama))
    la = np.stack([gray[:29, :33], alpha[:29, :33]], -1)
    put("gray_alpha8.png", png_bytes(la, 4, 8))
    put("gray_alpha16.png", png_bytes(la.astype(np.uint16) * 257 + 3, 4, 16))
    rgba = np.concatenate([rgb[:29, :33], alpha[:29, :33, None]], -1)
    put("rgba8.png", png_bytes(rgba, 6, 8))
    put("rgba8_interlaced.png", png_bytes(rgba, 6, 8, interlace=True))
    put("rgba16.png", png_bytes(rgba.astype(np.uint16) * 257 + 1, 6, 16))
    # Palettes: 1/2/4/8-bit, tRNS, a PLTE shorter than the indices used (PIL: black).
    pal_img = Image.fromarray(rgb).quantize(colors=200, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    pal = np.array(pal_img.getpalette()[: 3 * 200], dtype=np.uint8).reshape(-1, 3)
    idx = np.asarray(pal_img)
    put("palette8.png", png_bytes(idx, 3, 8, palette=pal))
    put("palette8_trns.png", png_bytes(idx, 3, 8, palette=pal, trns=bytes(range(0, 256, 3))[:100]))
    put("palette8_interlaced.png", png_bytes(idx, 3, 8, palette=pal, interlace=True))
    put("palette4.png", png_bytes(idx % 16, 3, 4, palette=pal[:16]))
    put("palette2.png", png_bytes(idx % 4, 3, 2, palette=pal[:4]))
    put("palette1.png", png_bytes(idx % 2, 3, 1, palette=pal[:2]))
    put("palette8_short.png", png_bytes(idx, 3, 8, palette=pal[:150]))
    # Tiny and odd sizes (Adam7 passes that are empty).
    put("rgb8_1x1.png", png_bytes(rgb[:1, :1], 2, 8))
    put("rgb8_3x2_interlaced.png", png_bytes(rgb[:2, :3], 2, 8, interlace=True))
    put("gray2_5x7_interlaced.png", png_bytes((gray >> 6)[:7, :5], 0, 2, interlace=True))

    # --- JPEG via Pillow
    def pil_jpeg(name, im, **kw):
        b = io.BytesIO()
        im.save(b, "JPEG", **kw)
        put(name, b.getvalue())

    im = Image.fromarray(_natural("astronaut", 47, 35))
    pil_jpeg("rgb_420.jpg", im, quality=90, subsampling=2)
    pil_jpeg("rgb_422.jpg", im, quality=90, subsampling=1)
    pil_jpeg("rgb_444.jpg", im, quality=95, subsampling=0)
    pil_jpeg("rgb_progressive.jpg", im, quality=85, progressive=True)
    pil_jpeg("rgb_optimized_q50.jpg", im, quality=50, optimize=True)
    pil_jpeg("rgb_adobe_rgb.jpg", im, quality=90, keep_rgb=True)
    pil_jpeg("rgb_odd_1x1.jpg", im.crop((0, 0, 1, 1)), quality=90)
    pil_jpeg("gray.jpg", Image.fromarray(gray), quality=90)
    pil_jpeg("gray_progressive.jpg", Image.fromarray(gray), quality=80, progressive=True)
    cmyk = Image.fromarray(_natural("coffee", 41, 27)).convert("CMYK")
    pil_jpeg("cmyk_pil.jpg", cmyk, quality=90)
    with tempfile.TemporaryDirectory() as tmp:
        exe = _jpeg_helper(tmp)
        craw = np.asarray(cmyk).copy()
        craw[..., 3] = rng.integers(0, 120, craw.shape[:2])  # some black ink so K matters
        for mode, name in ((0, "ycck_adobe.jpg"), (1, "cmyk_no_adobe.jpg"), (2, "cmyk_adobe_libjpeg.jpg")):
            inp = os.path.join(tmp, "in.cmyk")
            with open(inp, "wb") as f:
                f.write(bytes(craw.reshape(-1)))
            outp = os.path.join(tmp, name)
            subprocess.run([exe, inp, str(craw.shape[1]), str(craw.shape[0]), outp, str(mode), "90"], check=True)
            with open(outp, "rb") as f:
                put(name, f.read())

    manifest = {}
    for name in sorted(files):
        arr, mode = _pil_rgb(os.path.join(d, name))
        np.save(os.path.join(d, name + ".rgb.npy"), arr)
        manifest[name] = {"mode": mode, "shape": list(arr.shape)}
    # Files PIL refuses / that must be refused: truncated, garbage, bombs (dimensions far above the cap).
    bad = {}
    with open(os.path.join(d, "rgb8.png"), "rb") as f:
        png_ok = f.read()
    with open(os.path.join(d, "rgb_420.jpg"), "rb") as f:
        jpg_ok = f.read()
    bad["bad_truncated.png"] = png_ok[: len(png_ok) // 2]
    bad["bad_truncated.jpg"] = jpg_ok[: len(jpg_ok) // 2]
    bad["bad_garbage.png"] = png_ok[:8] + bytes(rng.integers(0, 256, 200, dtype=np.uint8))
    bad["bad_not_image.png"] = b"GIF89a this is not a png"
    bomb_png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)) + \
        _chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + _chunk(b"IEND", b"")
    bad["bad_bomb.png"] = bomb_png
    sof = jpg_ok.find(b"\xff\xc0")
    bomb_jpg = bytearray(jpg_ok)
    bomb_jpg[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
    bad["bad_bomb.jpg"] = bytes(bomb_jpg)
    for name, data in bad.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        try:
            _pil_rgb(os.path.join(d, name))
            pil = "loads"
        except Exception as e:  # noqa: BLE001 - recorded for the record only
            pil = type(e).__name__
        manifest[name] = {"bad": True, "pil": pil}
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------------------------------------------------------
# Resize kernels, presets and output mappings.

def fnv1a64(b):
    h = 0xCBF29CE484222325
    for x in b:
        h ^= x
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def albumentations_smallest_max_size(img, max_size):
    """albumentations 0.4.3 `SmallestMaxSize` (taming's pin): py3round(side * scale), cv2.INTER_LINEAR."""
    import cv2
    height, width = img.shape[:2]
    scale = max_size / float(min(width, height))
    if scale != 1.0:
        new_height, new_width = tuple(int(round(dim * scale)) for dim in (height, width))  # py3 round = half-even
        img = cv2.resize(img, dsize=(new_width, new_height), interpolation=cv2.INTER_LINEAR)
    return img


def albumentations_center_crop(img, h, w):
    height, width = img.shape[:2]
    y1 = (height - h) // 2
    x1 = (width - w) // 2
    return img[y1:y1 + h, x1:x1 + w]


def make_resize():
    import cv2
    import torch
    import torchvision
    import torchvision.transforms as T
    import torch.nn.functional as F
    from PIL import Image

    d = os.path.join(OUT, "resize")
    if os.path.isdir(d):
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
    os.makedirs(d, exist_ok=True)
    src_a = _natural("chelsea", 97, 61)
    src_b = _natural("coffee", 120, 80)
    src_c = _natural("astronaut", 40, 30)
    srcs = {"a": src_a, "b": src_b, "c": src_c}
    for k, v in srcs.items():
        with open(os.path.join(d, "src_%s.png" % k), "wb") as f:
            f.write(png_bytes(v, 2, 8))
    cases = []

    def save(name, arr):
        np.save(os.path.join(d, name + ".npy"), np.ascontiguousarray(arr))
        return name + ".npy"

    # PIL Image.resize, every filter, down / up / one axis.
    filters = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS,
               "box": Image.BOX, "hamming": Image.HAMMING}
    pa = Image.fromarray(src_a)
    for fname, f in filters.items():
        for (w, h) in ((41, 29), (113, 67), (97, 40), (50, 61), (13, 200)):
            out = np.asarray(pa.resize((w, h), f))
            cases.append({"op": "pil_resize", "src": "a", "filter": fname, "width": w, "height": h,
                          "expected": save("pil_%s_%dx%d" % (fname, w, h), out)})
    # torchvision on PIL.
    for (name, t) in (("tv_resize_short40", T.Resize(40)), ("tv_resize_33x45", T.Resize((33, 45))),
                      ("tv_centercrop_50", T.CenterCrop(50)), ("tv_centercrop_80x120", T.CenterCrop((80, 120))),
                      ("tv_centercrop_70x30", T.CenterCrop((70, 30))), ("tv_centercrop_60x96", T.CenterCrop((60, 96)))):
        out = np.asarray(t(pa))
        cases.append({"op": name, "src": "a", "expected": save(name, out)})
    # OpenCV INTER_LINEAR (uint8), including the exact-2x area path and tails of various widths.
    for key, (w, h) in (("a", (41, 29)), ("a", (113, 67)), ("a", (96, 60)), ("b", (60, 40)), ("b", (40, 40)),
                        ("b", (37, 80)), ("c", (100, 75)), ("a", (31, 200))):
        out = cv2.resize(srcs[key], (w, h), interpolation=cv2.INTER_LINEAR)
        cases.append({"op": "cv2_linear", "src": key, "width": w, "height": h,
                      "expected": save("cv2_%s_%dx%d" % (key, w, h), out)})
    for key, size in (("a", 48), ("b", 40), ("c", 64), ("a", 61)):
        out = albumentations_center_crop(albumentations_smallest_max_size(srcs[key], size), size, size)
        cases.append({"op": "albu_smallest_center", "src": key, "size": size,
                      "expected": save("albu_%s_%d" % (key, size), out)})
    # F.interpolate bilinear on ToTensor(a).
    xa = T.ToTensor()(pa).unsqueeze(0)
    for (h, w) in ((31, 45), (73, 111)):
        out = F.interpolate(xa, size=(h, w), mode="bilinear", align_corners=False)[0].numpy()
        cases.append({"op": "interpolate", "src": "a", "width": w, "height": h,
                      "expected": save("interp_%dx%d" % (w, h), out)})
    out = F.interpolate(xa, size=(299, 299), mode="bilinear", align_corners=False)[0].numpy()
    cases.append({"op": "interpolate", "src": "a", "width": 299, "height": 299,
                  "fnv1a64": fnv1a64(out.astype("<f4").tobytes()),
                  "rows": save("interp_299_rows", out[:, ::47, :]), "row_step": 47})

    # Presets at resolution 48 (the geometry is parametrised; 256 behaves the same), and inception at 299.
    mean = torch.tensor([0.4815, 0.4578, 0.4082])
    std = torch.tensor([0.2686, 0.2613, 0.2758])
    presets = []
    for key in ("a", "c"):
        im = Image.fromarray(srcs[key])
        rt = T.Compose([T.CenterCrop((48, 48)), T.ToTensor(), T.Normalize(mean=mean, std=std)])(im).numpy()
        presets.append({"preset": "rt-vqvae@48", "src": key, "expected": save("preset_rt_%s" % key, rt)})
        ldm = albumentations_center_crop(albumentations_smallest_max_size(np.array(im).astype(np.uint8), 48), 48, 48)
        ldm = (ldm / 127.5 - 1.0).astype(np.float32).transpose(2, 0, 1)
        presets.append({"preset": "ldm-vqgan@48", "src": key, "expected": save("preset_ldm_%s" % key, ldm)})
        vit = T.Compose([T.Resize((48, 48)), T.CenterCrop((48, 48)), T.ToTensor()])(im).numpy()
        presets.append({"preset": "vit-vqgan@48", "src": key, "expected": save("preset_vit_%s" % key, vit)})
        colab = T.Compose([T.Resize(48, interpolation=T.InterpolationMode.LANCZOS), T.CenterCrop(48), T.ToTensor()])(im)
        presets.append({"preset": "vit-vqgan-colab@48", "src": key,
                        "expected": save("preset_colab_%s" % key, colab.numpy())})
        inc = F.interpolate(T.ToTensor()(im).unsqueeze(0), size=(299, 299), mode="bilinear", align_corners=False)
        inc = (2 * inc - 1)[0].numpy()
        presets.append({"preset": "inception", "src": key, "fnv1a64": fnv1a64(inc.astype("<f4").tobytes()),
                        "rows": save("preset_inception_%s_rows" % key, inc[:, ::47, :]), "row_step": 47})

    # Output mappings on values around and beyond the valid ranges.
    rng = np.random.default_rng(11)
    x = rng.uniform(-1.6, 1.6, size=(3, 9, 11)).astype(np.float32)
    x.flat[:6] = [0.0, 1.0, -1.0, 0.99999994, 0.5, np.nan]
    x01 = rng.uniform(-0.3, 1.3, size=(3, 9, 11)).astype(np.float32)
    x01.flat[:4] = [0.0, 1.0, 0.99999994, np.nan]
    xrt = rng.uniform(-2.6, 2.6, size=(3, 9, 11)).astype(np.float32)
    save("map_in_sym", x)
    save("map_in_unit", x01)
    save("map_in_rt", xrt)
    with np.errstate(invalid="ignore"):
        # latent-diffusion sample_diffusion.py
        sym = ((torch.from_numpy(x) + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
        # enhancing-transformers callback: clamp(0, 1) then (x * 255).astype(np.uint8)
        unit = (torch.from_numpy(x01).clamp(0, 1).numpy() * 255).astype(np.uint8)
        # rotation_trick reconstruction_fid.py unnormalize + astype (numpy wraps), and the clamped variant
        hwc = xrt.transpose(1, 2, 0)
        un = hwc * np.array([0.2686, 0.2613, 0.2758]) + np.array([0.4815, 0.4578, 0.4082])
        rt_wrap = (un * 255).astype(np.uint8).transpose(2, 0, 1)
        rt_clamp = np.clip(un * 255, 0, 255).astype(np.uint8).transpose(2, 0, 1)
    nan_pos = [(c, i // 11, i % 11) for c in range(3) for i in range(99)
               if np.isnan(x[c].flat[i]) or np.isnan(x01[c].flat[i])]
    maps = {"symmetric": {"input": "map_in_sym.npy", "expected": save("map_out_sym", sym)},
            "unit": {"input": "map_in_unit.npy", "expected": save("map_out_unit", unit)},
            "rt_wrap": {"input": "map_in_rt.npy", "expected": save("map_out_rt_wrap", rt_wrap)},
            "rt_clamp": {"input": "map_in_rt.npy", "expected": save("map_out_rt_clamp", rt_clamp)}}

    manifest = {"versions": {"numpy": np.__version__, "torch": torch.__version__,
                             "torchvision": torchvision.__version__, "opencv": cv2.__version__,
                             "pillow": Image.__version__,
                             "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()},
                "cases": cases, "presets": presets, "mappings": maps, "nan_positions": nan_pos}
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    global OUT
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["npy", "images"], default=None)
    ap.add_argument("--out", default=OUT, help="output directory (default Fixtures/imaging)")
    args = ap.parse_args()
    OUT = args.out
    if args.only in (None, "npy"):
        make_npy()
    if args.only in (None, "images"):
        make_decode()
        make_resize()


if __name__ == "__main__":
    main()
