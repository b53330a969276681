// bin/plot LOG.jsonl [OUT.svg]: a ./train run at a glance, as an SVG picture
// (any browser opens it) of up to three panels over the steps:
//   loss           train loss per step (faint), its smoothed curve, and the
//                  validation loss per evaluation
//   learning rate  the schedule as it ran
//   metric         the validation metric of a classify or mlm run (accuracy,
//                  or the first one logged besides the loss), when there is one
// Smoothing is TensorBoard's: an exponential moving average with weight 0.9,
// debiased at the start so the first points are not pulled toward 0.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Series {
    std::vector<double> x, y;
    void add(double step, const nlohmann::json& value) {
        if (value.is_number()) x.push_back(step), y.push_back(value.get<double>());
    }
};

struct Run {
    Series loss, lr, val_loss, metric;
    std::string metric_name;
};

Run read_log(const std::string& path) {
    std::ifstream f(path);
    if (!f) throw std::runtime_error(path + ": cannot open");
    Run run;
    std::string line;
    for (int n = 1; std::getline(f, line); n++) {
        const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) throw std::runtime_error(path + ": line " + std::to_string(n) + " is not JSON");
        const std::string type = j.value("type", "");
        if (!j.contains("step") || !j["step"].is_number()) continue;
        const double step = j["step"].get<double>();
        if (type == "train") run.loss.add(step, j.value("loss", nlohmann::json())), run.lr.add(step, j.value("lr", nlohmann::json()));
        if (type != "eval") continue;
        run.val_loss.add(step, j.value("loss", nlohmann::json()));
        if (run.metric_name.empty())
            for (const char* name : {"accuracy", "f1_macro", "auc"})
                if (j.contains(name)) {
                    run.metric_name = name;
                    break;
                }
        if (!run.metric_name.empty()) run.metric.add(step, j[run.metric_name]);
    }
    if (run.loss.x.empty()) throw std::runtime_error(path + ": no train records");
    return run;
}

Series smoothed(const Series& s, double weight) {
    Series out = s;
    double ema = 0, norm = 0;
    for (size_t i = 0; i < s.y.size(); i++) {
        ema = weight * ema + (1 - weight) * s.y[i];
        norm = weight * norm + (1 - weight);
        out.y[i] = ema / norm;
    }
    return out;
}

struct Curve {
    const Series* s;
    const char* color;
    double width;
    const char* label;
};

// One panel: its curves over [x0, x1], grid, ticks and legend, at vertical offset top.
void panel(FILE* f, const char* title, const std::vector<Curve>& curves, double x0, double x1, double top, double height) {
    const double W = 800, left = 70, right = 20;
    double y0 = 1e300, y1 = -1e300;
    for (const Curve& c : curves)
        for (double y : c.s->y) y0 = std::min(y0, y), y1 = std::max(y1, y);
    if (!(y1 > y0)) y1 = y0 + 1;
    auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (W - left - right); };
    auto py = [&](double y) { return top + (y1 - y) / (y1 - y0) * height; };
    std::fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"14\">%s</text>\n", left, top - 8, title);
    for (int i = 0; i <= 4; i++) {
        const double y = y0 + (y1 - y0) * i / 4, x = x0 + (x1 - x0) * i / 4;
        std::fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, W - right, py(y), py(y));
        std::fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", left - 6, py(y) + 4, y);
        std::fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", px(x), top + height + 16, x);
    }
    double legend = 220;  // on the title's line, left to right
    for (const Curve& c : curves) {
        if (c.s->x.empty()) continue;
        std::string d;
        char buf[64];
        for (size_t i = 0; i < c.s->x.size(); i++) {
            std::snprintf(buf, sizeof buf, "%c%.1f,%.1f ", i ? 'L' : 'M', px(c.s->x[i]), py(c.s->y[i]));
            d += buf;
        }
        std::fprintf(f, "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"/>\n", d.c_str(), c.color, c.width);
        if (c.label) std::fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"%s\">%s</text>\n", legend, top - 8, c.color, c.label), legend += 150;
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
        std::fprintf(argc < 2 || argc > 3 ? stderr : stdout, "usage: plot LOG.jsonl [OUT.svg] (default OUT: LOG with .svg)\n");
        return argc < 2 || argc > 3 ? 1 : 0;
    }
    const std::string in = argv[1], out = argc == 3 ? argv[2] : in.substr(0, in.rfind('.')) + ".svg";
    try {
        const Run run = read_log(in);
        const Series smooth = smoothed(run.loss, 0.9);
        const double x0 = run.loss.x.front(), x1 = std::max(run.loss.x.back(), x0 + 1);
        const int panels = run.metric.x.empty() ? 2 : 3;
        const double height = 220, gap = 60, H = 30 + gap + panels * (height + gap);
        FILE* f = std::fopen(out.c_str(), "w");
        if (!f) throw std::runtime_error(out + ": cannot create");
        std::fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", H);
        std::fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
        std::fprintf(f, "<text x=\"70\" y=\"20\" font-size=\"15\">%s</text>\n", in.c_str());
        panel(f, "loss", {{&run.loss, "#aec7e8", 1, "train"}, {&smooth, "#1f77b4", 2, "train (smoothed)"},
                          {&run.val_loss, "#d62728", 2, "validation"}}, x0, x1, 30 + gap, height);
        panel(f, "learning rate", {{&run.lr, "#2ca02c", 2, nullptr}}, x0, x1, 30 + gap + (height + gap), height);
        if (panels == 3)
            panel(f, ("validation " + run.metric_name).c_str(), {{&run.metric, "#9467bd", 2, nullptr}}, x0, x1,
                  30 + gap + 2 * (height + gap), height);
        std::fprintf(f, "<text x=\"410\" y=\"%.0f\" text-anchor=\"middle\">step</text>\n", H - gap + 36);
        std::fprintf(f, "</svg>\n");
        if (std::fclose(f) != 0) throw std::runtime_error(out + ": cannot write");
        std::printf("%s: %zu train points, %zu evaluations\n", out.c_str(), run.loss.x.size(), run.val_loss.x.size());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "plot: %s\n", e.what());
        return 1;
    }
}
