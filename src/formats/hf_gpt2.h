// Hugging Face GPT-2 checkpoints <-> the runtime's GPT2.
//
// A Hugging Face folder holds config.json and model.safetensors, as
// GPT2LMHeadModel.save_pretrained writes them. Tensor names map
// "transformer.h.0.attn.c_attn.weight" (GPT2LMHeadModel; GPT2Model and the
// original "gpt2" upload have no "transformer." prefix) <-> ours
// "h.0.attn.c_attn.weight". Two layouts differ:
//   - HF's Conv1D stores matmul weights (in, out) and ours are (out, in) like
//     nn.Linear, so attn.c_attn, attn.c_proj, mlp.c_fc and mlp.c_proj weights
//     are transposed both ways;
//   - wte has V rows there and Vp here (V rounded up to a multiple of 128,
//     llm.c's convention), the extra rows zero.
// On reading, "lm_head.weight" (tied to wte) must equal wte if present, and
// the non-persistent buffers "h.N.attn.bias" / "h.N.attn.masked_bias" that old
// files hold are skipped. F16 and BF16 tensors are widened to fp32.
//
// Errors are std::runtime_error("<file>: <problem>") on one line.
#pragma once
#include <string>

#include "models/gpt2.h"

// DIR/config.json, checked: n_layer, n_head, n_embd, vocab_size and
// n_positions (or the older n_ctx) must be there; everything the model does
// not implement (activation_function other than gelu_new, layer_norm_epsilon
// other than 1e-5, n_inner other than 4 * n_embd, untied embeddings, ...) is
// refused rather than silently ignored. Dropouts default to transformers' 0.1.
GPT2Config read_hf_gpt2_config(const std::string& dir);

// Checks DIR/model.safetensors against a model whose config matches
// read_hf_gpt2_config(dir), before it is allocated: every tensor is there
// with its HF shape, and nothing else is. Only the file's header is read, so
// a config.json that describes a model larger than the file fails here
// rather than after allocating it.
void check_hf_gpt2(const std::string& dir, const GPT2& model);
// Loads DIR/model.safetensors into an allocated model: check_hf_gpt2, then
// every tensor's values, which must be finite.
void load_hf_gpt2(const std::string& dir, GPT2& model);

// Writes DIR/config.json and DIR/model.safetensors (creating DIR) so that
// transformers' GPT2LMHeadModel.from_pretrained(DIR) loads the model: F32
// tensors under GPT2LMHeadModel's names, lm_head left to the tying. A model
// with a classification head is written as GPT2ForSequenceClassification
// ("score.weight", id2label, pad_token_id = the last id, GPT-2's end of text);
// read_hf_gpt2_config recognises that architecture and its num_labels.
void save_hf_gpt2(const std::string& dir, const GPT2& model);
