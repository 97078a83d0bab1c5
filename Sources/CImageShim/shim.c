// libpng / libjpeg wrappers: every library call runs below a setjmp in this file, so an error longjmps back here
// (never through Swift frames) and becomes a status code with a one-line message.
#include "vqrt_image_shim.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

void vqrt_free(void *p) { free(p); }

static void set_message(char *message, size_t len, const char *text) {
    if (message && len > 0) {
        snprintf(message, len, "%s", text);
    }
}

// MARK: PNG decoding

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t pos;
    int truncated;
    char message[256];
    jmp_buf jmp;
} png_ctx;

static void png_err_fn(png_structp png, png_const_charp msg) {
    png_ctx *ctx = (png_ctx *)png_get_error_ptr(png);
    snprintf(ctx->message, sizeof ctx->message, "%s", msg);
    longjmp(ctx->jmp, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void png_read_fn(png_structp png, png_bytep out, png_size_t len) {
    png_ctx *ctx = (png_ctx *)png_get_io_ptr(png);
    if (len > ctx->size - ctx->pos) {
        ctx->truncated = 1;
        png_error(png, "truncated PNG (data ends early)");
    }
    memcpy(out, ctx->data + ctx->pos, len);
    ctx->pos += len;
}

int vqrt_png_decode(const unsigned char *data, size_t size, uint64_t max_pixels, vqrt_raw_image *out,
                    char *message, size_t message_len) {
    memset(out, 0, sizeof *out);
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        set_message(message, message_len, "not a PNG file (bad signature)");
        return VQRT_ERR_FORMAT;
    }
    png_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.data = data;
    ctx.size = size;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_err_fn, png_warn_fn);
    if (!png) {
        set_message(message, message_len, "out of memory");
        return VQRT_ERR_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    // Heap allocations made below, freed on both paths; volatile because they change between setjmp and longjmp.
    unsigned char *volatile samples = NULL;
    png_bytepp volatile rows = NULL;
    int volatile status = VQRT_ERR_FORMAT;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_message(message, message_len, "out of memory");
        return VQRT_ERR_MEMORY;
    }
    if (setjmp(ctx.jmp)) {
        free(samples);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        set_message(message, message_len, ctx.message[0] ? ctx.message : "PNG decoding failed");
        return ctx.truncated ? VQRT_ERR_TRUNCATED : status;
    }
    png_set_read_fn(png, &ctx, png_read_fn);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);  // our own pixel cap below is what limits size
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    if (width == 0 || height == 0 || (uint64_t)width * (uint64_t)height > max_pixels) {
        status = VQRT_ERR_TOO_LARGE;
        snprintf(ctx.message, sizeof ctx.message, "image of %ux%u pixels exceeds the limit of %llu pixels",
                 (unsigned)width, (unsigned)height, (unsigned long long)max_pixels);
        longjmp(ctx.jmp, 1);
    }
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp pal = NULL;
        int n = 0;
        if (png_get_PLTE(png, info, &pal, &n) && pal) {
            if (n > 256) n = 256;
            for (int i = 0; i < n; i++) {
                out->palette[3 * i] = pal[i].red;
                out->palette[3 * i + 1] = pal[i].green;
                out->palette[3 * i + 2] = pal[i].blue;
            }
            out->palette_size = n;
        }
    }
    // No colour transforms: unpack sub-byte samples to one per byte (unscaled), let libpng de-interlace.
    if (bit_depth < 8) png_set_packing(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    size_t bytes_per_sample = bit_depth == 16 ? 2 : 1;
    if (rowbytes != (size_t)width * (size_t)channels * bytes_per_sample) {
        snprintf(ctx.message, sizeof ctx.message, "unexpected PNG row size");
        longjmp(ctx.jmp, 1);
    }
    samples = (unsigned char *)malloc(rowbytes * height);
    rows = (png_bytepp)malloc(sizeof(png_bytep) * height);
    if (!samples || !rows) {
        status = VQRT_ERR_MEMORY;
        snprintf(ctx.message, sizeof ctx.message, "out of memory for a %ux%u image", (unsigned)width, (unsigned)height);
        longjmp(ctx.jmp, 1);
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = samples + (size_t)y * rowbytes;
    png_read_image(png, rows);
    // The end chunks are not read: like PIL, a file whose image data is complete decodes even without IEND.

    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->samples = samples;
    out->width = width;
    out->height = height;
    out->channels = channels;
    out->bit_depth = bit_depth;
    out->color_type = color_type;
    out->interlaced = interlace != PNG_INTERLACE_NONE;
    out->jpeg_color_space = 0;
    return VQRT_OK;
}

// MARK: JPEG decoding

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
    int truncated;
    int warnings;
    int too_many_scans;
    int max_scans;
    char message[JMSG_LENGTH_MAX + 64];
} jpeg_err_ctx;

