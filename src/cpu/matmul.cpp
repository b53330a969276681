// nn.Linear forward and backward on one cache-blocked GEMM, C (+)= A B, where
// A and B are strided views: the transposes that the three products need are
// absorbed when slivers of A and B are copied ("packed") into contiguous
// k-major buffers, so one micro-kernel serves all three.
//
// Blocking, BLIS-style, sized for this Xeon's 48 KiB L1d and 2 MiB L2 per core
// (and checked by measurement: KC = 192 or NC = 512 ran slower):
// - Micro-tile MR x NR = 12 x 32 floats of C held in 24 of the 32 AVX-512
//   registers: each step over k loads two vectors of B, broadcasts 12 values
//   of A and issues 24 independent FMAs, enough to keep both FMA units busy
//   through their latency. Double (run only by the tests) uses 12 x 16 and
//   keeps the other block sizes.
// - KC = 256: one packed A sliver (MR x KC, 12 KiB of floats) stays in L1
//   while it sweeps across the B block.
// - NC = 1024: the packed B block (KC x NC, 1 MiB) stays in L2, which every
//   A sliver then streams from; the rest of L2 holds the rows of C in flight.
// Per task: for each KC block, pack the B block, then for each A sliver pack it
// and sweep it along the task's columns. Sweeping along rows of C keeps the
// tiles being updated on few pages even for the 50304-column LM head.
//
// Threads share the work as rectangles ("tasks") of C, scheduled dynamically.
// A task owns its output, and each element of C is its initial value (bias,
// zero, or what was there) plus the KC blocks in k order, each block summed in
// k order: the result depends on the shapes alone, never on the thread count
// or on which thread ran which task.
#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <memory>

#include "cpu/kernels.h"

namespace cpu {
namespace {

constexpr int MR = 12;
constexpr int KC = 256;
constexpr int NC = 1024;
// Two tasks per thread, scheduled dynamically, so that a thread slowed by other
// work on the machine can hand part of its share to the others. More would be
// smaller, and a smaller task packs more of A and B per flop.
constexpr int kTasksPerThread = 2;
// Below this many multiply-adds (~10 us on one core) waking the other threads
// costs more than it saves, so the calling thread does all the tasks.
constexpr double kMinParallelMacs = 1 << 19;

template <typename F>
constexpr int NR = 128 / sizeof(F);  // two 64-byte vectors

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }
inline int round_up(int a, int b) { return ceil_div(a, b) * b; }

// Element (r, c) of a matrix is p[r * rs + c * cs]: a row-major matrix has
// (rs, cs) = (cols, 1), its transpose (1, cols).
template <typename F>
struct Strided {
    const F* p;
    ptrdiff_t rs, cs;
};

template <typename F>
struct PackBuffers {
    alignas(64) F a[MR * KC];
    alignas(64) F b[KC * NC];
};

// The calling thread's packing buffers, allocated on its first GEMM and reused
// by every later one, so only a thread's first call allocates. On the heap rather
// than static thread_local arrays: static TLS of this size would be carved out
// of every thread's stack, and threads with small stacks would fail to start.
template <typename F>
PackBuffers<F>& pack_buffers() {
    static thread_local std::unique_ptr<PackBuffers<F>> bufs = std::make_unique<PackBuffers<F>>();
    return *bufs;
}

// dst[k * W + l] = src[l * lane_stride + k * k_stride] for k < kc, l < lanes;
// lanes past `lanes` are zero-filled so edge tiles run the full micro-kernel.
template <typename F, int W>
void pack_sliver(F* __restrict dst, const F* __restrict src, ptrdiff_t lane_stride,
                 ptrdiff_t k_stride, int lanes, int kc) {
    if (lanes == W) {
        for (int k = 0; k < kc; k++)
#pragma omp simd
            for (int l = 0; l < W; l++) dst[k * W + l] = src[l * lane_stride + k * k_stride];
    } else {
        for (int k = 0; k < kc; k++)
            for (int l = 0; l < W; l++)
                dst[k * W + l] = l < lanes ? src[l * lane_stride + k * k_stride] : F(0);
    }
}

// acc(MR,NR) = bias (broadcast down the rows; zero if null) + sum_k a(k,:)^T b(k,:)
// over packed slivers a (kc,MR) and b (kc,NR); then c[:rows,:cols] = acc, or += acc
// if add. The accumulator tile lives in registers for the whole k loop.
template <typename F>
void micro_kernel(int kc, const F* __restrict a, const F* __restrict b, F* __restrict c,
                  ptrdiff_t ldc, int rows, int cols, bool add, const F* bias) {
    constexpr int W = NR<F>;
    F acc[MR][W];
    for (int j = 0; j < W; j++) acc[0][j] = bias && j < cols ? bias[j] : F(0);
    for (int i = 1; i < MR; i++)
        for (int j = 0; j < W; j++) acc[i][j] = acc[0][j];
    for (int k = 0; k < kc; k++) {
        const F* ak = a + (size_t)k * MR;
        const F* bk = b + (size_t)k * W;
        for (int i = 0; i < MR; i++)
#pragma omp simd
            for (int j = 0; j < W; j++) acc[i][j] += ak[i] * bk[j];
    }
    if (rows == MR && cols == W) {
        for (int i = 0; i < MR; i++) {
            F* ci = c + i * ldc;
            if (add)
#pragma omp simd
                for (int j = 0; j < W; j++) ci[j] += acc[i][j];
            else
#pragma omp simd
                for (int j = 0; j < W; j++) ci[j] = acc[i][j];
        }
    } else {
        for (int i = 0; i < rows; i++) {
            F* ci = c + i * ldc;
            if (add)
                for (int j = 0; j < cols; j++) ci[j] += acc[i][j];
            else
                for (int j = 0; j < cols; j++) ci[j] = acc[i][j];
        }
    }
}

// c (M,N), row-major: c = a b + bias, or c += a b if accumulate (bias unused);
// a is (M,K), b is (K,N), bias (N) may be null.
template <typename F>
void gemm(int M, int N, int K, Strided<F> a, Strided<F> b, F* c, bool accumulate, const F* bias) {
    constexpr int W = NR<F>;
    if (M <= 0 || N <= 0) return;
    // Cut C into at least `want` tasks (fewer only if C has fewer micro-tiles),
    // choosing the cut that packs the fewest elements: every cut across the rows
    // packs B once more (N elements per k), every cut across the columns packs A
    // once more (M per k). Columns are cut at least every NC.
    int want = kTasksPerThread * omp_get_max_threads();
    int nmin = ceil_div(N, NC), mmax = ceil_div(M, MR), nmax = ceil_div(N, W);
    int mparts = 1, nparts = nmin;
    double fewest = -1;
    for (int mp = 1; mp <= std::min(want, mmax); mp++) {
        int np = std::min(nmax, std::max(nmin, ceil_div(want, mp)));
        double packed = (double)mp * N + (double)np * M;
        if (fewest < 0 || packed < fewest) {
            fewest = packed;
            mparts = mp;
            nparts = np;
        }
    }
    int tm = round_up(ceil_div(M, mparts), MR), tn = round_up(ceil_div(N, nparts), W);
    mparts = ceil_div(M, tm);
    nparts = ceil_div(N, tn);
    int kblocks = std::max(1, ceil_div(K, KC));  // K = 0 still writes c = bias

#pragma omp parallel for schedule(dynamic) if ((double)M * N * K >= kMinParallelMacs)
    for (int task = 0; task < mparts * nparts; task++) {
        PackBuffers<F>& buf = pack_buffers<F>();
        int m0 = task / nparts * tm, n0 = task % nparts * tn;
        int m1 = std::min(M, m0 + tm), n1 = std::min(N, n0 + tn);
        for (int kb = 0; kb < kblocks; kb++) {
            int k0 = kb * KC, kc = std::min(KC, K - k0);
            for (int j = n0; j < n1; j += W)
                pack_sliver<F, W>(buf.b + (size_t)(j - n0) * kc, b.p + j * b.cs + k0 * b.rs, b.cs,
                                  b.rs, std::min(W, n1 - j), kc);
            for (int i = m0; i < m1; i += MR) {
                pack_sliver<F, MR>(buf.a, a.p + i * a.rs + k0 * a.cs, a.rs, a.cs,
                                   std::min(MR, m1 - i), kc);
                for (int j = n0; j < n1; j += W)
                    micro_kernel(kc, buf.a, buf.b + (size_t)(j - n0) * kc, c + (size_t)i * N + j, N,
                                 std::min(MR, m1 - i), std::min(W, n1 - j), accumulate || kb > 0,
                                 kb == 0 && !accumulate && bias ? bias + j : nullptr);
            }
        }
    }
}

}  // namespace

