#include "models/heads.h"

#include <stdexcept>
#include <string>

void ClassifierHead::declare(TensorTable& acts, int B, int C, int K) {
    for (const char* name : {"cls.picked", "cls.pooled", "cls.dropped", "cls.dpicked", "cls.dpooled", "cls.ddropped"})
        acts.add(name, {B, C});
    acts.add("cls.logits", {B, K});  // also holds dlogits during backward
    acts.add("cls.losses", {B});
    acts.add("cls.rows", {B});  // ints in float-sized slots
    acts.add("cls.labels", {B});
}

void ClassifierHead::bind(const Arena& A, int channels, int labels_count) {
    C = channels, K = labels_count;
    picked = A.act("cls.picked"), pooled = A.act("cls.pooled"), dropped = A.act("cls.dropped");
    dpicked = A.act("cls.dpicked"), dpooled = A.act("cls.dpooled"), ddropped = A.act("cls.ddropped");
    logits = A.act("cls.logits"), losses = A.act("cls.losses");
    rows = (int*)A.act("cls.rows"), labels = (int*)A.act("cls.labels");
}

float ClassifierHead::forward(Backend& be, const float* hidden, const int* host_rows, const int* host_labels, int b,
                              float pdrop, DropoutKey key) {
    be.upload(rows, host_rows, b * sizeof(int));
    // A lookup with the hidden states as the table picks one row per sequence.
    be.embedding_forward(picked, rows, nullptr, hidden, nullptr, nullptr, 1, b, C);
    const float* feat = picked;
    if (poolw) {
        be.matmul_forward(pooled, picked, poolw, poolb, b, C, C);
        be.tanh_forward(pooled, pooled, (size_t)b * C);
        feat = pooled;
    }
    be.dropout_forward(dropped, feat, (size_t)b * C, pdrop, key);
    be.matmul_forward(logits, dropped, w, bias, b, C, K);
    if (!host_labels) return 0.0f;
    for (int i = 0; i < b; i++)
        if (host_labels[i] < 0 || host_labels[i] >= K)
            throw std::runtime_error("label " + std::to_string(host_labels[i]) + " out of range for " +
                                     std::to_string(K) + " classes");
    be.upload(labels, host_labels, b * sizeof(int));
    be.crossentropy(losses, nullptr, logits, labels, b, K, K, 0.0f);
    return (float)(be.sum(losses, b) / b);
}

void ClassifierHead::backward(Backend& be, float* dhidden, int b, float loss_scale, float pdrop, DropoutKey key) {
    const size_t bC = (size_t)b * C;
    be.crossentropy(losses, logits, logits, labels, b, K, K, loss_scale / b);
    const float* dlogits = logits;
    be.zero(ddropped, bC * sizeof(float));
    be.matmul_backward(ddropped, dw, dbias, dlogits, dropped, w, b, C, K);
    float* dfeat = poolw ? dpooled : dpicked;
    be.zero(dfeat, bC * sizeof(float));
    be.dropout_backward(dfeat, ddropped, bC, pdrop, key);
    if (poolw) {
        float* dpre = ddropped;  // d(picked Wp^T + bp), reusing the buffer
        be.zero(dpre, bC * sizeof(float));
        be.tanh_backward(dpre, dpooled, pooled, bC);
        be.zero(dpicked, bC * sizeof(float));
        be.matmul_backward(dpicked, dpoolw, dpoolb, dpre, picked, poolw, b, C, C);
    }
    be.embedding_backward(dhidden, nullptr, nullptr, dpicked, rows, nullptr, 1, b, C);
}
