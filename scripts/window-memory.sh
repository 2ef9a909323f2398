#!/bin/sh
# Shows that reading a window costs memory in proportion to the window, not the image: builds a
# 20000×20000 8-band uint16 tiled (256×256, Deflate) TIFF — 6.4 GB of samples, noise around the
# centre and zeros elsewhere so the file stays small — then reads a 512×512 window of it with
# `segpipe inspect --stats --window` and reports the peak resident memory. With --whole-scene it
# also predicts the whole scene (43,681 tiles) with a tiny model (8 filters, depth 3, trained for
# a few steps on sample-data/) and reports that run's peak memory and time: several minutes.
#
# Usage: scripts/window-memory.sh [SEGPIPE_BINARY] [--whole-scene]   (default .build/release/segpipe)
# Needs a C compiler, libtiff-dev and zlib headers, and /usr/bin/time.
set -eu
SEGPIPE=${1:-.build/release/segpipe}
WHOLE_SCENE=${2:-}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cat > "$WORK/make-big-tiff.c" <<'EOF'
/* Pre-compresses one zero tile and one noise tile, then writes them as raw tiles: seconds
   instead of compressing 6.4 GB. */
#include <tiffio.h>
#include <zlib.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    const uint32_t W = 20000, H = 20000, T = 256, B = 8;
    if (argc != 2) return 2;
    TIFF *t = TIFFOpen(argv[1], "w");
    if (t == NULL) return 1;
    uint16_t extra[7] = {0};
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, W); TIFFSetField(t, TIFFTAG_IMAGELENGTH, H);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, B); TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 16);
    TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_UINT);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 7, extra);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
    TIFFSetField(t, TIFFTAG_TILEWIDTH, T); TIFFSetField(t, TIFFTAG_TILELENGTH, T);
    size_t raw = (size_t)T * T * B * 2;
    uint16_t *tile = calloc(raw, 1);
    uLongf zeroSize = compressBound(raw), noiseSize = compressBound(raw);
    unsigned char *zero = malloc(zeroSize), *noise = malloc(noiseSize);
    if (tile == NULL || zero == NULL || noise == NULL) return 1;
    compress2(zero, &zeroSize, (unsigned char *)tile, raw, 6);
    srand(1);
    for (size_t i = 0; i < raw / 2; i++) tile[i] = (uint16_t)(rand() & 2047);
    compress2(noise, &noiseSize, (unsigned char *)tile, raw, 6);
    uint32_t across = (W + T - 1) / T, down = (H + T - 1) / T;
    for (uint32_t r = 0; r < down; r++)
        for (uint32_t c = 0; c < across; c++) {
            int centre = r * T + T > 9800 && r * T < 10800 && c * T + T > 9800 && c * T < 10800;
            if (TIFFWriteRawTile(t, r * across + c, centre ? noise : zero, centre ? noiseSize : zeroSize) < 0) return 1;
        }
    TIFFClose(t);
    return 0;
}
EOF
cc -O2 -o "$WORK/make-big-tiff" "$WORK/make-big-tiff.c" $(pkg-config --cflags --libs libtiff-4) -lz
"$WORK/make-big-tiff" "$WORK/big.tif"
echo "file: $(du -h "$WORK/big.tif" | cut -f1) on disk, 20000x20000x8 uint16 = 6400 MB of samples"

measure() {
    /usr/bin/time -v "$SEGPIPE" inspect --stats --window "$1" "$WORK/big.tif" 2> "$WORK/time.txt" > "$WORK/out.txt"
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt")
    echo "window $1: peak RSS $((rss / 1024)) MB"
}
measure 10000,10000,512,512
measure 10000,10000,2048,2048
measure 0,0,1,1

if [ "$WHOLE_SCENE" = --whole-scene ]; then
    "$SEGPIPE" train --images sample-data/images --masks sample-data/masks --out "$WORK/tiny.safetensors" \
        --filters 8 --depth 3 --epochs 1 --steps-per-epoch 4 --batch-size 4 > /dev/null
    mkdir "$WORK/scene" && mv "$WORK/big.tif" "$WORK/scene/"
    /usr/bin/time -f "%M %e" -o "$WORK/time.txt" \
        "$SEGPIPE" predict --model "$WORK/tiny.safetensors" --out "$WORK/maps" "$WORK/scene" > /dev/null
    read -r kilobytes seconds < "$WORK/time.txt"
    echo "whole scene predicted: peak RSS $((kilobytes / 1024)) MB, $seconds s"
fi
