// Multi-head scaled dot-product attention with key masks and dropout on the probabilities.
//
// One (batch, head) pair is one unit of parallel work: it owns its slices of out and dqkv,
// and every sum it forms runs sequentially inside it, so results are bitwise the same for
// any number of threads. Inside a pair, queries go in groups of R rows. Every product of
// a matrix with a head's keys or values runs through dot_block, which accumulates R x KB
// outputs in vector registers, reading R rows against a KB-wide strip of a tile. The tiles
// are the pair's keys and values copied out of the packed qkv rows: transposed, or with
// rows padded to a multiple of KB, so that strips are contiguous and never run off an edge.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/mathfn.h"
#include "core/rng.h"

namespace cpu {

namespace {

constexpr int KB = 16;       // strip width: one AVX-512 register of floats
constexpr int R = 8;         // query rows per group: independent FMA chains per strip load
constexpr int kMaxT = 1024;  // bounds the per-thread scratch and the stack buffers
constexpr int kMaxHS = 128;

// The buffers below are sized by these limits; refuse shapes beyond them.
void check_shapes(const char* kernel, int T, int C, int NH) {
    if (NH <= 0 || C % NH != 0)
        throw std::invalid_argument(std::string(kernel) + ": C=" + std::to_string(C) +
                                    " is not a multiple of NH=" + std::to_string(NH));
    if (T > kMaxT || C / NH > kMaxHS)
        throw std::invalid_argument(std::string(kernel) + ": T=" + std::to_string(T) +
                                    ", head size " + std::to_string(C / NH) +
                                    " exceed the CPU limits T <= " + std::to_string(kMaxT) +
                                    ", head size <= " + std::to_string(kMaxHS));
}

int round_up(int n) { return (n + KB - 1) / KB * KB; }

// One pair's working set, from two (T, hs) operands x and y whose rows are `stride` apart:
//   xt (hs, Tp): xt[i*Tp + s] = x[s][i], Tp = T rounded up to KB, zero past T;
//   yp (T, hsp): yp[s*hsp + i] = y[s][i], hsp = hs rounded up to KB, zero past hs;
//   rows_a, rows_b (R, Tp): two rows of scratch for each query of a group.
// It lives in a per-thread area that grows to the largest shape seen (bounded by kMaxT,
// kMaxHS), so only a thread's first call allocates.
template <typename F>
struct Workspace {
    const F* xt;
    const F* yp;
    F* rows_a;
    F* rows_b;
    int Tp, hsp;
};

template <typename F>
Workspace<F> load_workspace(const F* x, const F* y, int T, int hs, int stride) {
    const int Tp = round_up(T), hsp = round_up(hs);
    static thread_local std::vector<F> scratch;
    const size_t need = (size_t)hs * Tp + (size_t)T * hsp + 2 * R * Tp + 64 / sizeof(F);
    if (scratch.size() < need) scratch.resize(need);
    F* xt = scratch.data() + (-(uintptr_t)scratch.data() % 64) / sizeof(F);  // 64-byte aligned
    F* yp = xt + (size_t)hs * Tp;
    F* rows_a = yp + (size_t)T * hsp;
    for (int s0 = 0; s0 < Tp; s0 += KB)  // KB rows at a time, which stay in L1
        for (int i = 0; i < hs; i++)
            for (int j = 0; j < KB; j++)
                xt[(size_t)i * Tp + s0 + j] = s0 + j < T ? x[(size_t)(s0 + j) * stride + i] : F(0);
    for (int s = 0; s < T; s++)
        for (int i = 0; i < hsp; i++)
            yp[(size_t)s * hsp + i] = i < hs ? y[(size_t)s * stride + i] : F(0);
    return {xt, yp, rows_a, rows_a + R * Tp, Tp, hsp};
}

// Pointers to the R rows of the group starting at row t0 of a (T, stride) matrix. Rows
// past T repeat row T-1, so a partial group reads valid data; callers drop those rows.
template <typename F>
void group_rows(const F* (&rows)[R], const F* base, int t0, int T, size_t stride) {
    for (int r = 0; r < R; r++) rows[r] = base + std::min(t0 + r, T - 1) * stride;
}

// acc[r][j] = sum_{i<n} x[r][i] * strip[i*stride + j]: R rows against a KB-wide strip.
template <typename F>
void dot_block(F (&acc)[R][KB], const F* const (&x)[R], const F* strip, int n,
                      int stride) {
    F sum[R][KB] = {};
    for (int i = 0; i < n; i++) {
        const F* strip_i = strip + (size_t)i * stride;
        for (int r = 0; r < R; r++) {
            const F x_ri = x[r][i];
#pragma omp simd
            for (int j = 0; j < KB; j++) sum[r][j] += x_ri * strip_i[j];
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < KB; j++) acc[r][j] = sum[r][j];
}

// sum_{s<n} term(s) as KB interleaved partial sums: vectorises, and the split depends on n.
template <typename F, typename Term>
F sum_lanes(int n, Term term) {
    F part[KB] = {};
    int s = 0;
    for (; s + KB <= n; s += KB)
        for (int j = 0; j < KB; j++) part[j] += term(s + j);
    for (int j = 0; s + j < n; j++) part[j] += term(s + j);
    F sum = 0;
    for (int j = 0; j < KB; j++) sum += part[j];
    return sum;
}

// keep[j] = 1/(1-p) if element first+j of the key's dropout stream survives (its uniform
// is >= p), else 0, for j < n; all ones when p = 0. One Philox call serves a group of 4
// elements; the loop over the groups wholly inside the range vectorises.
template <typename F>
void dropout_scales(F* keep, uint64_t first, int n, float p, DropoutKey key) {
    if (p == 0.0f) {
        std::fill(keep, keep + n, F(1));
        return;
    }
    const F scale = F(1) / (F(1) - F(p));
    auto edge_group = [&](uint64_t g) {
        Uniform4 u = philox_uniform4(key.seed, key.step, key.site, (uint32_t)g);
        for (int k = 0; k < 4; k++) {
            int64_t j = (int64_t)(4 * g + k) - (int64_t)first;
            if (j >= 0 && j < n) keep[j] = u.u[k] >= p ? scale : F(0);
        }
    };
    const uint64_t end = first + n, g_begin = (first + 3) / 4, g_end = end / 4;
    if (g_begin > g_end) return edge_group(first / 4);
    if (first % 4) edge_group(first / 4);
    F* whole = keep + (4 * g_begin - first);
    for (uint64_t g = g_begin; g < g_end; g++) {
        Uniform4 u = philox_uniform4(key.seed, key.step, key.site, (uint32_t)g);
        for (int k = 0; k < 4; k++) whole[4 * (g - g_begin) + k] = u.u[k] >= p ? scale : F(0);
    }
    if (end % 4) edge_group(end / 4);
}

// In place over one row of scores p (T): p[s] = exp(p[s] - max) / sum over the visible
// keys s < n (visible[s] != 0), exactly 0 for hidden keys and for s >= n. A row with no
// visible key becomes all zeros.
template <typename F>
void softmax_visible(F* p, int n, int T, const int* visible) {
    const F minus_inf = -std::numeric_limits<F>::infinity();
    F maxval = minus_inf;
#pragma omp simd reduction(max : maxval)
    for (int s = 0; s < n; s++) {
        const F x = visible[s] ? p[s] : minus_inf;
        maxval = maxval > x ? maxval : x;
    }
    if (maxval == minus_inf) n = 0;
    for (int s = 0; s < n; s++) p[s] = visible[s] ? fast_exp(p[s] - maxval) : F(0);
    if (n > 0) {
        const F inv = F(1) / sum_lanes<F>(n, [&](int s) { return p[s]; });
        for (int s = 0; s < n; s++) p[s] *= inv;
    }
    std::fill(p + n, p + T, F(0));
}

}  // namespace

size_t attention_saved_floats(int B, int T, int NH) { return (size_t)B * NH * T * T; }

// For each batch b, head h (hs = C/NH channels), query t:
//   score[t,s] = q[t] . k[s] / sqrt(hs)
//   P[t,s]     = softmax_s(score[t,s]) over the keys s that t sees (s <= t if causal, and
//                key_mask[b,s] != 0 if key_mask), 0 for the others
//   D[t,s]     = P[t,s] * keep[t,s] / (1 - dropout_p),  keep from (key, ((b*NH+h)*T+t)*T+s)
//   out[t]     = sum_s D[t,s] v[s]
// qkv (B,T,3C) packed [q | k | v]; out (B,T,C); saved (B,NH,T,T) holds P; key_mask (B,T).
template <typename F>
void attention_forward(F* out, F* saved, const F* qkv, const int* key_mask, int B, int T, int C,
                       int NH, bool causal, float dropout_p, DropoutKey key) {
    check_shapes("attention_forward", T, C, NH);
    const int hs = C / NH, C3 = 3 * C;
    const F scale = F(1) / std::sqrt(F(hs));
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        const int b = bh / NH, h = bh % NH;
        const F* q = qkv + (size_t)b * T * C3 + h * hs;
        F* prob = saved + (size_t)bh * T * T;
        const Workspace<F> ws = load_workspace(q + C, q + 2 * C, T, hs, C3);  // k^T, v padded
        int visible[kMaxT];
        for (int s = 0; s < T; s++) visible[s] = !key_mask || key_mask[(size_t)b * T + s] != 0;

        for (int t0 = 0; t0 < T; t0 += R) {
            const int m = std::min(R, T - t0), ns = causal ? std::min(t0 + R, T) : T;
            const F* q_rows[R];
            group_rows(q_rows, q, t0, T, C3);
            F acc[R][KB];
            for (int s0 = 0; s0 < ns; s0 += KB) {
                dot_block(acc, q_rows, ws.xt + s0, hs, ws.Tp);
                for (int r = 0; r < m; r++)
                    for (int j = 0; j < std::min(KB, ns - s0); j++)
                        prob[(size_t)(t0 + r) * T + s0 + j] = acc[r][j] * scale;
            }

            // d = D, the dropped-out probabilities; zero for the group's rows past T.
            const F* d_rows[R];
            for (int r = 0; r < R; r++) {
                F* d = ws.rows_a + r * ws.Tp;
                d_rows[r] = d;
                if (r >= m) {
                    std::fill(d, d + ns, F(0));
                    continue;
                }
                const int t = t0 + r;
                F* p = prob + (size_t)t * T;
                softmax_visible(p, causal ? t + 1 : T, T, visible);
                dropout_scales(d, ((size_t)bh * T + t) * T, ns, dropout_p, key);
                for (int s = 0; s < ns; s++) d[s] *= p[s];
            }

            for (int c0 = 0; c0 < hs; c0 += KB) {
                dot_block(acc, d_rows, ws.yp + c0, ns, ws.hsp);
                for (int r = 0; r < m; r++) {
                    F* out_t = out + ((size_t)b * T + t0 + r) * C + h * hs + c0;
                    for (int j = 0; j < std::min(KB, hs - c0); j++) out_t[j] = acc[r][j];
                }
            }
        }
    }
}

// With P, D, keep as in the forward, dD[t,s] = dout[t] . v[s] and dP = keep * dD / (1-p):
//   dscore[t,s] = P[t,s] * (dP[t,s] - delta[t]),  delta[t] = sum_s P[t,s] dP[t,s]
//   dq[t] += sum_s dscore[t,s] k[s] / sqrt(hs);  dk[s] += sum_t dscore[t,s] q[t] / sqrt(hs)
//   dv[s] += sum_t D[t,s] dout[t]
// dqkv, qkv (B,T,3C); dout (B,T,C); saved (B,NH,T,T) from the forward. key_mask is not
// needed: hidden keys have P = 0, which zeroes all their terms. A group of queries adds
// into its rows of dq and into the rows of dk, dv for the keys it sees, in query order.
template <typename F>
void attention_backward(F* dqkv, const F* dout, const F* qkv, const F* saved,
                        const int* /*key_mask*/, int B, int T, int C, int NH, bool causal,
                        float dropout_p, DropoutKey key) {
    check_shapes("attention_backward", T, C, NH);
    const int hs = C / NH, C3 = 3 * C;
    const F scale = F(1) / std::sqrt(F(hs));
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++) {
        const int b = bh / NH, h = bh % NH;
        const size_t head = (size_t)b * T * C3 + h * hs;
        const F* q = qkv + head;
        F* dq = dqkv + head;
        F* dk = dq + C;
        F* dv = dq + 2 * C;
        const F* dO = dout + (size_t)b * T * C + h * hs;
        const F* prob = saved + (size_t)bh * T * T;
        const Workspace<F> ws = load_workspace(q + 2 * C, q + C, T, hs, C3);  // v^T, k padded

        for (int t0 = 0; t0 < T; t0 += R) {
            const int m = std::min(R, T - t0), ns = causal ? std::min(t0 + R, T) : T;
            const F* q_rows[R];
            const F* dO_rows[R];
            group_rows(q_rows, q, t0, T, C3);
            group_rows(dO_rows, dO, t0, T, C);

            // ds = dscore / sqrt(hs) and d = D for the group's rows; zero for rows past T.
            F* ds[R];
            F* d[R];
            for (int r = 0; r < R; r++) {
                ds[r] = ws.rows_a + r * ws.Tp;
                d[r] = ws.rows_b + r * ws.Tp;
            }
            F acc[R][KB];
            for (int s0 = 0; s0 < ns; s0 += KB) {
                dot_block(acc, dO_rows, ws.xt + s0, hs, ws.Tp);
                for (int r = 0; r < R; r++)
                    for (int j = 0; j < KB; j++) ds[r][s0 + j] = acc[r][j];
            }
            for (int r = 0; r < R; r++) {
                if (r >= m) {
                    std::fill(ds[r], ds[r] + ns, F(0));
                    std::fill(d[r], d[r] + ns, F(0));
                    continue;
                }
                const int t = t0 + r;
                const F* p = prob + (size_t)t * T;
                dropout_scales(d[r], ((size_t)bh * T + t) * T, ns, dropout_p, key);
                for (int s = 0; s < ns; s++) ds[r][s] *= d[r][s];
                const F delta = sum_lanes<F>(ns, [&](int s) { return p[s] * ds[r][s]; });
                for (int s = 0; s < ns; s++) {
                    ds[r][s] = p[s] * (ds[r][s] - delta) * scale;
                    d[r][s] *= p[s];
                }
            }

            const F* ds_rows[R];
            std::copy(ds, ds + R, ds_rows);
            for (int c0 = 0; c0 < hs; c0 += KB) {
                dot_block(acc, ds_rows, ws.yp + c0, ns, ws.hsp);
                for (int r = 0; r < m; r++) {
                    F* dq_t = dq + (size_t)(t0 + r) * C3 + c0;
                    for (int j = 0; j < std::min(KB, hs - c0); j++) dq_t[j] += acc[r][j];
                }
            }

            for (int s = 0; s < ns; s++) {
                F ds_s[R], d_s[R];
                bool any = false;
                for (int r = 0; r < R; r++) {
                    ds_s[r] = ds[r][s];
                    d_s[r] = d[r][s];
                    any |= ds_s[r] != F(0) || d_s[r] != F(0);
                }
                if (!any) continue;  // a key hidden from the whole group
                F* dk_s = dk + (size_t)s * C3;
                F* dv_s = dv + (size_t)s * C3;
#pragma omp simd
                for (int i = 0; i < hs; i++) {
                    F dk_si = dk_s[i], dv_si = dv_s[i];
                    for (int r = 0; r < R; r++) {
                        dk_si += ds_s[r] * q_rows[r][i];
                        dv_si += d_s[r] * dO_rows[r][i];
                    }
                    dk_s[i] = dk_si;
                    dv_s[i] = dv_si;
                }
            }
        }
    }
}

template void attention_forward<float>(float*, float*, const float*, const int*, int, int, int,
                                       int, bool, float, DropoutKey);
template void attention_forward<double>(double*, double*, const double*, const int*, int, int,
                                        int, int, bool, float, DropoutKey);
template void attention_backward<float>(float*, const float*, const float*, const float*,
                                        const int*, int, int, int, int, bool, float, DropoutKey);
template void attention_backward<double>(double*, const double*, const double*, const double*,
                                         const int*, int, int, int, int, bool, float, DropoutKey);

}  // namespace cpu
