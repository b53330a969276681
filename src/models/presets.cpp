#include "models/presets.h"

#include <stdexcept>

bool is_bert_preset(const std::string& name) { return name.rfind("bert-", 0) == 0; }

template <typename Config>
static void apply(Config& c, const ShapeOverrides& o) {
    if (o.layers) c.L = o.layers;
    if (o.channels) c.C = o.channels;
    if (o.heads) c.NH = o.heads;
    if (o.max_T) c.max_T = o.max_T;
}

GPT2Config gpt2_preset(const std::string& name, int vocab, const ShapeOverrides& o) {
    GPT2Config c;
    if (name == "tiny") c.L = 4, c.C = 128, c.NH = 4, c.max_T = 256;
    else if (name == "small") c.L = 6, c.C = 384, c.NH = 6, c.max_T = 256;
    else if (name == "gpt2") c.L = 12, c.C = 768, c.NH = 12, c.max_T = 1024;
    else if (name == "gpt2-medium") c.L = 24, c.C = 1024, c.NH = 16, c.max_T = 1024;
    else throw std::runtime_error("--config " + name + ": expected tiny, small, gpt2, gpt2-medium or a bert-* preset");
    apply(c, o);
    c.V = vocab;
    c.Vp = (vocab + 127) / 128 * 128;  // aligned rows for the LM head
    validate(c, "--config");
    return c;
}

BertConfig bert_preset(const std::string& name, int vocab, const ShapeOverrides& o) {
    BertConfig c;
    if (name == "bert-tiny") c.L = 2, c.C = 128, c.NH = 2;
    else if (name == "bert-mini") c.L = 4, c.C = 256, c.NH = 4;
    else if (name == "bert-small") c.L = 4, c.C = 512, c.NH = 8;
    else if (name == "bert-base") c.L = 12, c.C = 768, c.NH = 12;
    else throw std::runtime_error("--config " + name + ": expected bert-tiny, bert-mini, bert-small or bert-base");
    apply(c, o);
    c.I = 4 * c.C;
    c.V = vocab;
    validate(c, "--config");
    return c;
}
