// bin/plot LOG.jsonl [OUT.svg]: the loss curve of a ./train run as an SVG
// picture (train loss per step, validation loss per evaluation), openable in
// any browser.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

struct Series {
    std::vector<double> x, y;
};

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
        std::fprintf(argc < 2 || argc > 3 ? stderr : stdout, "usage: plot LOG.jsonl [OUT.svg] (default OUT: LOG with .svg)\n");
        return argc < 2 || argc > 3 ? 1 : 0;
    }
    std::string in = argv[1];
    std::string out = argc == 3 ? argv[2] : in.substr(0, in.rfind('.')) + ".svg";
    Series train, val;
    try {
        std::ifstream f(in);
        if (!f) throw std::runtime_error(in + ": cannot open");
        std::string line;
        for (int n = 1; std::getline(f, line); n++) {
            nlohmann::json j;
            try {
                j = nlohmann::json::parse(line);
            } catch (const std::exception&) {
                throw std::runtime_error(in + ": line " + std::to_string(n) + " is not JSON");
            }
            if (j.value("type", "") == "train" && j["loss"].is_number())
                train.x.push_back(j["step"].get<double>()), train.y.push_back(j["loss"].get<double>());
            if (j.value("type", "") == "eval" && j["loss"].is_number())
                val.x.push_back(j["step"].get<double>()), val.y.push_back(j["loss"].get<double>());
        }
        if (train.x.empty()) throw std::runtime_error(in + ": no train records");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "plot: %s\n", e.what());
        return 1;
    }

    const double W = 800, H = 480, left = 70, right = 20, top = 40, bottom = 50;
    double x0 = train.x.front(), x1 = train.x.back();
    double y0 = 1e30, y1 = -1e30;
    for (const Series* s : {&train, &val})
        for (double y : s->y) y0 = std::min(y0, y), y1 = std::max(y1, y);
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) y1 = y0 + 1;
    auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (W - left - right); };
    auto py = [&](double y) { return top + (y1 - y) / (y1 - y0) * (H - top - bottom); };
    auto path = [&](const Series& s) {
        std::string d;
        char buf[64];
        for (size_t i = 0; i < s.x.size(); i++) {
            std::snprintf(buf, sizeof buf, "%c%.1f,%.1f ", i ? 'L' : 'M', px(s.x[i]), py(s.y[i]));
            d += buf;
        }
        return d;
    };
    FILE* f = std::fopen(out.c_str(), "w");
    if (!f) {
        std::fprintf(stderr, "plot: %s: cannot create\n", out.c_str());
        return 1;
    }
    std::fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    std::fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    std::fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"15\">loss: %s</text>\n", left, in.c_str());
    for (int i = 0; i <= 5; i++) {  // grid and tick labels
        double y = y0 + (y1 - y0) * i / 5, x = x0 + (x1 - x0) * i / 5;
        std::fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, W - right, py(y), py(y));
        std::fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", left - 6, py(y) + 4, y);
        std::fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", px(x), H - bottom + 18, x);
    }
    std::fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step</text>\n", (left + W - right) / 2, H - 10);
    std::fprintf(f, "<path d=\"%s\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1\"/>\n", path(train).c_str());
    if (!val.x.empty())
        std::fprintf(f, "<path d=\"%s\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n", path(val).c_str());
    std::fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#1f77b4\">train</text>\n", W - 140, top + 14);
    if (!val.x.empty()) std::fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#d62728\">validation</text>\n", W - 140, top + 30);
    std::fprintf(f, "</svg>\n");
    std::fclose(f);
    std::printf("%s: %zu train points, %zu evaluations\n", out.c_str(), train.x.size(), val.x.size());
    return 0;
}
