// Classification metrics: a 3-class example worked by hand, then scikit-learn's
// values on random data with tied scores (tests/fixtures/metrics_sklearn.bin,
// written by tools/reference/make_metrics_fixture.py).
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "fixture.h"
#include "train/metrics.h"

// Counts become exact ratios rounded once, so hand values agree to double rounding.
static const double kExact = 1e-12;
// The fixture stores sklearn's doubles as float32 (relative rounding 6e-8); the
// smallest AUC step in it, 1 / (P Q), is above 3e-5, so 1e-6 still sees any slip.
static const double kFixture = 1e-6;

// truth  0 0 0 0 1 1 1 2 2 2
// pred   0 0 1 2 1 1 0 2 2 1
// probs  0.6 for the predicted class, 0.2 for the other two
//
// confusion (row = truth)  [2 1 1; 1 2 0; 0 1 2]
// support = row sums    = 4 3 3;  predicted = column sums = 3 4 3;  tp = 2 2 2
// accuracy  = 6/10
// precision = tp/predicted       = 2/3, 2/4, 2/3
// recall    = tp/support         = 2/4, 2/3, 2/3
// f1        = 2tp/(support+pred) = 4/7, 4/7, 4/6
// macro     P = (2/3 + 1/2 + 2/3)/3 = 11/18;  R = (1/2 + 2/3 + 2/3)/3 = 11/18
//           F = (4/7 + 4/7 + 2/3)/3 = 38/63
// weighted  P = (4*2/3 + 3*1/2 + 3*2/3)/10 = 37/60;  R = 6/10
//           F = (4*4/7 + 3*4/7 + 3*2/3)/10 = 6/10
// micro     = accuracy = 6/10 for all three
// AUC: each column takes two values, so the ROC curve has one inner point
// (FPR, TPR) and AUC = (TPR + 1 - FPR)/2. Class k's examples score 0.6 where
// predicted as k: TPR = recall, FPR = (predicted - tp)/(N - support).
//   class 0: TPR 2/4, FPR 1/6 -> (1/2 + 5/6)/2 = 2/3
//   class 1: TPR 2/3, FPR 2/7 -> (2/3 + 5/7)/2 = 29/42
//   class 2: TPR 2/3, FPR 1/7 -> (2/3 + 6/7)/2 = 16/21
//   ovr macro = (28/42 + 29/42 + 32/42)/3 = 89/126
struct ThreeClass {
    std::vector<int> truth{0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
    std::vector<int> pred{0, 0, 1, 2, 1, 1, 0, 2, 2, 1};
    std::vector<float> probs;
    ThreeClass() {
        for (int p : pred)
            for (int k = 0; k < 3; k++) probs.push_back(k == p ? 0.6f : 0.2f);
    }
    ClassificationMetrics metrics() const { return classification_metrics(truth.data(), pred.data(), probs.data(), 10, 3); }
};

TEST_CASE("metrics: 3-class example against values worked by hand") {
    ClassificationMetrics m = ThreeClass().metrics();
    CHECK(m.confusion == std::vector<long long>{2, 1, 1, 1, 2, 0, 0, 1, 2});
    CHECK(m.support == std::vector<long long>{4, 3, 3});
    CHECK(m.predicted == std::vector<long long>{3, 4, 3});
    CHECK(m.accuracy == doctest::Approx(0.6).epsilon(kExact));
    const double precision[] = {2.0 / 3, 2.0 / 4, 2.0 / 3}, recall[] = {2.0 / 4, 2.0 / 3, 2.0 / 3},
                 f1[] = {4.0 / 7, 4.0 / 7, 4.0 / 6}, auc[] = {2.0 / 3, 29.0 / 42, 16.0 / 21};
    for (int k = 0; k < 3; k++) {
        CHECK(m.precision[k] == doctest::Approx(precision[k]).epsilon(kExact));
        CHECK(m.recall[k] == doctest::Approx(recall[k]).epsilon(kExact));
        CHECK(m.f1[k] == doctest::Approx(f1[k]).epsilon(kExact));
        CHECK(m.roc_auc_ovr[k] == doctest::Approx(auc[k]).epsilon(kExact));
    }
    CHECK(m.macro.precision == doctest::Approx(11.0 / 18).epsilon(kExact));
    CHECK(m.macro.recall == doctest::Approx(11.0 / 18).epsilon(kExact));
    CHECK(m.macro.f1 == doctest::Approx(38.0 / 63).epsilon(kExact));
    CHECK(m.weighted.precision == doctest::Approx(37.0 / 60).epsilon(kExact));
    CHECK(m.weighted.recall == doctest::Approx(0.6).epsilon(kExact));
    CHECK(m.weighted.f1 == doctest::Approx(0.6).epsilon(kExact));
    for (double v : {m.micro.precision, m.micro.recall, m.micro.f1}) CHECK(v == doctest::Approx(0.6).epsilon(kExact));
    CHECK(m.roc_auc == doctest::Approx(89.0 / 126).epsilon(kExact));
}

TEST_CASE("metrics: confusion table and report layout") {
    ClassificationMetrics m = ThreeClass().metrics();
    CHECK(format_confusion(m, {"ant", "bee", "cat"}) ==
          "true \\ predicted  ant  bee  cat\n"
          "             ant    2    1    1\n"
          "             bee    1    2    0\n"
          "             cat    0    1    2\n");
    // Columns widen to the longest name or count; names may be UTF-8 (one column per code point).
    std::vector<int> truth(1000, 0), pred(1000, 0);
    truth[0] = pred[0] = 1;
    ClassificationMetrics big = classification_metrics(truth.data(), pred.data(), nullptr, 1000, 2);
    CHECK(format_confusion(big, {"负面", "a-long-class-name"}) ==
          " true \\ predicted   负面  a-long-class-name\n"
          "               负面  999                  0\n"
          "a-long-class-name    0                  1\n");
    CHECK(format_report(m, {"ant", "bee", "cat"}) ==
          "              precision    recall  f1-score   support\n"
          "\n"
          "         ant     0.6667    0.5000    0.5714         4\n"
          "         bee     0.5000    0.6667    0.5714         3\n"
          "         cat     0.6667    0.6667    0.6667         3\n"
          "\n"
          "    accuracy                         0.6000        10\n"
          "   macro avg     0.6111    0.6111    0.6032        10\n"
          "weighted avg     0.6167    0.6000    0.6000        10\n"
          "\n"
          "roc auc (one-vs-rest macro): 0.7063\n");
    CHECK_THROWS_AS(format_report(m, {"ant", "bee"}), std::invalid_argument);
}

TEST_CASE("metrics: binary AUC with ties equals the Mann-Whitney count") {
    // Positives score 0.9 0.6 0.4, negatives 0.9 0.4 0.1. Pairs (positive, negative)
    // ranked right count 1, ties 1/2: 0.9 -> 1/2 + 1 + 1, 0.6 -> 0 + 1 + 1,
    // 0.4 -> 0 + 1/2 + 1; (5/2 + 2 + 3/2) / 9 = 2/3.
    std::vector<int> truth{1, 0, 1, 0, 1, 0};
    std::vector<float> probs;
    for (float p : {0.9f, 0.9f, 0.6f, 0.4f, 0.4f, 0.1f}) probs.insert(probs.end(), {1 - p, p});
    CHECK(roc_auc_one_vs_rest(truth.data(), probs.data(), 6, 2, 1) == doctest::Approx(2.0 / 3).epsilon(kExact));

    // Every score equal: the curve is the diagonal.
    std::vector<float> tied(12, 0.5f);
    CHECK(roc_auc_one_vs_rest(truth.data(), tied.data(), 6, 2, 1) == 0.5);
    // Perfect and reversed rankings.
    std::vector<float> perfect, reversed;
    for (int t : truth) {
        perfect.insert(perfect.end(), {0.f, (float)t});
        reversed.insert(reversed.end(), {0.f, (float)(1 - t)});
    }
    CHECK(roc_auc_one_vs_rest(truth.data(), perfect.data(), 6, 2, 1) == 1.0);
    CHECK(roc_auc_one_vs_rest(truth.data(), reversed.data(), 6, 2, 1) == 0.0);
}

TEST_CASE("metrics: undefined AUC is NaN and the report says why") {
    std::vector<int> truth(4, 0), pred{0, 1, 0, 1};
    std::vector<float> probs{0.9f, 0.1f, 0.4f, 0.6f, 0.7f, 0.3f, 0.2f, 0.8f};
    ClassificationMetrics m = classification_metrics(truth.data(), pred.data(), probs.data(), 4, 2);
    CHECK(std::isnan(m.roc_auc));
    std::string report = format_report(m, {"neg", "pos"});
    CHECK(report.find("roc auc (positive class 'pos'): undefined: no example has true class 'pos'\n") !=
          std::string::npos);

    truth = {0, 1, 0, 1};
    probs[3] = NAN;
    m = classification_metrics(truth.data(), pred.data(), probs.data(), 4, 2);
    CHECK(std::isnan(m.roc_auc));
    CHECK(format_report(m, {"neg", "pos"}).find("undefined: a probability of class 'pos' is NaN") != std::string::npos);

    // K > 2: one class without examples makes the macro AUC undefined; the others stay defined.
    ThreeClass c;
    for (int& t : c.truth) t = t == 2 ? 1 : t;
    m = c.metrics();
    CHECK(std::isnan(m.roc_auc_ovr[2]));
    CHECK(!std::isnan(m.roc_auc_ovr[0]));
    CHECK(std::isnan(m.roc_auc));
    CHECK(format_report(m, {"ant", "bee", "cat"}).find("undefined: no example has true class 'cat'") != std::string::npos);
}

TEST_CASE("metrics: bad input throws") {
    std::vector<int> truth{0, 1, 2}, pred{0, 1, 1};
    CHECK_THROWS_WITH_AS(classification_metrics(truth.data(), pred.data(), nullptr, 3, 2),
                         "metrics: true label 2 of example 2 is outside 0..1", std::invalid_argument);
    pred[0] = -1;
    CHECK_THROWS_WITH_AS(classification_metrics(truth.data(), pred.data(), nullptr, 3, 3),
                         "metrics: predicted label -1 of example 0 is outside 0..2", std::invalid_argument);
    CHECK_THROWS_AS(classification_metrics(truth.data(), pred.data(), nullptr, 0, 3), std::invalid_argument);
    CHECK_THROWS_AS(classification_metrics(truth.data(), pred.data(), nullptr, 3, 1), std::invalid_argument);
}

static void check_close(const std::vector<double>& got, const std::vector<float>& want, const std::string& what) {
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < got.size(); k++) {
        INFO(what << "[" << k << "]");
        INFO("got " << got[k] << ", scikit-learn " << want[k]);
        CHECK(std::fabs(got[k] - want[k]) <= kFixture);
    }
}

