// Hugging Face folders <-> minitrain weight files for every architecture:
// what bin/convert runs, and the config.json handling that the GPT-2 and BERT
// converters (hf_gpt2.h, hf_bert.h) share.
//
// Errors are std::runtime_error("<file>: <problem>") on one line.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

// A Hugging Face folder to a minitrain weight file: config.json's model_type
// ("gpt2" or "bert") picks the converter.
void convert_hf_to_minitrain(const std::string& dir, const std::string& out_path);
// A minitrain (or llm.c) weight file to a Hugging Face folder: the file's
// architecture picks the converter. Weight files do not record dropout, so
// the folder gets transformers' default, 0.1, for every dropout. A model with
// LoRA is written merged (W + s B A in place of each adapted W), as a plain
// model of its base config; an adapter file is refused (it has no base).
void convert_minitrain_to_hf(const std::string& path, const std::string& out_dir);

// transformers' default for every dropout probability of GPT-2 and BERT.
inline constexpr float kHfDropout = 0.1f;

// DIR/name.
std::string hf_path(const std::string& dir, const char* name);
// DIR/model.safetensors; when it is absent but the folder holds the weights
// in a form not read here (pytorch_model.bin, a sharded checkpoint), fails
// saying so.
std::string hf_weights_path(const std::string& dir);
// DIR/config.json parsed; it must be a JSON object.
nlohmann::json read_hf_config(const std::string& dir);
// The field, which must be there, as an int in 1..INT_MAX; path names
// config.json in errors.
int hf_positive_int(const nlohmann::json& config, const std::string& key, const std::string& path);
// A dropout probability, `fallback` when the field is absent (validate() checks the range).
float hf_dropout(const nlohmann::json& config, const std::string& key, float fallback, const std::string& path);
// Fails unless the field is absent or holds one of the values the model
// implements; `why` says what the model does instead.
void hf_require(const nlohmann::json& config, const std::string& key, const std::vector<nlohmann::json>& allowed,
                const std::string& why, const std::string& path);
// "(768, 2304)", for error messages.
std::string shape_str(const std::vector<int64_t>& shape);
// The shortest decimal that reads back as the same float (0.1f -> 0.1, not
// 0.10000000149011612), for config values people read.
double shortest_decimal(float x);
// A classifier's number of labels: "num_labels" or the size of "id2label"
// (transformers' 2 when neither is there); at least 2.
int read_num_labels(const nlohmann::json& config, const std::string& path);
// id2label / label2id as transformers writes them for num_labels classes.
// id2label and label2id: the names, or LABEL_0.. when there are none.
void put_hf_labels(nlohmann::json& config, int num_labels, const std::vector<std::string>& names = {});
// Writes DIR/config.json (2-space indent, as transformers does), atomically.
void write_hf_config(const std::string& dir, const nlohmann::json& config);
