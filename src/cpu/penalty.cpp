// L1 and L2 penalties as gradient terms: grad += l2 * param + l1 * sign(param).
#include "cpu/kernels.h"

namespace cpu {

void penalty_grad(float* grad, const float* param, size_t n, float l1, float l2) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float sign = (float)(param[i] > 0.0f) - (float)(param[i] < 0.0f);
        grad[i] += l2 * param[i] + l1 * sign;
    }
}

}  // namespace cpu
