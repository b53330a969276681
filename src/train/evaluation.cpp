#include "train/evaluation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "train/metrics.h"

double Evaluation::get(const std::string& name) const {
    for (const auto& m : metrics)
        if (m.first == name) return m.second;
    throw std::logic_error("no metric " + name);
}

std::string metrics_line(const Evaluation& e) {
    std::string s;
    for (const auto& m : e.metrics) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%s %.4f", s.empty() ? "" : ", ", m.first.c_str(), m.second);
        s += buf;
    }
    return s;
}

std::string metrics_json(const Evaluation& e) {
    std::string s;
    for (const auto& m : e.metrics) s += ",\"" + m.first + "\":" + json_number(m.second);
    return s;
}

std::string json_number(float x) {
    if (!std::isfinite(x)) return "null";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", x);
    return buf;
}

std::string json_string(const std::string& s) { return nlohmann::json(s).dump(); }

std::string json_number(double x) {
    if (!std::isfinite(x)) return "null";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", x);
    return buf;
}

Evaluation classification_evaluation(const std::vector<int>& truth, const std::vector<int>& pred,
                                     const std::vector<float>& probs, int K, double loss,
                                     const std::vector<std::string>& names, bool print) {
    ClassificationMetrics m = classification_metrics(truth.data(), pred.data(), probs.data(), (long long)truth.size(), K);
    if (print) std::printf("%s%s", format_report(m, names).c_str(), format_confusion(m, names).c_str());
    Evaluation e{{{"accuracy", m.accuracy},
                  {"f1_macro", m.macro.f1},
                  {"f1_micro", m.micro.f1},
                  {"f1_weighted", m.weighted.f1},
                  {"precision_macro", m.macro.precision},
                  {"recall_macro", m.macro.recall},
                  {"auc", m.roc_auc}}};
    if (!std::isnan(loss)) e.metrics.insert(e.metrics.begin(), {"loss", loss});
    return e;
}

Evaluation majority_baseline(const Examples& train, const Examples& ex, size_t count, int K,
                             const std::vector<std::string>& names) {
    std::vector<long long> counts(K);
    for (int label : train.labels) counts[label]++;
    const int majority = (int)(std::max_element(counts.begin(), counts.end()) - counts.begin());
    count = std::min(count, ex.size());
    std::vector<int> truth(ex.labels.begin(), ex.labels.begin() + count), pred(count, majority);
    std::vector<float> probs(count * K, 0.0f);
    for (size_t i = 0; i < count; i++) probs[i * K + majority] = 1.0f;
    return classification_evaluation(truth, pred, probs, K, NAN, names, false);
}
