// The test runner's entry point; the tests live beside it, one file per subject.
// The run ends with the plain "tests: N passed, N failed, N skipped" line that
// CI reads; a test case that skipped itself (SKIP_TEST, support.h) counts as skipped.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "support.h"
#include "core/threads.h"

static unsigned g_run = 0, g_failed = 0;

// Only collects the totals; doctest's own console reporter prints everything else.
struct TotalsListener : doctest::IReporter {
    explicit TotalsListener(const doctest::ContextOptions&) {}
    void test_run_end(const doctest::TestRunStats& s) override {
        g_run = s.numTestCasesPassingFilters;
        g_failed = s.numTestCasesFailed;
    }
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_case_start(const doctest::TestCaseData&) override {}
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};
REGISTER_LISTENER("totals", 1, TotalsListener);

int main(int argc, char** argv) {
    use_polite_omp_waits(argv);
    doctest::Context context(argc, argv);
    int status = context.run();
    const unsigned skipped = skipped_tests();
    if (!context.shouldExit())
        std::printf("tests: %u passed, %u failed, %u skipped\n", g_run - g_failed - skipped, g_failed, skipped);
    return status;
}