static void jpeg_error_exit_fn(j_common_ptr cinfo) {
    jpeg_err_ctx *err = (jpeg_err_ctx *)cinfo->err;
    char buf[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buf);
    snprintf(err->message, sizeof err->message, "%s", buf);
    longjmp(err->jmp, 1);
}

static void jpeg_emit_message_fn(j_common_ptr cinfo, int level) {
    jpeg_err_ctx *err = (jpeg_err_ctx *)cinfo->err;
    if (level < 0) {
        // Warnings. Premature EOF means a truncated file: PIL refuses those ("image file is truncated").
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) err->truncated = 1;
        err->warnings++;
    }
}

static void jpeg_output_message_fn(j_common_ptr cinfo) { (void)cinfo; }

typedef struct {
    struct jpeg_progress_mgr pub;
    jpeg_err_ctx *err;
} scan_guard;

// Progressive files with thousands of tiny scans are a known CPU bomb; refuse them.
static void jpeg_progress_fn(j_common_ptr cinfo) {
    scan_guard *g = (scan_guard *)cinfo->progress;
    if (cinfo->is_decompressor && g->err->max_scans > 0 &&
        ((j_decompress_ptr)cinfo)->input_scan_number > g->err->max_scans) {
        g->err->too_many_scans = 1;
        snprintf(g->err->message, sizeof g->err->message, "JPEG has more than %d scans", g->err->max_scans);
        longjmp(g->err->jmp, 1);
    }
}

int vqrt_jpeg_decode(const unsigned char *data, size_t size, uint64_t max_pixels, int max_scans,
                     vqrt_raw_image *out, char *message, size_t message_len) {
    memset(out, 0, sizeof *out);
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8) {
        set_message(message, message_len, "not a JPEG file (no SOI marker)");
        return VQRT_ERR_FORMAT;
    }
    struct jpeg_decompress_struct cinfo;
    jpeg_err_ctx err;
    scan_guard guard;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&err, 0, sizeof err);
    memset(&guard, 0, sizeof guard);
    unsigned char *volatile samples = NULL;
    int volatile status = VQRT_ERR_FORMAT;
    int volatile created = 0;

    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_error_exit_fn;
    err.pub.emit_message = jpeg_emit_message_fn;
    err.pub.output_message = jpeg_output_message_fn;
    err.max_scans = max_scans;
    guard.pub.progress_monitor = jpeg_progress_fn;
    guard.err = &err;

    if (setjmp(err.jmp)) {
        free(samples);
        if (created) jpeg_destroy_decompress(&cinfo);
        set_message(message, message_len, err.message[0] ? err.message : "JPEG decoding failed");
        if (err.too_many_scans) return VQRT_ERR_TOO_LARGE;
        return status;
    }
    jpeg_create_decompress(&cinfo);
    created = 1;
    cinfo.progress = &guard.pub;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (err.truncated) {
        status = VQRT_ERR_TRUNCATED;
        snprintf(err.message, sizeof err.message, "truncated JPEG (data ends early)");
        longjmp(err.jmp, 1);
    }
    out->jpeg_color_space = (int)cinfo.jpeg_color_space;
    out->jpeg_adobe = cinfo.saw_Adobe_marker ? 1 : 0;
    out->jpeg_adobe_transform = cinfo.Adobe_transform;
    if (cinfo.image_width == 0 || cinfo.image_height == 0 ||
        (uint64_t)cinfo.image_width * (uint64_t)cinfo.image_height > max_pixels) {
        status = VQRT_ERR_TOO_LARGE;
        snprintf(err.message, sizeof err.message, "image of %ux%u pixels exceeds the limit of %llu pixels",
                 (unsigned)cinfo.image_width, (unsigned)cinfo.image_height, (unsigned long long)max_pixels);
        longjmp(err.jmp, 1);
    }
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; break;
    case JCS_RGB:
    case JCS_YCbCr: cinfo.out_color_space = JCS_RGB; break;
    default:
        snprintf(err.message, sizeof err.message, "unsupported JPEG colour space (%d components)", cinfo.num_components);
        longjmp(err.jmp, 1);
    }
    // libjpeg defaults (ISLOW, fancy upsampling, no block smoothing changes) are what Pillow uses.
    jpeg_start_decompress(&cinfo);
    int channels = cinfo.output_components;
    size_t rowbytes = (size_t)cinfo.output_width * (size_t)channels;
    samples = (unsigned char *)malloc(rowbytes * cinfo.output_height);
    if (!samples) {
        status = VQRT_ERR_MEMORY;
        snprintf(err.message, sizeof err.message, "out of memory for a %ux%u image", (unsigned)cinfo.output_width,
                 (unsigned)cinfo.output_height);
        longjmp(err.jmp, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = samples + (size_t)cinfo.output_scanline * rowbytes;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;
        if (err.truncated) break;
    }
    if (err.truncated || cinfo.output_scanline < cinfo.output_height) {
        status = VQRT_ERR_TRUNCATED;
        snprintf(err.message, sizeof err.message, "truncated JPEG (data ends early)");
        longjmp(err.jmp, 1);
    }
    // Like PIL, trailing data after the last scan is not checked (no jpeg_finish_decompress).
    out->samples = samples;
    out->width = cinfo.output_width;
    out->height = cinfo.output_height;
    out->channels = channels;
    out->bit_depth = 8;
    out->color_type = -1;
    out->warnings = err.warnings;
    jpeg_destroy_decompress(&cinfo);
    return VQRT_OK;
}

