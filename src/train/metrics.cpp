// Classification metrics (see metrics.h). Counts stay integers until the last
// division, so every value is the exact ratio rounded once.
#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <utility>

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double ratio(long long num, long long den) { return den == 0 ? 0.0 : (double)num / (double)den; }

// Terminal columns of a UTF-8 string, counted as one per code point.
size_t display_width(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

std::string pad_left(const std::string& s, size_t width) {
    size_t w = display_width(s);
    return (w < width ? std::string(width - w, ' ') : std::string()) + s;
}

std::string fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

// Why class k's one-vs-rest AUC is NaN, for the report.
std::string auc_undefined_reason(const ClassificationMetrics& m, const std::vector<std::string>& names, int k) {
    if (m.support[k] == 0) return "no example has true class '" + names[k] + "'";
    if (m.support[k] == m.N) return "every example has true class '" + names[k] + "'";
    return "a probability of class '" + names[k] + "' is NaN";
}

}  // namespace

// confusion[i*K + j] = #{n : truth[n] = i, pred[n] = j}
void confusion_matrix(const int* truth, const int* pred, long long N, int K, long long* confusion) {
    auto check = [K](const int* labels, long long n, const char* what) {
        if (labels[n] < 0 || labels[n] >= K)
            throw std::invalid_argument(std::string("metrics: ") + what + " label " + std::to_string(labels[n]) +
                                        " of example " + std::to_string(n) + " is outside 0.." + std::to_string(K - 1));
    };
    std::fill(confusion, confusion + (size_t)K * K, 0LL);
    for (long long n = 0; n < N; n++) {
        check(truth, n, "true");
        check(pred, n, "predicted");
        confusion[(size_t)truth[n] * K + pred[n]]++;
    }
}

// AUC = area under the ROC curve through (fp, tp) after each distinct score,
// highest first, divided by P * Q (P positives, Q negatives). A tie group adds
// dfp negatives and dtp positives along one straight segment, whose area in
// (negative x positive) units is dfp * (tp + dtp / 2); summed over the groups
// this is Mann-Whitney's count of (positive, negative) pairs ranked correctly,
// ties counting 1/2. Twice the area is an integer, so the sum is exact.
double roc_auc_one_vs_rest(const int* truth, const float* probs, long long N, int K, int k) {
    std::vector<std::pair<float, bool>> scored((size_t)N);
    long long P = 0;
    for (long long n = 0; n < N; n++) {
        float s = probs[(size_t)n * K + k];
        if (std::isnan(s)) return kNaN;
        scored[(size_t)n] = {s, truth[n] == k};
        P += truth[n] == k;
    }
    const long long Q = N - P;
    if (P == 0 || Q == 0) return kNaN;
    std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    long long tp = 0, fp = 0, twice_area = 0;
    for (size_t i = 0; i < scored.size();) {
        long long dtp = 0, dfp = 0;
        size_t j = i;
        for (; j < scored.size() && scored[j].first == scored[i].first; j++) (scored[j].second ? dtp : dfp)++;
        twice_area += dfp * (2 * tp + dtp);
        tp += dtp;
        fp += dfp;
        i = j;
    }
    return (double)twice_area / (2.0 * (double)P * (double)Q);
}

// Per class k, with tp = C[k][k], support = row sum, predicted = column sum:
//   precision = tp / predicted, recall = tp / support,
//   f1 = 2 tp / (2 tp + fp + fn) = 2 tp / (support + predicted).
ClassificationMetrics classification_metrics(const int* truth, const int* pred, const float* probs, long long N,
                                             int K) {
    if (N < 1) throw std::invalid_argument("metrics: no examples");
    if (K < 2) throw std::invalid_argument("metrics: " + std::to_string(K) + " classes (need at least 2)");
    ClassificationMetrics m;
    m.K = K;
    m.N = N;
    m.confusion.resize((size_t)K * K);
    confusion_matrix(truth, pred, N, K, m.confusion.data());
    m.precision.resize(K);
    m.recall.resize(K);
    m.f1.resize(K);
    m.support.assign(K, 0);
    m.predicted.assign(K, 0);
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            m.support[i] += m.confusion[(size_t)i * K + j];
            m.predicted[j] += m.confusion[(size_t)i * K + j];
        }

    long long tp_sum = 0, predicted_sum = 0, support_sum = 0;
    int classes = 0;
    for (int k = 0; k < K; k++) {
        long long tp = m.confusion[(size_t)k * K + k];
        m.precision[k] = ratio(tp, m.predicted[k]);
        m.recall[k] = ratio(tp, m.support[k]);
        m.f1[k] = ratio(2 * tp, m.support[k] + m.predicted[k]);
        if (!m.in_label_set(k)) continue;
        classes++;
        tp_sum += tp;
        predicted_sum += m.predicted[k];
        support_sum += m.support[k];
        m.macro.precision += m.precision[k];
        m.macro.recall += m.recall[k];
        m.macro.f1 += m.f1[k];
        m.weighted.precision += m.precision[k] * (double)m.support[k];
        m.weighted.recall += m.recall[k] * (double)m.support[k];
        m.weighted.f1 += m.f1[k] * (double)m.support[k];
    }
    m.accuracy = ratio(tp_sum, N);
    m.macro = {m.macro.precision / classes, m.macro.recall / classes, m.macro.f1 / classes};
    m.weighted = {m.weighted.precision / (double)N, m.weighted.recall / (double)N, m.weighted.f1 / (double)N};
    m.micro = {ratio(tp_sum, predicted_sum), ratio(tp_sum, support_sum), ratio(2 * tp_sum, support_sum + predicted_sum)};

    m.roc_auc = kNaN;
    if (probs) {
        m.roc_auc_ovr.resize(K);
        for (int k = 0; k < K; k++) m.roc_auc_ovr[k] = roc_auc_one_vs_rest(truth, probs, N, K, k);
        if (K == 2) {
            m.roc_auc = m.roc_auc_ovr[1];
        } else {
            double sum = 0;
            for (double a : m.roc_auc_ovr) sum += a;
            m.roc_auc = sum / K;
        }
    }
    return m;
}

