#ifndef SEGPIPE_CTIFF_SHIM_H
#define SEGPIPE_CTIFF_SHIM_H
#include <tiffio.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* libtiff reports errors through printf-style callbacks taking a va_list, which Swift cannot
   format. These helpers format each message into a per-handle buffer that Swift reads back, so
   nothing is printed to stderr and every error can name its file. */
typedef struct ctiff_messages {
    char lastError[1024];
    char lastWarning[1024];
    int errorCount;
    int warningCount;
    /* Set by writers: a write error's errno is worth naming. A reader leaves it 0, so that a
       stale errno of an earlier write never explains a read error. */
    int namesWriteErrno;
} ctiff_messages;

/* errno values only a failed write leaves; libtiff's "Write error" does not say which. */
static inline int ctiff_is_write_errno(int e) {
    return e == ENOSPC || e == EDQUOT || e == EFBIG || e == EIO || e == EROFS;
}

static inline int ctiff_error_handler(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    int failure = errno;
    ctiff_messages *m = (ctiff_messages *)user;
    if (m == NULL) return 1;
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    if (m->namesWriteErrno && ctiff_is_write_errno(failure)) {
        size_t used = strlen(text);
        snprintf(text + used, sizeof text - used, " (%s)", strerror(failure));
    }
    if (module != NULL && module[0] != 0 && strstr(text, module) != text)
        snprintf(m->lastError, sizeof m->lastError, "%s: %s", module, text);
    else
        snprintf(m->lastError, sizeof m->lastError, "%s", text);
    m->errorCount += 1;
    return 1;
}

static inline int ctiff_warning_handler(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif; (void)module;
    ctiff_messages *m = (ctiff_messages *)user;
    if (m == NULL) return 1;
    vsnprintf(m->lastWarning, sizeof m->lastWarning, fmt, ap);
    m->warningCount += 1;
    return 1;
}

/* Opens a file with per-handle message capture and a cap on any single allocation libtiff makes,
   so a forged header cannot make it allocate without bound. */
static inline TIFF *ctiff_open(const char *path, const char *mode, ctiff_messages *messages, long maxSingleAlloc) {
    TIFFSetErrorHandler(NULL);
    TIFFSetWarningHandler(NULL);
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (opts == NULL) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(opts, ctiff_error_handler, messages);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, ctiff_warning_handler, messages);
    if (maxSingleAlloc > 0) TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)maxSingleAlloc);
    TIFF *tif = TIFFOpenExt(path, mode, opts);
    TIFFOpenOptionsFree(opts);
    return tif;
}

/* Variadic tag accessors are not callable from Swift; these fix the argument types. */
static inline int ctiff_get_u16(TIFF *t, uint32_t tag, uint16_t *v) { return TIFFGetField(t, tag, v); }
static inline int ctiff_get_u32(TIFF *t, uint32_t tag, uint32_t *v) { return TIFFGetField(t, tag, v); }
static inline int ctiff_get_u64(TIFF *t, uint32_t tag, uint64_t *v) { return TIFFGetField(t, tag, v); }
static inline int ctiff_get_double(TIFF *t, uint32_t tag, double *v) { return TIFFGetField(t, tag, v); }
static inline int ctiff_get_string(TIFF *t, uint32_t tag, char **v) { return TIFFGetField(t, tag, v); }
static inline int ctiff_get_u16_array(TIFF *t, uint32_t tag, uint32_t *count, uint16_t **v) {
    uint16_t c16 = 0; int ok;
    const TIFFField *f = TIFFFieldWithTag(t, tag);
    if (f == NULL) return 0;
    if (TIFFFieldPassCount(f) && TIFFFieldSetGetCountSize(f) == 4) { ok = TIFFGetField(t, tag, count, v); }
    else { ok = TIFFGetField(t, tag, &c16, v); *count = c16; }
    return ok;
}
static inline int ctiff_get_double_array(TIFF *t, uint32_t tag, uint32_t *count, double **v) {
    uint16_t c16 = 0; int ok;
    const TIFFField *f = TIFFFieldWithTag(t, tag);
    if (f == NULL) return 0;
    if (TIFFFieldPassCount(f) && TIFFFieldSetGetCountSize(f) == 4) { ok = TIFFGetField(t, tag, count, v); }
    else { ok = TIFFGetField(t, tag, &c16, v); *count = c16; }
    return ok;
}
static inline int ctiff_get_colormap(TIFF *t, uint16_t **r, uint16_t **g, uint16_t **b) { return TIFFGetField(t, TIFFTAG_COLORMAP, r, g, b); }
static inline int ctiff_set_u16(TIFF *t, uint32_t tag, uint16_t v) { return TIFFSetField(t, tag, v); }
static inline int ctiff_set_u32(TIFF *t, uint32_t tag, uint32_t v) { return TIFFSetField(t, tag, v); }
static inline int ctiff_set_int(TIFF *t, uint32_t tag, int v) { return TIFFSetField(t, tag, v); }
static inline int ctiff_set_string(TIFF *t, uint32_t tag, const char *v) { return TIFFSetField(t, tag, v); }
static inline int ctiff_set_u16_array(TIFF *t, uint32_t tag, uint32_t count, const uint16_t *v) {
    const TIFFField *f = TIFFFieldWithTag(t, tag);
    if (f != NULL && TIFFFieldSetGetCountSize(f) == 4) return TIFFSetField(t, tag, count, v);
    return TIFFSetField(t, tag, (uint16_t)count, v);
}
static inline int ctiff_set_double_array(TIFF *t, uint32_t tag, uint32_t count, const double *v) {
    const TIFFField *f = TIFFFieldWithTag(t, tag);
    if (f != NULL && TIFFFieldSetGetCountSize(f) == 4) return TIFFSetField(t, tag, count, v);
    return TIFFSetField(t, tag, (uint16_t)count, v);
}
static inline int ctiff_set_extrasamples(TIFF *t, uint16_t count, const uint16_t *v) { return TIFFSetField(t, TIFFTAG_EXTRASAMPLES, count, v); }
static inline int ctiff_set_colormap(TIFF *t, const uint16_t *r, const uint16_t *g, const uint16_t *b) { return TIFFSetField(t, TIFFTAG_COLORMAP, r, g, b); }

