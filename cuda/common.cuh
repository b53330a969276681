// Shared by the CUDA kernels: error checks that throw, launch geometry, warp and
// block reductions whose order is fixed by the launch shape, column sums, and
// the backend's growable scratch buffer.
//
// Every CUDA and cuBLAS call goes through CUDA_CHECK / CUBLAS_CHECK, and every
// kernel launch is followed by CHECK_LAUNCH(). A kernel that faults while
// running reports at the next checked call; with MINITRAIN_CUDA_SYNC=1 in the
// environment CHECK_LAUNCH() also waits for the kernel, so the error names the
// launch that caused it.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace gpu {

inline void check_cuda(cudaError_t err, const char* call, const char* file, int line) {
    if (err != cudaSuccess)
        throw std::runtime_error(std::string("CUDA error at ") + file + ":" + std::to_string(line) +
                                 ": " + call + ": " + cudaGetErrorName(err) + " (" +
                                 cudaGetErrorString(err) + ")");
}

inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
    if (status != CUBLAS_STATUS_SUCCESS)
        throw std::runtime_error(std::string("cuBLAS error at ") + file + ":" +
                                 std::to_string(line) + ": " + call + ": " +
                                 cublasGetStatusName(status) + " (" +
                                 cublasGetStatusString(status) + ")");
}

inline void check_launch(const char* file, int line) {
    check_cuda(cudaGetLastError(), "kernel launch", file, line);
    static const bool sync_each = std::getenv("MINITRAIN_CUDA_SYNC") != nullptr;
    if (sync_each) check_cuda(cudaDeviceSynchronize(), "kernel run", file, line);
}

}  // namespace gpu

#define CUDA_CHECK(call) ::gpu::check_cuda((call), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(call) ::gpu::check_cublas((call), #call, __FILE__, __LINE__)
#define CHECK_LAUNCH() ::gpu::check_launch(__FILE__, __LINE__)

namespace gpu {

constexpr int kThreads = 256;  // threads per block of the elementwise and row kernels
constexpr int kWarp = 32;

// Blocks for a grid-stride loop over n items: one item per thread up to a cap
// (grid-stride loops then cover the rest), at least one block.
inline unsigned grid_for(size_t n, int threads = kThreads) {
    size_t blocks = (n + threads - 1) / threads;
    return (unsigned)(blocks < 1 ? 1 : (blocks > (1u << 20) ? (1u << 20) : blocks));
}

// Blocks of kThreads for one warp per row, N rows.
inline unsigned grid_for_warps(size_t rows) {
    const size_t warps_per_block = kThreads / kWarp;
    size_t blocks = (rows + warps_per_block - 1) / warps_per_block;
    if (blocks > 0x7fffffffu) throw std::invalid_argument("CUDA backend: too many rows for one launch");
    return (unsigned)(blocks < 1 ? 1 : blocks);
}

__device__ inline size_t thread_index() { return blockIdx.x * (size_t)blockDim.x + threadIdx.x; }
__device__ inline size_t thread_count() { return (size_t)gridDim.x * blockDim.x; }
// The row a warp owns in a one-warp-per-row kernel, and the thread's lane in it.
__device__ inline size_t warp_row() { return thread_index() / kWarp; }
__device__ inline int lane() { return threadIdx.x % kWarp; }

struct Sum {
    template <typename T>
    __device__ T operator()(T a, T b) const { return a + b; }
};
struct Max {
    __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// The butterfly leaves the same bits in every lane: at each level a lane and
// its partner add the same two values, and float addition commutes exactly.
template <typename T, typename Op>
__device__ T warp_reduce(T v, Op op) {
    for (int offset = kWarp / 2; offset > 0; offset /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

// Reduces one value per thread over the block (blockDim.x a multiple of 32)
// and returns the result to every thread. Every thread of the block must call it.
template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T identity) {
    __shared__ T warp_results[kWarp];
    __shared__ T result;
    v = warp_reduce(v, op);
    const int warp = threadIdx.x / kWarp, nwarps = blockDim.x / kWarp;
    __syncthreads();  // an earlier call's readers are done with the shared slots
    if (lane() == 0) warp_results[warp] = v;
    __syncthreads();
    if (warp == 0) {
        T w = warp_reduce(lane() < nwarps ? warp_results[lane()] : identity, op);
        if (lane() == 0) result = w;
    }
    __syncthreads();
    return result;
}

// out[c] += sum_{n<N} term(n, c) for c < C. A block owns 32 columns: thread
// (x, y) adds rows y, y+32, y+64, ... of column x in order, then thread (x, 0)
// adds the 32 partial sums in order of y. The order depends on N alone, so
// the result is the same on every run, with no atomics.
template <typename Term>
__global__ void __launch_bounds__(kWarp * kWarp) column_sums_kernel(float* out, int N, size_t C, Term term) {
    __shared__ float partial[kWarp][kWarp + 1];  // +1: threads of a warp hit different banks
    const size_t c = blockIdx.x * (size_t)kWarp + threadIdx.x;
    float acc = 0.0f;
    if (c < C)
        for (int n = threadIdx.y; n < N; n += kWarp) acc += term(n, c);
    partial[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float total = 0.0f;
        for (int y = 0; y < kWarp; y++) total += partial[y][threadIdx.x];
        out[c] += total;
    }
}

template <typename Term>
void column_sums(float* out, int N, size_t C, Term term) {
    if (N == 0 || C == 0) return;
    const size_t blocks = (C + kWarp - 1) / kWarp;
    if (blocks > 0x7fffffffu) throw std::invalid_argument("CUDA backend: too many columns for one launch");
    column_sums_kernel<<<(unsigned)blocks, dim3(kWarp, kWarp)>>>(out, N, C, term);
    CHECK_LAUNCH();
}

// Term for column_sums: element (n, c) of a row-major matrix with rows ld apart.
struct MatrixElement {
    const float* x;
    size_t ld;
    __device__ float operator()(int n, size_t c) const { return x[n * ld + c]; }
};

// Device memory reused by the kernels that need a work area (attention).
// It grows to the largest request seen, so only the first call at a new
// largest shape allocates; a training step at a fixed shape allocates nothing.
class Scratch {
  public:
    Scratch() = default;
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch() { cudaFree(ptr_); }  // errors cannot be reported from a destructor

    float* floats(size_t n) {
        const size_t need = n * sizeof(float);
        if (need > bytes_) {
            CUDA_CHECK(cudaDeviceSynchronize());  // work queued on the old buffer finishes first
            CUDA_CHECK(cudaFree(ptr_));
            ptr_ = nullptr;
            bytes_ = 0;
            CUDA_CHECK(cudaMalloc(&ptr_, need));
            bytes_ = need;
        }
        return (float*)ptr_;
    }

  private:
    void* ptr_ = nullptr;
    size_t bytes_ = 0;
};

}  // namespace gpu