// MARK: PNG encoding

typedef struct {
    unsigned char *buf;
    size_t size;
    size_t cap;
    int oom;
    char message[256];
    jmp_buf jmp;
} png_wctx;

static void png_werr_fn(png_structp png, png_const_charp msg) {
    png_wctx *ctx = (png_wctx *)png_get_error_ptr(png);
    snprintf(ctx->message, sizeof ctx->message, "%s", msg);
    longjmp(ctx->jmp, 1);
}

static void png_write_fn(png_structp png, png_bytep data, png_size_t len) {
    png_wctx *ctx = (png_wctx *)png_get_io_ptr(png);
    if (len > ctx->cap - ctx->size) {
        size_t cap = ctx->cap ? ctx->cap : 65536;
        while (len > cap - ctx->size) {
            if (cap > ((size_t)-1) / 2) { ctx->oom = 1; png_error(png, "out of memory"); }
            cap *= 2;
        }
        unsigned char *nb = (unsigned char *)realloc(ctx->buf, cap);
        if (!nb) { ctx->oom = 1; png_error(png, "out of memory"); }
        ctx->buf = nb;
        ctx->cap = cap;
    }
    memcpy(ctx->buf + ctx->size, data, len);
    ctx->size += len;
}

static void png_flush_fn(png_structp png) { (void)png; }

int vqrt_png_encode(const unsigned char *pixels, uint32_t width, uint32_t height, int channels, int compression_level,
                    unsigned char **out, size_t *out_size, char *message, size_t message_len) {
    *out = NULL;
    *out_size = 0;
    if (width == 0 || height == 0 || (channels != 1 && channels != 3)) {
        set_message(message, message_len, "cannot encode an empty image");
        return VQRT_ERR_FORMAT;
    }
    png_wctx ctx;
    memset(&ctx, 0, sizeof ctx);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_werr_fn, png_warn_fn);
    if (!png) { set_message(message, message_len, "out of memory"); return VQRT_ERR_MEMORY; }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        set_message(message, message_len, "out of memory");
        return VQRT_ERR_MEMORY;
    }
    if (setjmp(ctx.jmp)) {
        free(ctx.buf);
        png_destroy_write_struct(&png, &info);
        set_message(message, message_len, ctx.message[0] ? ctx.message : "PNG encoding failed");
        return ctx.oom ? VQRT_ERR_MEMORY : VQRT_ERR_FORMAT;
    }
    png_set_write_fn(png, &ctx, png_write_fn, png_flush_fn);
    png_set_compression_level(png, compression_level);
    png_set_IHDR(png, info, width, height, 8, channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t rowbytes = (size_t)width * (size_t)channels;
    for (uint32_t y = 0; y < height; y++) {
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * rowbytes));
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *out = ctx.buf;
    *out_size = ctx.size;
    return VQRT_OK;
}
