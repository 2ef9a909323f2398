#ifndef SEGPIPE_CPNG_H
#define SEGPIPE_CPNG_H
#include <stdint.h>
#include <stddef.h>
/* Placeholder until the PNG shim lands: the libpng setjmp boundary lives in this target. */
int cpng_library_version(void);
#endif
