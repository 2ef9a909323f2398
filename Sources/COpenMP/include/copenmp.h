#ifndef SEGPIPE_COPENMP_H
#define SEGPIPE_COPENMP_H

/* Runs body(context, i) for i in [0, count) on OpenMP's thread team: the same threads oneDNN
   runs its primitives on. Host work between primitives then uses the cores those threads would
   otherwise spend spin-waiting, instead of competing with them from other threads. */
void copenmp_parallel_for(long count, void (*body)(void *context, long index), void *context);

/* The number of threads an OpenMP parallel region gets. */
int copenmp_max_threads(void);

#endif
