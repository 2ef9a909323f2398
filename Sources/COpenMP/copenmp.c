#include "copenmp.h"

/* libgomp's entry points, declared here because Swift's clang ships no omp.h and would compile
   `#pragma omp` to LLVM's runtime, not to the GNU one that Debian's oneDNN uses. GOMP_parallel
   is the stable GOMP_4.0 ABI that GCC emits for `#pragma omp parallel`. */
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
extern int omp_get_max_threads(void);

struct copenmp_job {
    long count;
    void (*body)(void *context, long index);
    void *context;
};

static void copenmp_run(void *data) {
    const struct copenmp_job *job = data;
    long threads = omp_get_num_threads();
    for (long i = omp_get_thread_num(); i < job->count; i += threads) job->body(job->context, i);
}

void copenmp_parallel_for(long count, void (*body)(void *context, long index), void *context) {
    struct copenmp_job job = { count, body, context };
    GOMP_parallel(copenmp_run, &job, 0, 0);
}

int copenmp_max_threads(void) { return omp_get_max_threads(); }
