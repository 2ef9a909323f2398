#ifndef SEGPIPE_CDNNL_SHIM_H
#define SEGPIPE_CDNNL_SHIM_H
#include <dnnl.h>
#include <dnnl_debug.h>

/* Swift cannot import these function-like or pointer-cast macros; expose them as functions. */
static inline void *cdnnl_memory_allocate(void) { return DNNL_MEMORY_ALLOCATE; }
static inline void *cdnnl_memory_none(void) { return DNNL_MEMORY_NONE; }
static inline dnnl_dim_t cdnnl_runtime_dim_val(void) { return DNNL_RUNTIME_DIM_VAL; }
#endif