TEST_CASE("metrics: scikit-learn's values on random data with tied scores") {
    Fixture fx("tests/fixtures/metrics_sklearn.bin");
    for (const std::string name : {"binary", "multi4", "absent"}) {
        INFO("case " << name << " (scikit-learn " << fx.text("sklearn_version") << ")");
        const int K = fx.int_scalar(name + ".K");
        const std::vector<int32_t>& truth = fx.ints(name + ".truth", SIZE_MAX);
        const long long N = (long long)truth.size();
        const std::vector<int32_t>& pred = fx.ints(name + ".pred", N);
        const bool has_probs = fx.has(name + ".probs");
        const float* probs = has_probs ? fx.floats(name + ".probs", (size_t)N * K).data() : nullptr;
        ClassificationMetrics m = classification_metrics(truth.data(), pred.data(), probs, N, K);

        const std::vector<int32_t>& confusion = fx.ints(name + ".confusion", (size_t)K * K);
        CHECK(m.confusion == std::vector<long long>(confusion.begin(), confusion.end()));
        const std::vector<int32_t>& support = fx.ints(name + ".support", K);
        CHECK(m.support == std::vector<long long>(support.begin(), support.end()));
        check_close(m.precision, fx.floats(name + ".precision", K), "precision");
        check_close(m.recall, fx.floats(name + ".recall", K), "recall");
        check_close(m.f1, fx.floats(name + ".f1", K), "f1");
        check_close({m.accuracy}, {fx.scalar(name + ".accuracy")}, "accuracy");
        check_close({m.macro.precision, m.macro.recall, m.macro.f1}, fx.floats(name + ".macro", 3), "macro");
        check_close({m.micro.precision, m.micro.recall, m.micro.f1}, fx.floats(name + ".micro", 3), "micro");
        check_close({m.weighted.precision, m.weighted.recall, m.weighted.f1}, fx.floats(name + ".weighted", 3),
                    "weighted");
        if (has_probs) {
            check_close(m.roc_auc_ovr, fx.floats(name + ".auc_ovr", K), "auc_ovr");
            check_close({m.roc_auc}, {fx.scalar(name + ".auc")}, "auc");
        }
    }
}

TEST_CASE("metrics: format_report matches sklearn's classification_report") {
    Fixture fx("tests/fixtures/metrics_sklearn.bin");
    const std::vector<int32_t>& truth = fx.ints("binary.truth", SIZE_MAX);
    const std::vector<int32_t>& pred = fx.ints("binary.pred", truth.size());
    const std::vector<float>& probs = fx.floats("binary.probs", truth.size() * 2);
    ClassificationMetrics m = classification_metrics(truth.data(), pred.data(), probs.data(), (long long)truth.size(), 2);
    CHECK(fx.text("binary.report_names") == "negative,positive");
    std::string report = format_report(m, {"negative", "positive"});
    const std::string& sklearn = fx.text("binary.report");
    // sklearn's table, then ours adds the AUC line.
    CHECK(report.substr(0, sklearn.size()) == sklearn);
    CHECK(report.substr(sklearn.size()).rfind("\nroc auc (positive class 'positive'): 0.", 0) == 0);
}
