// Classification metrics with scikit-learn's definitions: confusion matrix,
// accuracy, per-class precision / recall / F1 / support with macro, micro and
// weighted averages, and ROC AUC (binary, or one-vs-rest macro for K > 2).
//
// Inputs are plain arrays over N examples and K classes (K >= 2): true labels
// and predicted labels in 0..K-1, and optionally row-major N x K class
// probabilities (any score that ranks the examples works: AUC only compares).
//
// Conventions (each is scikit-learn's, named where it takes a choice):
//  - confusion[i*K + j] counts examples of true class i predicted as class j.
//  - A ratio whose denominator is zero is 0 (zero_division=0; scikit-learn's
//    default "warn" also returns 0). F1 = 2 tp / (2 tp + fp + fn), so it is 0
//    whenever tp is 0.
//  - The label set is the classes present in the truth or the predictions
//    (scikit-learn's labels=None). Macro averages run over that set; a class
//    absent from both has no row in format_report. Micro averages pool tp, fp
//    and fn over the classes; for single-label data they equal accuracy.
//    Weighted averages weight each class by its support (true count).
//  - Binary AUC (K = 2) ranks P(class 1) with class 1 as the positive class,
//    exactly as roc_curve + auc: one threshold per distinct score, so a tie
//    between a positive and a negative counts 1/2 (the Mann-Whitney U / (P N)).
//  - K > 2: the unweighted mean of the K one-vs-rest AUCs, as roc_auc_score(
//    multi_class="ovr", average="macro").
//  - Undefined AUC is NaN: a class with no examples or with every example (its
//    one-vs-rest AUC has no negatives or no positives), or a NaN probability in
//    its column. The K > 2 mean is NaN when any class's AUC is NaN; this is
//    exactly where scikit-learn refuses to compute one. format_report says why.
#pragma once
#include <string>
#include <vector>

struct Averages {
    double precision, recall, f1;
};

struct ClassificationMetrics {
    int K = 0;
    long long N = 0;
    std::vector<long long> confusion;           // K x K, row = truth, column = prediction
    std::vector<double> precision, recall, f1;  // per class
    std::vector<long long> support;             // per class: number of true examples
    std::vector<long long> predicted;           // per class: number of predictions
    double accuracy = 0;
    Averages macro{}, micro{}, weighted{};
    std::vector<double> roc_auc_ovr;  // per class, one-vs-rest; empty without probabilities
    double roc_auc = 0;               // binary or ovr macro (NaN when undefined, see above)
    bool in_label_set(int k) const { return support[k] > 0 || predicted[k] > 0; }
};

// Each of the rows x cols logits (row-major) becomes its row's softmax
// probability, computed in double: the probabilities the metrics rank.
void softmax_rows(float* x, int rows, int cols);

// confusion (K x K) from N true and predicted labels. Throws std::invalid_argument
// naming the first label outside 0..K-1.
void confusion_matrix(const int* truth, const int* pred, long long N, int K, long long* confusion);

// AUC of column k of the N x K scores, class k against the rest (binary: k = 1).
// NaN when class k has no examples or all of them, or a score in the column is NaN.
double roc_auc_one_vs_rest(const int* truth, const float* probs, long long N, int K, int k);

// Everything above for one evaluation. probs may be null: no AUC (roc_auc NaN,
// roc_auc_ovr empty). Throws std::invalid_argument on N < 1, K < 2 or a bad label.
ClassificationMetrics classification_metrics(const int* truth, const int* pred, const float* probs, long long N,
                                             int K);

// sklearn's classification_report layout (4 digits) with the class names
// (K of them), then the AUC line.
std::string format_report(const ClassificationMetrics& m, const std::vector<std::string>& names);

// The confusion matrix as an aligned table: one row per true class, one column
// per predicted class, headed by the class names.
std::string format_confusion(const ClassificationMetrics& m, const std::vector<std::string>& names);
