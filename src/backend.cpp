// Picks a backend by name. The CUDA one exists only in builds with nvcc (MT_CUDA).
#include <stdexcept>
#include <string>

#include "backend.h"

Backend* make_cpu_backend();
#ifdef MT_CUDA
Backend* make_cuda_backend();       // throws if no GPU is present
Backend* make_cuda_bf16_backend();  // the same, with bf16 tensor-core matmuls
#endif

Backend* make_backend(const char* name) {
    std::string n = name;
    if (n == "cpu") return make_cpu_backend();
#ifdef MT_CUDA
    if (n == "cuda") return make_cuda_backend();
    if (n == "cuda-bf16") return make_cuda_bf16_backend();
#else
    if (n == "cuda" || n == "cuda-bf16")
        throw std::runtime_error("--device " + n + ": this build has no CUDA backend (nvcc was not found at build time)");
#endif
    throw std::runtime_error("--device " + n + ": unknown device (expected cpu, cuda or cuda-bf16)");
}
