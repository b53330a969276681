// Named model shapes for training from scratch, with per-field overrides.
//   GPT-2: tiny (L4 C128 H4 T256), small (L6 C384 H6 T256), gpt2 (L12 C768
//          H12 T1024), gpt2-medium (L24 C1024 H16 T1024); vocabulary padded
//          to a multiple of 128 as llm.c does.
//   BERT:  Google's compact BERTs (Turc et al. 2019), I = 4C, max T 512:
//          bert-tiny (L2 C128 H2), bert-mini (L4 C256 H4), bert-small (L4
//          C512 H8), bert-base (L12 C768 H12).
#pragma once
#include <string>

#include "models/bert.h"
#include "models/gpt2.h"

// Fields that replace a preset's (0: keep the preset's).
struct ShapeOverrides {
    int layers = 0, channels = 0, heads = 0, max_T = 0;
};

bool is_bert_preset(const std::string& name);
// Throws "--config NAME: expected ..." for an unknown name, and the config's
// own validation message for a bad override.
GPT2Config gpt2_preset(const std::string& name, int vocab, const ShapeOverrides& o);
BertConfig bert_preset(const std::string& name, int vocab, const ShapeOverrides& o);
