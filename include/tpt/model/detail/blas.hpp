// Which BLAS LibTorch's matrix products run on. Debian's libtorch links the system libblas.so.3,
// which is the reference implementation unless an optimised one (OpenBLAS, BLIS) is installed
// and selected through update-alternatives; PyTorch's own builds carry MKL. The reference BLAS
// is 20 to 30 times slower than OpenBLAS for the products ResNet's small maps would use
// (`bench_train --mode kernels`, and again with LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas
// for the reference one), so code that would turn a convolution into a matrix product asks
// fast_blas() first.
#pragma once

#include <dlfcn.h>

#include <ATen/Context.h>

namespace tpt::detail {

/// True when LibTorch's matrix products run on an optimised BLAS: LibTorch built with MKL, or
/// the library that `sgemm_` resolves to (the one LibTorch calls) is OpenBLAS or BLIS, known by
/// a symbol only they export. Asking for that symbol anywhere in the process would not do:
/// OpenBLAS's LAPACK can be loaded beside the reference BLAS.
inline bool fast_blas() {
  static const bool fast = [] {
    if (at::hasMKL()) return true;
    Dl_info info{};
    void* gemm = dlsym(RTLD_DEFAULT, "sgemm_");
    if (gemm == nullptr || dladdr(gemm, &info) == 0 || info.dli_fname == nullptr) return false;
    void* blas = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    if (blas == nullptr) return false;
    bool optimised = false;
    for (const char* symbol : {"openblas_get_config", "bli_info_get_version_str"})
      optimised = optimised || dlsym(blas, symbol) != nullptr;
    dlclose(blas);
    return optimised;
  }();
  return fast;
}

}  // namespace tpt::detail
