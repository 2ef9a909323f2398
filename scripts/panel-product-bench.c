/* The Winograd passes' matrix products in isolation: oneDNN 2.6's batched matmul against
   segpipe's panel_product (Sources/CPanelProduct) on the default model's shapes, both on two
   OpenMP threads, each timed 15 times; prints the best times and the ratio. Built and run by
   scripts/panel-product-bench.sh. */
#include <dnnl.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "panel_product.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define CHECK(x)                                                  \
    do {                                                          \
        dnnl_status_t s = (x);                                    \
        if (s != dnnl_success) {                                  \
            fprintf(stderr, "oneDNN error %d at %s\n", s, #x);    \
            exit(1);                                              \
        }                                                         \
    } while (0)

int main(void) {
    if (!panel_product_supported()) {
        fprintf(stderr, "panel-product-bench: this CPU lacks AVX2 or FMA\n");
        return 1;
    }
    /* rows (tiles in a chunk), depth (input channels), columns (output channels) */
    static const long shapes[][3] = {
        {455, 32, 32}, {303, 64, 32}, {227, 64, 64}, {151, 128, 64}, {128, 128, 128}, {128, 256, 128},
        {128, 256, 256}, {128, 512, 256}, {72, 256, 512}, {72, 512, 512}, {72, 1024, 512},
    };
    const long positions = 36, repeats = 15;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    printf("%-16s %12s %12s %12s %12s %7s\n", "rows×in×out", "oneDNN ms", "GFLOP/s", "panels ms", "GFLOP/s", "ratio");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        long m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
        dnnl_memory_desc_t a_md, b_md, c_md;
        dnnl_dims_t a_dims = {positions, m, k}, b_dims = {positions, k, n}, c_dims = {positions, m, n};
        CHECK(dnnl_memory_desc_init_by_tag(&a_md, 3, a_dims, dnnl_f32, dnnl_abc));
        CHECK(dnnl_memory_desc_init_by_tag(&b_md, 3, b_dims, dnnl_f32, dnnl_abc));
        CHECK(dnnl_memory_desc_init_by_tag(&c_md, 3, c_dims, dnnl_f32, dnnl_abc));
        dnnl_matmul_desc_t operation;
        CHECK(dnnl_matmul_desc_init(&operation, &a_md, &b_md, NULL, &c_md));
        dnnl_primitive_desc_t descriptor;
        CHECK(dnnl_primitive_desc_create(&descriptor, &operation, NULL, engine, NULL));
        dnnl_primitive_t matmul;
        CHECK(dnnl_primitive_create(&matmul, descriptor));
        dnnl_memory_t a_mem, b_mem, c_mem;
        CHECK(dnnl_memory_create(&a_mem, &a_md, engine, DNNL_MEMORY_ALLOCATE));
        CHECK(dnnl_memory_create(&b_mem, &b_md, engine, DNNL_MEMORY_ALLOCATE));
        CHECK(dnnl_memory_create(&c_mem, &c_md, engine, DNNL_MEMORY_ALLOCATE));
        float *a, *b, *c;
        CHECK(dnnl_memory_get_data_handle(a_mem, (void **)&a));
        CHECK(dnnl_memory_get_data_handle(b_mem, (void **)&b));
        CHECK(dnnl_memory_get_data_handle(c_mem, (void **)&c));
        srand(1);
        for (long i = 0; i < positions * m * k; i++) a[i] = rand() / (float)RAND_MAX - 0.5f;
        for (long i = 0; i < positions * k * n; i++) b[i] = rand() / (float)RAND_MAX - 0.5f;
        float *panels = aligned_alloc(64, positions * k * n * sizeof(float));
        float *c2 = aligned_alloc(64, positions * m * n * sizeof(float));
        if (!panels || !c2) return 1;
        for (long p = 0; p < positions; p++)
            for (long row = 0; row < k; row++)
                for (long col = 0; col < n; col++) {
                    long j = col / 16, width = n - 16 * j < 16 ? n - 16 * j : 16;
                    panels[p * k * n + 16 * j * k + row * width + col % 16] = b[(p * k + row) * n + col];
                }
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}};
        long panelCount = (n + 15) / 16, items = positions * panelCount;
        double best_dnnl = 1e9, best_panels = 1e9;
        for (long r = 0; r < repeats + 2; r++) {
            double t = now();
            CHECK(dnnl_primitive_execute(matmul, stream, 3, args));
            CHECK(dnnl_stream_wait(stream));
            t = now() - t;
            if (r >= 2 && t < best_dnnl) best_dnnl = t;
            t = now();
#pragma omp parallel
            {
                long threads = omp_get_num_threads(), id = omp_get_thread_num();
                long item = items * id / threads, end = items * (id + 1) / threads;
                while (item < end) {
                    long p = item / panelCount, first = item % panelCount;
                    long last = first + (end - item) < panelCount ? first + (end - item) : panelCount;
                    panel_product(m, k, n, a + p * m * k, k, panels + p * k * n, c2 + p * m * n, n, first, last);
                    item += last - first;
                }
            }
            t = now() - t;
            if (r >= 2 && t < best_panels) best_panels = t;
        }
        double worst = 0;
        for (long i = 0; i < positions * m * n; i++) worst = fmax(worst, fabs(c[i] - c2[i]));
        double flops = 2.0 * positions * m * k * n;
        char name[32];
        snprintf(name, sizeof name, "%ld×%ld×%ld", m, k, n);
        printf("%-16s %12.3f %12.1f %12.3f %12.1f %7.2f   (largest difference %.1g)\n", name, best_dnnl * 1e3,
               flops / best_dnnl * 1e-9, best_panels * 1e3, flops / best_panels * 1e-9, best_dnnl / best_panels, worst);
        free(panels);
        free(c2);
        dnnl_memory_destroy(a_mem);
        dnnl_memory_destroy(b_mem);
        dnnl_memory_destroy(c_mem);
        dnnl_primitive_destroy(matmul);
        dnnl_primitive_desc_destroy(descriptor);
    }
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    return 0;
}
