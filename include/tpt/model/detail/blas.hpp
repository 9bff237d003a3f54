// Which BLAS LibTorch's matrix products run on. Debian's libtorch links the system libblas.so.3,
// which is the reference implementation unless an optimised one (OpenBLAS, BLIS) is installed
// and selected through update-alternatives; PyTorch's own builds carry MKL. The reference BLAS
// is about 50 times slower than OpenBLAS for the products ResNet's small maps would use (a 64 x
// 1024 by 1024 x 512 product: 27 ms against 0.5 ms on this project's 2-core machine), so code
// that would turn a convolution into a matrix product asks fast_blas() first.
#pragma once

#include <dlfcn.h>

#include <ATen/Context.h>

namespace tpt::detail {

/// True when LibTorch's matrix products run on an optimised BLAS: LibTorch built with MKL, or
/// OpenBLAS or BLIS loaded in the process (found by a symbol only they export).
inline bool fast_blas() {
  static const bool fast = [] {
    if (at::hasMKL()) return true;
    for (const char* symbol : {"openblas_get_config", "bli_info_get_version_str"})
      if (dlsym(RTLD_DEFAULT, symbol) != nullptr) return true;
    return false;
  }();
  return fast;
}

}  // namespace tpt::detail
