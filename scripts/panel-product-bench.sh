#!/bin/bash
# The Winograd passes' matrix products in isolation: oneDNN's batched matmul against segpipe's
# AVX2 panel kernel, on the default model's shapes (scripts/panel-product-bench.c). Not run by CI.
#   scripts/panel-product-bench.sh            # needs gcc, libdnnl-dev; clang if present
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# segpipe's own build compiles the kernel with the Swift toolchain's clang; use it when present.
kernel_cc=$(command -v clang || command -v gcc)
"$kernel_cc" -O2 -I "$root/Sources/CPanelProduct/include" -c "$root/Sources/CPanelProduct/panel_product.c" -o "$work/panel_product.o"
gcc -O2 -fopenmp -I "$root/Sources/CPanelProduct/include" "$root/scripts/panel-product-bench.c" "$work/panel_product.o" \
    -ldnnl -lm -o "$work/panel-product-bench"
"$work/panel-product-bench"
