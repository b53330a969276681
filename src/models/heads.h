// The sequence-classification head that BERT and GPT-2 share:
//
//   picked = hidden[rows]                  (b,C)  one row per sequence: [CLS]
//                                                 for BERT, the last real token for GPT-2
//   pooled = tanh(picked Wp^T + bp)        (b,C)  BERT's pooler; without it pooled = picked
//   logits = dropout(pooled) Wc^T + bc     (b,K)  bc absent in GPT-2's bias-free `score`
//   loss   = mean over the batch of CE(logits, label)
//
// The model owns the parameters (in its arena, under its own names) and hands
// the head pointers to them; the head's activations live in the model's
// activation table under "cls.*".
#pragma once
#include "core/arena.h"
#include "core/backend.h"

struct ClassifierHead {
    int C = 0, K = 0;
    float *poolw = nullptr, *poolb = nullptr, *w = nullptr, *bias = nullptr;  // params; poolw null: no pooler
    float *dpoolw = nullptr, *dpoolb = nullptr, *dw = nullptr, *dbias = nullptr;
    float *picked = nullptr, *pooled = nullptr, *dropped = nullptr, *logits = nullptr, *losses = nullptr;
    float *dpicked = nullptr, *dpooled = nullptr, *ddropped = nullptr;
    int *rows = nullptr, *labels = nullptr;

    // Adds the activations for batches of up to B sequences.
    static void declare(TensorTable& acts, int B, int C, int K);
    // Binds the activations after the arena is allocated.
    void bind(const Arena& arena, int C, int K);
    // host_rows (b): the row of hidden (b*t, C) to classify each sequence by;
    // host_labels (b) or null (no loss). Returns the mean loss, or 0.
    float forward(Backend& be, const float* hidden, const int* host_rows, const int* host_labels, int b,
                  float pdrop, DropoutKey key);
    // dhidden (b*t, C) += the gradient at the picked rows; needs a forward with labels.
    void backward(Backend& be, float* dhidden, int b, float loss_scale, float pdrop, DropoutKey key);
};
