// One evaluation's results: named metrics ("loss" first where there is one),
// how they print (a line) and how they are logged (JSON fields), and the
// classification metrics that the classify task and its baseline share.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "data/examples.h"

struct Evaluation {
    std::vector<std::pair<std::string, double>> metrics;
    double get(const std::string& name) const;  // throws std::logic_error when absent
};

// "loss 0.1234, accuracy 0.9000" (4 decimals, for people).
std::string metrics_line(const Evaluation& e);
// ",\"loss\":0.12345678901234567,..." (every digit of each double: 17 significant).
std::string metrics_json(const Evaluation& e);
// A float as JSON: 9 significant digits (exact for a float), null when not finite.
std::string json_number(float x);
// A string as JSON (quoted and escaped).
std::string json_string(const std::string& s);
// A double as JSON: 17 significant digits (exact), null when not finite.
std::string json_number(double x);

// Accuracy, F1 (macro, micro, weighted), macro precision and recall, ROC AUC
// of predictions `pred` with class probabilities `probs` (N x K); loss first
// unless it is NaN (a baseline has none). Prints the per-class report and the
// confusion matrix when `print`.
Evaluation classification_evaluation(const std::vector<int>& truth, const std::vector<int>& pred,
                                     const std::vector<float>& probs, int K, double loss,
                                     const std::vector<std::string>& names, bool print);

// What always predicting the training set's most frequent class scores on
// the first `count` examples of `ex` (the ones an evaluation reads).
Evaluation majority_baseline(const Examples& train, const Examples& ex, size_t count, int K,
                             const std::vector<std::string>& names);
