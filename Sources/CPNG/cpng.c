#include "cpng.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ancillary chunks (iCCP, zTXt, ...) larger than this are refused instead of allocated. */
#define CPNG_CHUNK_MALLOC_MAX ((png_alloc_size_t)8 << 20)

struct cpng_reader {
    png_structp png;
    png_infop info;
    FILE *file;
    png_bytep *row_pointers;
    cpng_header header;
    char message[CPNG_MESSAGE_SIZE];
};

struct cpng_writer {
    png_structp png;
    png_infop info;
    FILE *file;
    png_bytep *row_pointers;
    char message[CPNG_MESSAGE_SIZE];
};

static void copy_message(char *buffer, size_t size, const char *text) {
    if (size == 0) return;
    snprintf(buffer, size, "%s", text);
}

/* The error pointer is the handle's message buffer; jumping back to the setjmp in the C
   function that called libpng is the only way out of png_error. */
static void on_error(png_structp png, png_const_charp text) {
    char *message = (char *)png_get_error_ptr(png);
    if (message != NULL) copy_message(message, CPNG_MESSAGE_SIZE, text);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

/* libpng's stdio reader says only "Read Error" when fread comes up short. */
static void explain_read_error(cpng_reader *reader) {
    if (strcmp(reader->message, "Read Error") == 0 && reader->file != NULL) {
        if (feof(reader->file)) {
            copy_message(reader->message, CPNG_MESSAGE_SIZE, "file ends early (truncated)");
        } else if (ferror(reader->file)) {
            snprintf(reader->message, CPNG_MESSAGE_SIZE, "read failed: %s", strerror(errno));
        }
    }
}

int cpng_library_version(void) { return (int)png_access_version_number(); }

void cpng_reader_close(cpng_reader *reader) {
    if (reader == NULL) return;
    if (reader->png != NULL) {
        png_destroy_read_struct(&reader->png, reader->info != NULL ? &reader->info : NULL, NULL);
    }
    if (reader->file != NULL) fclose(reader->file);
    free(reader->row_pointers);
    free(reader);
}

static int fill_header(cpng_reader *reader) {
    png_structp png = reader->png;
    png_infop info = reader->info;
    cpng_header *h = &reader->header;
    h->width = png_get_image_width(png, info);
    h->height = png_get_image_height(png, info);
    h->bit_depth = png_get_bit_depth(png, info);
    h->color_type = png_get_color_type(png, info);
    h->interlaced = png_get_interlace_type(png, info) != PNG_INTERLACE_NONE;
    h->channels = png_get_channels(png, info);

    png_colorp palette = NULL;
    int palette_count = 0;
    if (png_get_PLTE(png, info, &palette, &palette_count) & PNG_INFO_PLTE) {
        if (palette_count > 256) palette_count = 256;
        for (int i = 0; i < palette_count; i++) {
            h->palette[3 * i] = palette[i].red;
            h->palette[3 * i + 1] = palette[i].green;
            h->palette[3 * i + 2] = palette[i].blue;
        }
        h->palette_count = palette_count;
    }
    png_bytep trans_alpha = NULL;
    int trans_count = 0;
    png_color_16p trans_color = NULL;
    if (png_get_tRNS(png, info, &trans_alpha, &trans_count, &trans_color) & PNG_INFO_tRNS) {
        if (h->color_type == PNG_COLOR_TYPE_PALETTE && trans_alpha != NULL) {
            if (trans_count > 256) trans_count = 256;
            memcpy(h->trans_alpha, trans_alpha, (size_t)trans_count);
            h->trans_count = trans_count;
        } else if (trans_color != NULL) {
            h->has_trans_color = 1;
            if (h->color_type == PNG_COLOR_TYPE_GRAY) {
                h->trans_color[0] = trans_color->gray;
            } else {
                h->trans_color[0] = trans_color->red;
                h->trans_color[1] = trans_color->green;
                h->trans_color[2] = trans_color->blue;
            }
        }
    }

    /* Bound the row sizes in size_t before anyone allocates a row. */
    size_t width = h->width;
    size_t samples_per_row;
    if (h->channels <= 0 || width > SIZE_MAX / (size_t)h->channels) return -1;
    samples_per_row = width * (size_t)h->channels;
    size_t bytes_per_sample = h->bit_depth == 16 ? 2 : 1;
    if (samples_per_row > SIZE_MAX / bytes_per_sample) return -1;
    h->row_bytes = samples_per_row * bytes_per_sample;
    if (samples_per_row > (SIZE_MAX - 7) / (size_t)h->bit_depth) return -1;
    h->stored_row_bytes = (samples_per_row * (size_t)h->bit_depth + 7) / 8;
    return 0;
}

int cpng_reader_open(const char *path, cpng_reader **out, char *message, size_t message_size) {
    *out = NULL;
    cpng_reader *reader = calloc(1, sizeof *reader);
    if (reader == NULL) {
        copy_message(message, message_size, "out of memory");
        return -1;
    }
    reader->file = fopen(path, "rb");
    if (reader->file == NULL) {
        snprintf(message, message_size, "cannot open: %s", strerror(errno));
        cpng_reader_close(reader);
        return -1;
    }
    reader->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, reader->message, on_error,
                                         on_warning);
    if (reader->png != NULL) reader->info = png_create_info_struct(reader->png);
    if (reader->png == NULL || reader->info == NULL) {
        copy_message(message, message_size, "cannot create a libpng reader");
        cpng_reader_close(reader);
        return -1;
    }
    if (setjmp(png_jmpbuf(reader->png))) {
        explain_read_error(reader);
        copy_message(message, message_size, reader->message);
        cpng_reader_close(reader);
        return -1;
    }
    png_init_io(reader->png, reader->file);
    png_set_user_limits(reader->png, CPNG_MAX_DIMENSION, CPNG_MAX_DIMENSION);
    png_set_chunk_malloc_max(reader->png, CPNG_CHUNK_MALLOC_MAX);
    /* Text, colour profiles, suggested palettes and Exif mean nothing to a raster reader, and
       libpng allocates the length a text chunk declares (2 GiB in an 83-byte file) before it
       finds the file too short. Skipped chunks are read past in small pieces. */
    static const png_byte ignored[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0eXIf";
    png_set_keep_unknown_chunks(reader->png, PNG_HANDLE_CHUNK_NEVER, ignored, 6);
    png_read_info(reader->png, reader->info);
    if (fill_header(reader) != 0) {
        copy_message(message, message_size, "row size overflows");
        cpng_reader_close(reader);
        return -1;
    }
    /* Stored values only: unpack sub-byte samples without scaling, no expansion, no gamma. */
    if (reader->header.bit_depth < 8) png_set_packing(reader->png);
    if (reader->header.interlaced) (void)png_set_interlace_handling(reader->png);
    png_read_update_info(reader->png, reader->info);
    if (png_get_rowbytes(reader->png, reader->info) != reader->header.row_bytes) {
        copy_message(message, message_size, "unexpected row layout after unpacking");
        cpng_reader_close(reader);
        return -1;
    }
    *out = reader;
    return 0;
}

const cpng_header *cpng_reader_header(const cpng_reader *reader) { return &reader->header; }

const char *cpng_reader_message(const cpng_reader *reader) { return reader->message; }

int cpng_reader_read_row(cpng_reader *reader, uint8_t *row) {
    if (setjmp(png_jmpbuf(reader->png))) {
        explain_read_error(reader);
        return -1;
    }
    png_read_row(reader->png, row, NULL);
    return 0;
}

int cpng_reader_read_image(cpng_reader *reader, uint8_t *image, size_t stride) {
    size_t height = reader->header.height;
    if (reader->row_pointers == NULL) {
        reader->row_pointers = malloc((height > 0 ? height : 1) * sizeof(png_bytep));
        if (reader->row_pointers == NULL) {
            copy_message(reader->message, CPNG_MESSAGE_SIZE, "out of memory");
            return -1;
        }
    }
    for (size_t y = 0; y < height; y++) reader->row_pointers[y] = image + y * stride;
    if (setjmp(png_jmpbuf(reader->png))) {
        explain_read_error(reader);
        return -1;
    }
    png_read_image(reader->png, reader->row_pointers);
    return 0;
}

int cpng_reader_finish(cpng_reader *reader) {
    if (setjmp(png_jmpbuf(reader->png))) {
        explain_read_error(reader);
        return -1;
    }
    png_read_end(reader->png, NULL);
    return 0;
}

void cpng_writer_close(cpng_writer *writer) {
    if (writer == NULL) return;
    if (writer->png != NULL) {
        png_destroy_write_struct(&writer->png, writer->info != NULL ? &writer->info : NULL);
    }
    if (writer->file != NULL) fclose(writer->file);
    free(writer->row_pointers);
    free(writer);
}

int cpng_writer_open(const char *path, cpng_writer **out, char *message, size_t message_size) {
    *out = NULL;
    cpng_writer *writer = calloc(1, sizeof *writer);
    if (writer == NULL) {
        copy_message(message, message_size, "out of memory");
        return -1;
    }
    writer->file = fopen(path, "wb");
    if (writer->file == NULL) {
        snprintf(message, message_size, "cannot create: %s", strerror(errno));
        cpng_writer_close(writer);
        return -1;
    }
    writer->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, writer->message, on_error,
                                          on_warning);
    if (writer->png != NULL) writer->info = png_create_info_struct(writer->png);
    if (writer->png == NULL || writer->info == NULL) {
        copy_message(message, message_size, "cannot create a libpng writer");
        cpng_writer_close(writer);
        return -1;
    }
    png_init_io(writer->png, writer->file);
    *out = writer;
    return 0;
}

