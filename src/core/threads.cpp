#include "core/threads.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

void use_polite_omp_waits(char** argv) {
    if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
}

const char* omp_wait_description() {
    static std::string text;
    if (const char* policy = std::getenv("OMP_WAIT_POLICY")) text = policy;
    else if (const char* spin = std::getenv("GOMP_SPINCOUNT")) text = std::string("spin ") + spin;
    else text = "OpenMP's default";
    return text.c_str();
}
