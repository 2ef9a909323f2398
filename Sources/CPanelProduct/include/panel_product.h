#ifndef SEGPIPE_PANEL_PRODUCT_H
#define SEGPIPE_PANEL_PRODUCT_H

/* Whether this CPU has AVX2 and FMA, which panel_product needs. */
int panel_product_supported(void);

/* C = A·B for panels [first_panel, end_panel) of B's columns.

   A is rows × depth, row-major with rows lda floats apart. C is rows × columns, rows ldc floats
   apart. B is depth × columns (columns a multiple of 8), stored as panels of 16 columns, the last
   one 8 wide when columns is an odd multiple of 8: panel j starts 16·j·depth floats into `panels`
   and holds its rows one after another, width floats each.

   Call only where panel_product_supported() returned 1. */
void panel_product(long rows, long depth, long columns, const float *a, long lda, const float *panels,
                   float *c, long ldc, long first_panel, long end_panel);

/* D (+)= Vᵀ·W over `depth` rows, for column pairs [first_pair, end_pair) of D: the kernel
   gradient of a Winograd position, D[i][o] = Σ_k V[k][i]·W[k][o].

   V (depth × in_channels) and W (depth × out_channels) are stored by blocks of 8 channels:
   channel c of row k at (c / 8)·block_stride + 8·k + c % 8 floats (block_stride at least
   8·depth). D is in_channels × out_channels, row-major. A column pair is 16 output channels
   (the last one 8 when out_channels is an odd multiple of 8); in_channels is a multiple of 8.
   With `accumulate` 1 the product is added to D, else it replaces it.

   Call only where panel_product_supported() returned 1. */
void blocked_gradient_product(long in_channels, long out_channels, long depth, long block_stride, const float *v,
                              const float *w, float *d, long first_pair, long end_pair, int accumulate);

/* Panels [first_panel, end_panel) of Mᵀ, for panel_product: M is rows × columns, row-major,
   both multiples of 8, so Mᵀ is columns × rows, and its panel j (16 of M's rows, the last one 8
   when rows is an odd multiple of 8) starts 16·j·columns floats into `panels`.

   Call only where panel_product_supported() returned 1. */
void pack_transposed_panels(long rows, long columns, const float *m, float *panels, long first_panel, long end_panel);

/* The transpose of the 8×8 block at m (its rows row_stride floats apart) into 64 contiguous
   floats: out[8·k + j] = m[j·row_stride + k].

   Call only where panel_product_supported() returned 1. */
void transpose_block8(const float *m, long row_stride, float *out);

/* Asks for the 64-byte line at `address` to be brought into the caches: a hint that never faults,
   for loops that read more streams than the hardware prefetchers follow. */
static inline void prefetch_line(const void *address) { __builtin_prefetch(address, 0, 3); }

#endif