int cpng_writer_set_header(cpng_writer *writer, uint32_t width, uint32_t height, int bit_depth,
                           int color_type, int interlaced, const uint8_t *palette_rgb,
                           int palette_count, const uint8_t *trans_alpha, int trans_count) {
    png_color palette[256];
    if (palette_count < 0 || palette_count > 256 || trans_count < 0 || trans_count > 256) {
        copy_message(writer->message, CPNG_MESSAGE_SIZE, "palette or tRNS has over 256 entries");
        return -1;
    }
    for (int i = 0; i < palette_count; i++) {
        palette[i].red = palette_rgb[3 * i];
        palette[i].green = palette_rgb[3 * i + 1];
        palette[i].blue = palette_rgb[3 * i + 2];
    }
    if (setjmp(png_jmpbuf(writer->png))) return -1;
    png_set_IHDR(writer->png, writer->info, width, height, bit_depth, color_type,
                 interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_set_PLTE(writer->png, writer->info, palette, palette_count);
        if (trans_count > 0) {
            png_set_tRNS(writer->png, writer->info, trans_alpha, trans_count, NULL);
        }
    }
    png_write_info(writer->png, writer->info);
    if (bit_depth < 8) png_set_packing(writer->png);
    if (interlaced) (void)png_set_interlace_handling(writer->png);
    return 0;
}