// Columns as sklearn's classification_report: names right-aligned in a column
// as wide as the longest of them and "weighted avg", then four 9-wide columns.
std::string format_report(const ClassificationMetrics& m, const std::vector<std::string>& names) {
    if ((int)names.size() != m.K)
        throw std::invalid_argument("metrics: " + std::to_string(names.size()) + " class names for " +
                                    std::to_string(m.K) + " classes");
    const int digits = 4;
    size_t width = display_width("weighted avg");
    for (const std::string& name : names) width = std::max(width, display_width(name));
    auto row = [&](const std::string& name, const std::string& p, const std::string& r, const std::string& f,
                   const std::string& support) {
        return pad_left(name, width) + " " + pad_left(p, 10) + pad_left(r, 10) + pad_left(f, 10) +
               pad_left(support, 10) + "\n";
    };
    auto scores = [&](const std::string& name, const Averages& a, long long support) {
        return row(name, fixed(a.precision, digits), fixed(a.recall, digits), fixed(a.f1, digits),
                   std::to_string(support));
    };

    std::string out = row("", "precision", "recall", "f1-score", "support") + "\n";
    std::string absent;
    for (int k = 0; k < m.K; k++) {
        if (m.in_label_set(k))
            out += scores(names[k], {m.precision[k], m.recall[k], m.f1[k]}, m.support[k]);
        else
            absent += (absent.empty() ? "" : ", ") + names[k];
    }
    out += "\n" + row("accuracy", "", "", fixed(m.accuracy, digits), std::to_string(m.N));
    out += scores("macro avg", m.macro, m.N);
    out += scores("weighted avg", m.weighted, m.N);
    if (!absent.empty()) out += "\nnot in the truth or the predictions (left out of macro avg): " + absent + "\n";

    if (m.roc_auc_ovr.empty()) return out;
    const bool binary = m.K == 2;
    out += binary ? "\nroc auc (positive class '" + names[1] + "'): " : "\nroc auc (one-vs-rest macro): ";
    if (!std::isnan(m.roc_auc)) return out + fixed(m.roc_auc, digits) + "\n";
    int k = binary ? 1 : 0;
    while (!std::isnan(m.roc_auc_ovr[k])) k++;
    return out + "undefined: " + auc_undefined_reason(m, names, k) + "\n";
}

std::string format_confusion(const ClassificationMetrics& m, const std::vector<std::string>& names) {
    if ((int)names.size() != m.K)
        throw std::invalid_argument("metrics: " + std::to_string(names.size()) + " class names for " +
                                    std::to_string(m.K) + " classes");
    const std::string corner = "true \\ predicted";
    size_t first = display_width(corner);
    for (const std::string& name : names) first = std::max(first, display_width(name));
    std::vector<size_t> width(m.K);
    for (int j = 0; j < m.K; j++) {
        width[j] = display_width(names[j]);
        for (int i = 0; i < m.K; i++)
            width[j] = std::max(width[j], std::to_string(m.confusion[(size_t)i * m.K + j]).size());
    }
    std::string out = pad_left(corner, first);
    for (int j = 0; j < m.K; j++) out += "  " + pad_left(names[j], width[j]);
    out += "\n";
    for (int i = 0; i < m.K; i++) {
        out += pad_left(names[i], first);
        for (int j = 0; j < m.K; j++) out += "  " + pad_left(std::to_string(m.confusion[(size_t)i * m.K + j]), width[j]);
        out += "\n";
    }
    return out;
}

void softmax_rows(float* x, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        float* row = x + (size_t)r * cols;
        const float mx = *std::max_element(row, row + cols);
        double sum = 0;
        for (int c = 0; c < cols; c++) sum += std::exp((double)row[c] - mx);
        for (int c = 0; c < cols; c++) row[c] = (float)(std::exp((double)row[c] - mx) / sum);
    }
}
