// The kernel interface: everything a model asks of a device.
//
// A backend owns device memory and runs kernels on it. Models call only what
// is declared here, so porting minitrain to new hardware means implementing
// this one class (and passing tests/conformance). All float pointers point
// into memory from alloc(); shapes use B (batch), T (time), C (channels),
// NH (heads), N = B*T rows, V (vocab), Vp (padded vocab), OC (out channels).
//
// Gradient convention: every backward kernel ADDS into its gradient outputs
// (dinp += ..., dweight += ...), so branches that meet (residuals, tied
// weights, gradient accumulation) need no extra pass. A null gradient
// pointer means "not wanted" (a frozen weight, the first layer's input) and
// the kernel skips that work.
#pragma once
#include <cstddef>
#include <cstdint>

enum class GeluKind { Tanh, Erf };  // GPT-2 uses the tanh approximation, BERT exact erf

// Identifies one dropout mask: element i of this site keeps iff
// uniform(seed, step, site, i) >= p (see rng.h). The same key gives the same
// mask on every backend and thread count, and backward regenerates it.
struct DropoutKey {
    uint64_t seed = 0;
    uint64_t step = 0;
    uint32_t site = 0;
};

struct Backend {
    virtual ~Backend() = default;
    virtual const char* name() const = 0;

    // ---- memory -----------------------------------------------------------
    virtual void* alloc(size_t bytes) = 0;  // zero-filled
    virtual void release(void* ptr) = 0;
    virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
    virtual void download(void* host_dst, const void* src, size_t bytes) = 0;
    virtual void copy(void* dst, const void* src, size_t bytes) = 0;  // ranges must not overlap
    virtual void zero(void* ptr, size_t bytes) = 0;

    // ---- embeddings ---------------------------------------------------------
    // out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:] + wtt[types[b,t],:]
    // out (B,T,C); tokens, types (B,T) int; wte (Vp,C), wpe (maxT,C), wtt (ntypes,C).
    // wpe and wtt may be null (adding nothing); types may be null (all type 0).
    // With only wte it is a row lookup: heads use it to pick rows (the [CLS]
    // or last token, the masked positions) out of a (N,C) activation.
    virtual void embedding_forward(float* out, const int* tokens, const int* types, const float* wte,
                                   const float* wpe, const float* wtt, int B, int T, int C) = 0;
    virtual void embedding_backward(float* dwte, float* dwpe, float* dwtt, const float* dout,
                                    const int* tokens, const int* types, int B, int T, int C) = 0;

