// C side of vqrt's image decoding: libpng and libjpeg report fatal errors by longjmp, which must never cross Swift
// frames. These functions run a whole decode / encode under their own setjmp and return a status plus a message.
#ifndef VQRT_IMAGE_SHIM_H
#define VQRT_IMAGE_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Raw decoded samples, before any colour conversion (done in Swift, as PIL does).
typedef struct vqrt_raw_image {
    unsigned char *samples;   ///< malloc'd; width*height*channels samples, 1 byte each (2 big-endian bytes if bit_depth 16)
    uint32_t width;
    uint32_t height;
    int channels;             ///< samples per pixel in `samples`
    int bit_depth;            ///< 1, 2, 4, 8 or 16 (PNG: the file's depth; <8 unpacked one sample per byte, unscaled), JPEG: 8
    int color_type;           ///< PNG colour type (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA); JPEG: -1
    int interlaced;           ///< PNG: Adam7
    int palette_size;         ///< PNG palette entries
    unsigned char palette[256 * 3];
    int jpeg_color_space;     ///< JPEG: J_COLOR_SPACE of the file (1 gray, 2 RGB, 3 YCbCr, 4 CMYK, 5 YCCK)
    int jpeg_adobe;           ///< JPEG: an Adobe APP14 marker was present
    int jpeg_adobe_transform; ///< JPEG: its transform code
    int warnings;             ///< non-fatal warnings seen (corrupt data that the library recovered from)
} vqrt_raw_image;

/// Status codes.
enum {
    VQRT_OK = 0,
    VQRT_ERR_FORMAT = 1,   ///< corrupt / unsupported data (message says what)
    VQRT_ERR_TRUNCATED = 2,///< the data ends before the image does
    VQRT_ERR_TOO_LARGE = 3,///< width*height above max_pixels, or a dimension is 0
    VQRT_ERR_MEMORY = 4    ///< allocation failed
};

/// Decodes a PNG held in memory. On success `out->samples` must be released with vqrt_free.
int vqrt_png_decode(const unsigned char *data, size_t size, uint64_t max_pixels, vqrt_raw_image *out,
                    char *message, size_t message_len);

/// Decodes a JPEG held in memory (ISLOW IDCT, fancy upsampling: libjpeg's defaults, as Pillow uses them).
/// Output: 1 channel (gray), 3 (RGB) or 4 (CMYK as libjpeg delivers it; YCCK is converted to CMYK by libjpeg).
int vqrt_jpeg_decode(const unsigned char *data, size_t size, uint64_t max_pixels, int max_scans,
                     vqrt_raw_image *out, char *message, size_t message_len);

/// Encodes 8-bit RGB (channels 3) or gray (channels 1) as PNG into a malloc'd buffer (release with vqrt_free).
int vqrt_png_encode(const unsigned char *pixels, uint32_t width, uint32_t height, int channels, int compression_level,
                    unsigned char **out, size_t *out_size, char *message, size_t message_len);

void vqrt_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
