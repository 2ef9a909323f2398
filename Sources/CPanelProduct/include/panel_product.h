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

#endif