int cpng_writer_write_row(cpng_writer *writer, const uint8_t *row) {
    if (setjmp(png_jmpbuf(writer->png))) return -1;
    png_write_row(writer->png, row);
    return 0;
}

int cpng_writer_write_image(cpng_writer *writer, const uint8_t *image, size_t stride) {
    size_t height = png_get_image_height(writer->png, writer->info);
    if (writer->row_pointers == NULL) {
        writer->row_pointers = malloc((height > 0 ? height : 1) * sizeof(png_bytep));
        if (writer->row_pointers == NULL) {
            copy_message(writer->message, CPNG_MESSAGE_SIZE, "out of memory");
            return -1;
        }
    }
    /* libpng takes non-const row pointers but only reads them when writing. */
    for (size_t y = 0; y < height; y++) writer->row_pointers[y] = (png_bytep)(image + y * stride);
    if (setjmp(png_jmpbuf(writer->png))) return -1;
    png_write_image(writer->png, writer->row_pointers);
    return 0;
}

int cpng_writer_finish(cpng_writer *writer) {
    if (setjmp(png_jmpbuf(writer->png))) return -1;
    png_write_end(writer->png, NULL);
    FILE *file = writer->file;
    writer->file = NULL;
    if (fflush(file) != 0 || ferror(file)) {
        snprintf(writer->message, CPNG_MESSAGE_SIZE, "write failed: %s", strerror(errno));
        fclose(file);
        return -1;
    }
    if (fclose(file) != 0) {
        snprintf(writer->message, CPNG_MESSAGE_SIZE, "write failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

const char *cpng_writer_message(const cpng_writer *writer) { return writer->message; }
