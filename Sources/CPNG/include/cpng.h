#ifndef SEGPIPE_CPNG_H
#define SEGPIPE_CPNG_H
#include <stdint.h>
#include <stddef.h>

/*
 * The libpng setjmp boundary. libpng reports errors by longjmp, which must never cross Swift
 * frames, so every call into libpng happens inside one of these functions: each sets its own
 * setjmp point, returns 0 on success or -1 on failure, and leaves libpng's message in the
 * handle's message buffer (cpng_reader_message / cpng_writer_message). Warnings are discarded,
 * never printed.
 */

enum { CPNG_MESSAGE_SIZE = 256 };

/* Largest width or height a reader accepts; a forged header beyond it fails in png_read_info. */
enum { CPNG_MAX_DIMENSION = 1000000 };

/* PNG colour types, as stored in IHDR (libpng's PNG_COLOR_TYPE_* macros do not import into Swift). */
enum {
    CPNG_COLOR_GRAY = 0,
    CPNG_COLOR_RGB = 2,
    CPNG_COLOR_PALETTE = 3,
    CPNG_COLOR_GRAY_ALPHA = 4,
    CPNG_COLOR_RGBA = 6
};

typedef struct cpng_reader cpng_reader;
typedef struct cpng_writer cpng_writer;

/* What the IHDR, PLTE and tRNS chunks declare, plus the layout of the rows the reader returns. */
typedef struct {
    uint32_t width;
    uint32_t height;
    int bit_depth;      /* as stored: 1, 2, 4, 8 or 16 */
    int color_type;     /* CPNG_COLOR_* */
    int interlaced;     /* 1 for Adam7 */
    int channels;       /* stored samples per pixel: 1, 2, 3 or 4 */
    int palette_count;  /* PLTE entries, 0 when absent */
    uint8_t palette[256 * 3];
    int trans_count;    /* tRNS alpha entries of a palette image, 0 when absent */
    uint8_t trans_alpha[256];
    int has_trans_color;              /* tRNS of a gray or RGB image */
    uint16_t trans_color[3];          /* gray in [0], or red, green, blue */
    size_t stored_row_bytes;  /* bytes of one row as the file packs it (sub-byte samples packed) */
    size_t row_bytes;         /* bytes of one row as returned: a byte per sample, or two (big-endian) */
} cpng_header;

/* Opens `path` and reads everything up to the image data. On failure *out is NULL and `message`
   says why. Sub-byte samples come back one per byte, unscaled; 16-bit samples stay big-endian. */
int cpng_reader_open(const char *path, cpng_reader **out, char *message, size_t message_size);
const cpng_header *cpng_reader_header(const cpng_reader *reader);
/* Reads the next row of a non-interlaced image into `row` (header.row_bytes bytes). */
int cpng_reader_read_row(cpng_reader *reader, uint8_t *row);
/* Reads a whole (interlaced) image: `height` rows of header.row_bytes, `stride` bytes apart. */
int cpng_reader_read_image(cpng_reader *reader, uint8_t *image, size_t stride);
/* Reads the chunks after the image data up to IEND, so a damaged tail is reported. */
int cpng_reader_finish(cpng_reader *reader);
const char *cpng_reader_message(const cpng_reader *reader);
void cpng_reader_close(cpng_reader *reader);

/* Creates `path` for writing. On failure *out is NULL and `message` says why. */
int cpng_writer_open(const char *path, cpng_writer **out, char *message, size_t message_size);
/* Writes the header. `palette_rgb` (palette_count × 3 bytes) and `trans_alpha` (trans_count
   bytes) only for CPNG_COLOR_PALETTE. Rows are then given a byte per sample for bit depths
   below 8 and big-endian pairs for 16. */
int cpng_writer_set_header(cpng_writer *writer, uint32_t width, uint32_t height, int bit_depth,
                           int color_type, int interlaced, const uint8_t *palette_rgb,
                           int palette_count, const uint8_t *trans_alpha, int trans_count);
int cpng_writer_write_row(cpng_writer *writer, const uint8_t *row);
/* Writes all rows at once (needed for interlaced output): `height` rows `stride` bytes apart. */
int cpng_writer_write_image(cpng_writer *writer, const uint8_t *image, size_t stride);
/* Writes IEND and closes the file, reporting a failed flush. */
int cpng_writer_finish(cpng_writer *writer);
const char *cpng_writer_message(const cpng_writer *writer);
void cpng_writer_close(cpng_writer *writer);

int cpng_library_version(void);

#endif
