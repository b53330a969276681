// Picks a backend by name. The CUDA one exists only in builds with nvcc
// (MT_CUDA), as a plugin: bin/libminitrain_cuda.so, loaded on first use, so
// that CPU runs never map cuBLAS and the CUDA runtime (about 150 MiB resident).
#include <climits>
#include <stdexcept>
#include <string>

#ifdef MT_CUDA
#include <dlfcn.h>
#include <unistd.h>
#endif

#include "core/backend.h"

Backend* make_cpu_backend();

#ifdef MT_CUDA
// Looks for the plugin beside the executable, then in bin/ below it (./train
// sits above bin/). Throws if it is missing or no GPU is present.
static Backend* make_cuda_backend(const std::string& name) {
    // Without the NVIDIA driver's device node there is no GPU to find: do not
    // map CUDA's libraries just to learn that.
    if (access("/dev/nvidiactl", F_OK) != 0)
        throw std::runtime_error("--device " + name + ": no CUDA GPU found (no NVIDIA driver: /dev/nvidiactl is absent)");
    static void* lib = nullptr;
    if (!lib) {
        char exe[PATH_MAX];
        const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        std::string dir = n > 0 ? std::string(exe, n) : "./x";
        dir = dir.substr(0, dir.rfind('/'));
        std::string errors;
        for (const std::string& path : {dir + "/libminitrain_cuda.so", dir + "/bin/libminitrain_cuda.so"}) {
            if ((lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL))) break;
            errors += (errors.empty() ? "" : "; ") + std::string(dlerror());
        }
        if (!lib) throw std::runtime_error("--device " + name + ": cannot load the CUDA backend (" + errors + ")");
    }
    auto make = (Backend * (*)(int)) dlsym(lib, "minitrain_cuda_backend");
    if (!make) throw std::runtime_error("--device " + name + ": the CUDA backend plugin lacks minitrain_cuda_backend");
    return make(name == "cuda-bf16");
}
#endif

Backend* make_backend(const char* name) {
    std::string n = name;
    if (n == "cpu") return make_cpu_backend();
#ifdef MT_CUDA
    if (n == "cuda" || n == "cuda-bf16") return make_cuda_backend(n);
#else
    if (n == "cuda" || n == "cuda-bf16")
        throw std::runtime_error("--device " + n + ": this build has no CUDA backend (nvcc was not found at build time)");
#endif
    throw std::runtime_error("--device " + n + ": unknown device (expected cpu, cuda or cuda-bf16)");
}