/* GeoTIFF and GDAL tags. libtiff does not know them: it reads them as anonymous fields (whose
   types are whatever the file stored) but refuses to write them until they are registered on
   the handle. */
enum {
    CTIFF_TAG_MODELPIXELSCALE = 33550,
    CTIFF_TAG_MODELTIEPOINT = 33922,
    CTIFF_TAG_MODELTRANSFORMATION = 34264,
    CTIFF_TAG_GEOKEYDIRECTORY = 34735,
    CTIFF_TAG_GEODOUBLEPARAMS = 34736,
    CTIFF_TAG_GEOASCIIPARAMS = 34737,
    CTIFF_TAG_GDAL_NODATA = 42113,
    CTIFF_TAG_RPCCOEFFICIENT = 50844
};

/* Registers the GeoTIFF, GDAL_NODATA and RPC coefficient tags on a handle opened for writing, with the types
   libgeotiff and GDAL use, so TIFFSetField accepts them. */
static inline int ctiff_register_geotiff_tags(TIFF *t) {
    static const TIFFFieldInfo fields[] = {
        {CTIFF_TAG_MODELPIXELSCALE, -1, -1, TIFF_DOUBLE, FIELD_CUSTOM, 1, 1, (char *)"ModelPixelScaleTag"},
        {CTIFF_TAG_MODELTIEPOINT, -1, -1, TIFF_DOUBLE, FIELD_CUSTOM, 1, 1, (char *)"ModelTiepointTag"},
        {CTIFF_TAG_MODELTRANSFORMATION, -1, -1, TIFF_DOUBLE, FIELD_CUSTOM, 1, 1, (char *)"ModelTransformationTag"},
        {CTIFF_TAG_GEOKEYDIRECTORY, -1, -1, TIFF_SHORT, FIELD_CUSTOM, 1, 1, (char *)"GeoKeyDirectoryTag"},
        {CTIFF_TAG_GEODOUBLEPARAMS, -1, -1, TIFF_DOUBLE, FIELD_CUSTOM, 1, 1, (char *)"GeoDoubleParamsTag"},
        {CTIFF_TAG_GEOASCIIPARAMS, -1, -1, TIFF_ASCII, FIELD_CUSTOM, 1, 0, (char *)"GeoASCIIParamsTag"},
        {CTIFF_TAG_GDAL_NODATA, -1, -1, TIFF_ASCII, FIELD_CUSTOM, 1, 0, (char *)"GDALNoDataValue"},
        {CTIFF_TAG_RPCCOEFFICIENT, -1, -1, TIFF_DOUBLE, FIELD_CUSTOM, 1, 1, (char *)"RPCCoefficientTag"},
    };
    return TIFFMergeFieldInfo(t, fields, sizeof fields / sizeof fields[0]) == 0;
}

/* Fetches a tag's raw value whatever way libtiff knows the field (registered or anonymous, with
   a 16- or 32-bit count or none): the stored type, the element count and a pointer to the values
   that stays valid until the directory changes. Returns 0 when the tag is absent. */
static inline int ctiff_get_raw(TIFF *t, uint32_t tag, TIFFDataType *type, uint32_t *count, const void **data) {
    const TIFFField *f = TIFFFieldWithTag(t, tag);
    if (f == NULL) return 0;
    *type = TIFFFieldDataType(f);
    *count = 0;
    *data = NULL;
    int ok;
    if (TIFFFieldPassCount(f)) {
        if (TIFFFieldSetGetCountSize(f) == 4) {
            uint32_t c = 0; void *p = NULL;
            ok = TIFFGetField(t, tag, &c, &p);
            *count = c; *data = p;
        } else {
            uint16_t c = 0; void *p = NULL;
            ok = TIFFGetField(t, tag, &c, &p);
            *count = c; *data = p;
        }
    } else if (*type == TIFF_ASCII) {
        char *p = NULL;
        ok = TIFFGetField(t, tag, &p);
        *data = p;
        *count = p != NULL ? (uint32_t)strlen(p) : 0;
    } else {
        return 0;
    }
    if (*data == NULL) return 0;
    return ok;
}

static inline int ctiff_get_u16_defaulted(TIFF *t, uint32_t tag, uint16_t *v) { return TIFFGetFieldDefaulted(t, tag, v); }
static inline int ctiff_get_u32_defaulted(TIFF *t, uint32_t tag, uint32_t *v) { return TIFFGetFieldDefaulted(t, tag, v); }
static inline int ctiff_set_u16_pair(TIFF *t, uint32_t tag, uint16_t a, uint16_t b) { return TIFFSetField(t, tag, a, b); }
static inline int ctiff_set_double(TIFF *t, uint32_t tag, double v) { return TIFFSetField(t, tag, v); }
#endif
