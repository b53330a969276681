#include "adapters/freeze.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <vector>

ParamGroup param_group(const TensorInfo& t) {
    if (t.layer >= 0) return ParamGroup::Block;
    if (t.name == "wte.weight" || t.name == "wpe.weight" || t.name.rfind("embeddings.", 0) == 0)
        return ParamGroup::Embeddings;
    return ParamGroup::Head;
}

// The tensors one --freeze item selects, as a mask over params.tensors.
static std::vector<bool> select(const TensorTable& params, const std::string& item, int L) {
    const std::string err = "--freeze " + item + ": ";
    std::vector<bool> hit(params.tensors.size(), false);
    auto mark = [&](auto pred) {
        for (size_t i = 0; i < hit.size(); i++) hit[i] = pred(params.tensors[i]);
    };
    if (item == "embeddings") {
        mark([](const TensorInfo& t) { return param_group(t) == ParamGroup::Embeddings; });
    } else if (item == "body") {
        mark([](const TensorInfo& t) { return param_group(t) != ParamGroup::Head; });
    } else if (item.rfind("layers:", 0) == 0) {
        const std::string digits = item.substr(7);
        const std::string range = "K must be in 1.." + std::to_string(L) + " (the model has " +
                                  std::to_string(L) + " layers)";
        const bool number = !digits.empty() && digits.size() <= 9 &&
                            digits.find_first_not_of("0123456789") == std::string::npos;
        const int K = number ? std::stoi(digits) : 0;
        if (K < 1 || K > L) throw std::runtime_error(err + range);
        mark([K](const TensorInfo& t) { return t.layer >= 0 && t.layer < K; });
    } else {
        mark([&](const TensorInfo& t) { return fnmatch(item.c_str(), t.name.c_str(), 0) == 0; });
    }
    for (bool h : hit)
        if (h) return hit;
    throw std::runtime_error(err + "matches no tensor");
}

void apply_freeze(TensorTable& params, const std::string& spec, int L) {
    // Decide everything before touching params, so an error leaves it as it was.
    std::vector<bool> frozen(params.tensors.size(), false);
    size_t start = 0;
    while (true) {
        size_t comma = spec.find(',', start);
        std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        const size_t first = item.find_first_not_of(' ');
        item = first == std::string::npos ? "" : item.substr(first, item.find_last_not_of(' ') - first + 1);
        if (item.empty()) throw std::runtime_error("--freeze '" + spec + "': empty item in the list");
        std::vector<bool> hit = select(params, item, L);
        for (size_t i = 0; i < frozen.size(); i++) frozen[i] = frozen[i] || hit[i];
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    bool any_left = false;
    for (size_t i = 0; i < frozen.size(); i++)
        if (params.tensors[i].trainable && !frozen[i]) any_left = true;
    if (!any_left) throw std::runtime_error("--freeze " + spec + ": nothing left to train");
    for (size_t i = 0; i < frozen.size(); i++)
        if (frozen[i]) params.tensors[i].trainable = false;
}

// x to `digits` significant digits, as people write it: 0.8, 1, 0.0016, nan.
static std::string format_float(float x, int digits) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.*g", digits, x);
    return buf;
}

// 0 for the embeddings, i+1 for block i, L+1 for the head.
static int depth_id(const TensorInfo& t, int L) {
    const ParamGroup g = param_group(t);
    return g == ParamGroup::Embeddings ? 0 : g == ParamGroup::Block ? t.layer + 1 : L + 1;
}

void apply_layer_lr_decay(TensorTable& params, float decay, int L) {
    if (!(decay > 0.0f && decay <= 1.0f))
        throw std::runtime_error("--layer-lr-decay " + format_float(decay, 6) + ": must be in (0, 1]");
    for (TensorInfo& t : params.tensors) {
        if (t.layer >= L)
            throw std::logic_error("tensor " + t.name + " is in block " + std::to_string(t.layer) +
                                   " of a model with " + std::to_string(L) + " layers");
        t.lr_scale = (float)std::pow((double)decay, L + 1 - depth_id(t, L));
    }
}

namespace {

// What one line of describe_groups reports: element counts and the range of
// lr scales over the trainable tensors.
struct GroupSummary {
    size_t trainable = 0, frozen = 0;
    float lr_min = 0.0f, lr_max = 0.0f;

    void add(const TensorInfo& t) {
        merge({t.trainable ? t.numel() : 0, t.trainable ? 0 : t.numel(), t.lr_scale, t.lr_scale});
    }
    void merge(const GroupSummary& o) {
        if (o.trainable) {
            lr_min = trainable ? std::min(lr_min, o.lr_min) : o.lr_min;
            lr_max = trainable ? std::max(lr_max, o.lr_max) : o.lr_max;
        }
        trainable += o.trainable;
        frozen += o.frozen;
    }
    std::string line(const std::string& label) const {
        std::string s = label + std::string(label.size() < 12 ? 12 - label.size() : 0, ' ');
        if (trainable) s += " trainable " + std::to_string(trainable);
        if (frozen) s += std::string(trainable ? "," : "") + " frozen " + std::to_string(frozen);
        if (trainable)
            s += "  lr x" + format_float(lr_min, 3) + (lr_min == lr_max ? "" : "-" + format_float(lr_max, 3));
        return s + "\n";
    }
};

}  // namespace

std::string describe_groups(const TensorTable& params) {
    GroupSummary embeddings, head;
    std::vector<GroupSummary> blocks;
    for (const TensorInfo& t : params.tensors) {
        switch (param_group(t)) {
            case ParamGroup::Embeddings: embeddings.add(t); break;
            case ParamGroup::Head: head.add(t); break;
            case ParamGroup::Block:
                if ((size_t)t.layer >= blocks.size()) blocks.resize(t.layer + 1);
                blocks[t.layer].add(t);
                break;
        }
    }
    std::string out;
    if (embeddings.trainable + embeddings.frozen) out += embeddings.line("embeddings");
    // Neighbouring blocks with the same element split share a line (under LLRD
    // its lr range spans their scales).
    for (size_t first = 0; first < blocks.size();) {
        GroupSummary run = blocks[first];
        size_t last = first;
        while (last + 1 < blocks.size() && blocks[last + 1].trainable == blocks[first].trainable &&
               blocks[last + 1].frozen == blocks[first].frozen)
            run.merge(blocks[++last]);
        out += run.line(first == last ? "block " + std::to_string(first)
                                      : "blocks " + std::to_string(first) + "-" + std::to_string(last));
        first = last + 1;
    }
    if (head.trainable + head.frozen) out += head.line("head");
    return out;
}