// out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC); bias may be null.
template <typename F>
void matmul_forward(F* out, const F* inp, const F* weight, const F* bias, int N, int C, int OC) {
    gemm<F>(N, OC, C, {inp, C, 1}, {weight, 1, C}, out, false, bias);
}

// out (N,OC) += inp (N,C) @ weight (OC,C)^T.
template <typename F>
void matmul_accumulate(F* out, const F* inp, const F* weight, int N, int C, int OC) {
    gemm<F>(N, OC, C, {inp, C, 1}, {weight, 1, C}, out, true, nullptr);
}

// dinp (N,C) += dout (N,OC) @ weight (OC,C);  dweight (OC,C) += dout^T @ inp (N,C);
// dbias (OC) += sum_n dout[n,:]. A null gradient is skipped.
// dbias adds the rows in order per column, in fixed chunks of columns.
template <typename F>
void matmul_backward(F* dinp, F* dweight, F* dbias, const F* dout, const F* inp, const F* weight,
                     int N, int C, int OC) {
    if (dinp) gemm<F>(N, C, OC, {dout, OC, 1}, {weight, C, 1}, dinp, true, nullptr);
    if (dweight) gemm<F>(OC, C, N, {dout, 1, OC}, {inp, C, 1}, dweight, true, nullptr);
    if (dbias) {
        constexpr int kChunk = 64;
#pragma omp parallel for schedule(static) if ((double)N * OC >= kMinParallelMacs)
        for (int o0 = 0; o0 < OC; o0 += kChunk) {
            int width = std::min(kChunk, OC - o0);
            F sum[kChunk] = {};
            for (int n = 0; n < N; n++) {
                const F* dout_n = dout + (size_t)n * OC + o0;
                for (int o = 0; o < width; o++) sum[o] += dout_n[o];
            }
            for (int o = 0; o < width; o++) dbias[o0 + o] += sum[o];
        }
    }
}

template void matmul_forward<float>(float*, const float*, const float*, const float*, int, int,
                                    int);
template void matmul_forward<double>(double*, const double*, const double*, const double*, int, int,
                                     int);
template void matmul_accumulate<float>(float*, const float*, const float*, int, int, int);
template void matmul_accumulate<double>(double*, const double*, const double*, int, int, int);
template void matmul_backward<float>(float*, float*, float*, const float*, const float*,
                                     const float*, int, int, int);
template void matmul_backward<double>(double*, double*, double*, const double*, const double*,
                                      const double*, int, int, int);

}  // namespace cpu