    // ---- layernorm ------------------------------------------------------------
    // out = (inp - mean) * rstd * weight + bias over the last dim; mean, rstd (N) saved.
    virtual void layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                                   const float* weight, const float* bias, int N, int C,
                                   float eps) = 0;
    virtual void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                    const float* inp, const float* weight, const float* mean,
                                    const float* rstd, int N, int C) = 0;

    // ---- matmul (nn.Linear layout) ---------------------------------------------
    // out (N,OC) = inp (N,C) @ weight(OC,C)^T + bias(OC); bias may be null.
    virtual void matmul_forward(float* out, const float* inp, const float* weight,
                                const float* bias, int N, int C, int OC) = 0;
    // dinp += dout @ weight; dweight += dout^T @ inp; dbias += sum_n dout.
    virtual void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                                 const float* inp, const float* weight, int N, int C, int OC) = 0;
    // out (N,OC) += inp (N,C) @ weight(OC,C)^T: an adapter (LoRA) adding its
    // low-rank product onto the base layer's output.
    virtual void matmul_accumulate(float* out, const float* inp, const float* weight, int N, int C,
                                   int OC) = 0;

    // ---- attention ----------------------------------------------------------------
    // qkv (B,T,3C) packed [q | k | v], head h owns channels h*C/NH..(h+1)*C/NH.
    // out (B,T,C) = softmax(q k^T / sqrt(hs) + masks) v, with dropout p on the
    // probabilities. causal: query t sees keys <= t. key_mask (B,T) int, may be
    // null: key s is visible iff key_mask[b,s] != 0. A query row that sees no key
    // outputs zeros. `saved` holds what backward needs; its size in floats is
    // attention_saved_floats(B,T,NH) (a backend chooses its own layout).
    // Backward gets the masks again: a backend that saves less than the
    // probabilities (flash-style) must recompute them.
    virtual size_t attention_saved_floats(int B, int T, int NH) const = 0;
    virtual void attention_forward(float* out, float* saved, const float* qkv, const int* key_mask,
                                   int B, int T, int C, int NH, bool causal, float dropout_p,
                                   DropoutKey key) = 0;
    virtual void attention_backward(float* dqkv, const float* dout, const float* qkv,
                                    const float* saved, const int* key_mask, int B, int T, int C,
                                    int NH, bool causal, float dropout_p, DropoutKey key) = 0;

    // ---- pointwise --------------------------------------------------------------------
    virtual void gelu_forward(float* out, const float* inp, size_t n, GeluKind kind) = 0;
    virtual void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n,
                               GeluKind kind) = 0;
    // out = max(inp, 0); backward from the output: dinp += dout * (out > 0).
    virtual void relu_forward(float* out, const float* inp, size_t n) = 0;
    virtual void relu_backward(float* dinp, const float* dout, const float* out, size_t n) = 0;
    // out = tanh(inp); backward from the output: dinp += dout * (1 - out^2).
    virtual void tanh_forward(float* out, const float* inp, size_t n) = 0;
    virtual void tanh_backward(float* dinp, const float* dout, const float* out, size_t n) = 0;
    virtual void add(float* out, const float* a, const float* b, size_t n) = 0;  // out = a + b
    virtual void accumulate(float* dst, const float* src, size_t n) = 0;         // dst += src
    virtual void scale(float* x, float alpha, size_t n) = 0;                      // x *= alpha
    // dst[n*dst_ld + c] = src[n*src_ld + c] (+= when add) for n < N, c < C: a
    // column block of a wider matrix, e.g. one of the q, k, v thirds of the
    // packed qkv, which a per-projection adapter writes into and reads from.
    virtual void copy_block(float* dst, int dst_ld, const float* src, int src_ld, int N, int C,
                            bool add) = 0;
    // out = inp * keep / (1 - p) (out may alias inp); p = 0 is a copy.
    virtual void dropout_forward(float* out, const float* inp, size_t n, float p,
                                 DropoutKey key) = 0;
    virtual void dropout_backward(float* dinp, const float* dout, size_t n, float p,
                                  DropoutKey key) = 0;

    // ---- loss -----------------------------------------------------------------------------
    // Softmax over the first V of Vp logit columns and cross-entropy:
    // losses[n] = -log p[n, targets[n]], or 0 where targets[n] < 0 (ignored).
    // If dlogits is not null it is WRITTEN (not added): dloss * (p - onehot)
    // for v < V, 0 for padded columns and ignored rows. dlogits may alias logits.
    virtual void crossentropy(float* losses, float* dlogits, const float* logits,
                              const int* targets, int N, int V, int Vp, float dloss) = 0;

    // ---- reductions and optimizer ----------------------------------------------------
    // Both reduce in an order fixed by n alone, so results do not depend on threads.
    virtual double sum(const float* x, size_t n) = 0;
    virtual double sum_squares(const float* x, size_t n) = 0;
    // Penalties in the loss, as gradients: grad += l2 * param + l1 * sign(param)
    // (sign(0) = 0). L2 here is coupled (it passes through Adam's scaling),
    // unlike AdamW's decoupled weight decay.
    virtual void penalty_grad(float* grad, const float* param, size_t n, float l1, float l2) = 0;
    // torch.optim.AdamW on one tensor, with g = grad * grad_scale (clipping folded in):
    // p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    // p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).   t counts from 1.
    virtual void adamw(float* param, const float* grad, float* m, float* v, size_t n, float lr,
                       float beta1, float beta2, float eps, float weight_decay, int t,
                       float grad_scale) = 0;
};

// The backend selected by name ("cpu", "cuda"); throws with a clear message if unavailable.
Backend* make_backend(const char* name);
