// Picks a backend by name. The CUDA one exists only in builds with nvcc (MT_CUDA).
#include <stdexcept>
#include <string>

#include "backend.h"

Backend* make_cpu_backend();
#ifdef MT_CUDA
Backend* make_cuda_backend();  // throws if no GPU is present
#endif

Backend* make_backend(const char* name) {
    std::string n = name;
    if (n == "cpu") return make_cpu_backend();
#ifdef MT_CUDA
    if (n == "cuda") return make_cuda_backend();
#else
    if (n == "cuda") throw std::runtime_error("--device cuda: this build has no CUDA backend (nvcc was not found at build time)");
#endif
    throw std::runtime_error("--device " + n + ": unknown device (expected cpu or cuda)");
}
