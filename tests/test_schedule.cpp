// Learning-rate schedules against hand-computed values and SGDR's closed form.
#include <doctest/doctest.h>

#include <cmath>

#include "train/schedule.h"

static Schedule make(const char* kind) {
    Schedule s;
    s.kind = kind;
    s.lr = 1.0f;
    s.min_lr = 0.1f;
    s.warmup = 10;
    s.total = 110;
    return s;
}

TEST_CASE("schedule: warmup is linear from lr/W and reaches lr at the last warmup step") {
    Schedule s = make("cosine");
    CHECK(lr_at(s, 0) == doctest::Approx(0.1));
    CHECK(lr_at(s, 4) == doctest::Approx(0.5));
    CHECK(lr_at(s, 9) == doctest::Approx(1.0));
}

TEST_CASE("schedule: constant, linear, cosine and step decay") {
    CHECK(lr_at(make("constant"), 50) == doctest::Approx(1.0));
    Schedule lin = make("linear");
    CHECK(lr_at(lin, 10) == doctest::Approx(1.0));
    CHECK(lr_at(lin, 60) == doctest::Approx(0.55));
    CHECK(lr_at(lin, 110) == doctest::Approx(0.1));
    CHECK(lr_at(lin, 500) == doctest::Approx(0.1));  // past the end it stays at min_lr
    Schedule cos = make("cosine");
    CHECK(lr_at(cos, 10) == doctest::Approx(1.0));
    CHECK(lr_at(cos, 60) == doctest::Approx(0.55));
    CHECK(lr_at(cos, 35) == doctest::Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI / 4))));
    CHECK(lr_at(cos, 110) == doctest::Approx(0.1));
    Schedule step = make("step");
    step.step_size = 30;
    step.gamma = 0.5f;
    CHECK(lr_at(step, 39) == doctest::Approx(1.0));
    CHECK(lr_at(step, 40) == doctest::Approx(0.5));
    CHECK(lr_at(step, 100) == doctest::Approx(0.125));
}

TEST_CASE("schedule: cosine with warm restarts matches SGDR's closed form") {
    for (float mult : {1.0f, 2.0f, 3.0f}) {
        Schedule s = make("restarts");
        s.warmup = 0;
        s.step_size = 7;
        s.step_mult = mult;
        for (int t = 0; t < 300; t++) {
            // CosineAnnealingWarmRestarts: period i has length T0 * mult^i.
            double T0 = 7, cur, Ti;
            if (mult == 1.0f) {
                cur = std::fmod((double)t, T0);
                Ti = T0;
            } else {
                double i = std::floor(std::log(t * (mult - 1) / T0 + 1) / std::log((double)mult));
                cur = t - T0 * (std::pow(mult, i) - 1) / (mult - 1);
                Ti = T0 * std::pow(mult, i);
            }
            double want = 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * cur / Ti));
            CHECK(lr_at(s, t) == doctest::Approx(want).epsilon(1e-5));
        }
    }
}

TEST_CASE("schedule: bad values are refused naming the flag") {
    Schedule s = make("wavy");
    CHECK_THROWS_WITH(validate(s), doctest::Contains("--schedule wavy"));
    s = make("cosine");
    s.lr = -1;
    CHECK_THROWS_WITH(validate(s), doctest::Contains("--lr"));
    s = make("cosine");
    s.min_lr = 2;
    CHECK_THROWS_WITH(validate(s), doctest::Contains("--min-lr"));
}
