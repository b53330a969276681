// Hugging Face BERT checkpoints <-> the runtime's BERT.
//
// A Hugging Face folder holds config.json and model.safetensors. Three of
// transformers' classes map onto BERT's heads:
//
//   architectures                   tensors                                  head
//   BertModel                       embeddings.*, encoder.*, pooler.*        None
//   BertForMaskedLM                 bert.embeddings.*, bert.encoder.*,       MaskedLM
//                                   cls.predictions.*
//   BertForSequenceClassification   bert.embeddings.*, bert.encoder.*,       Classifier
//                                   bert.pooler.*, classifier.*
//
// The head comes from config.json's "architectures" when it names one of
// these, and must agree with the head tensors the file holds (a file without
// "architectures" is judged by its tensors alone). Whether the body's names
// carry the "bert." prefix is read off the file: sentence-transformers'
// checkpoints such as all-MiniLM-L6-v2 are BertModels without it.
//
// Our names are the file's without the prefix, except that a block's query,
// key and value are one tensor, stacked along the output dimension:
//   encoder.layer.N.attention.self.qkv.weight (3C, C) = [query; key; value] weights (C, C) each
//   encoder.layer.N.attention.self.qkv.bias   (3C)    = [query; key; value] biases (C) each
// Both store matmul weights (out, in), so nothing is transposed.
//
// On reading, also accepted and checked, as transformers' from_pretrained does:
//   - the buffer embeddings.position_ids that older transformers saved (skipped);
//   - LayerNorm.gamma / LayerNorm.beta, the TensorFlow-era names of
//     LayerNorm.weight / LayerNorm.bias (bert-base-uncased's file has them);
//   - cls.predictions.decoder.weight, which must equal the word embeddings
//     (the decoder is tied to them), and cls.predictions.decoder.bias, which
//     must equal cls.predictions.bias;
//   - for a masked-LM model, the pooler and the next-sentence head
//     cls.seq_relationship.* of a BertForPreTraining checkpoint (again
//     bert-base-uncased), which are dropped: BertForMaskedLM has neither.
// F16 and BF16 tensors are widened to fp32.
//
// Errors are std::runtime_error("<file>: <problem>") on one line.
#pragma once
#include <string>

#include "models/bert.h"

// DIR/config.json, checked, and the head that it and the tensor names in
// DIR/model.safetensors imply (only the file's header is read). The shape
// fields (vocab_size, hidden_size, num_hidden_layers, num_attention_heads,
// intermediate_size, max_position_embeddings, type_vocab_size) must be there;
// what the model does not implement (hidden_act other than the erf "gelu",
// layer_norm_eps other than 1e-12, relative position embeddings, a decoder,
// regression or multi-label problem types, ...) is refused rather than
// silently ignored. Dropouts: hidden_dropout_prob, attention_probs_dropout_prob
// (default 0.1 each) and classifier_dropout (null or absent: hidden's). The
// classifier's num_labels comes from "num_labels" or the size of "id2label"
// (default 2) and must be at least 2.
BertConfig read_hf_bert_config(const std::string& dir);

// Checks DIR/model.safetensors against a model whose config matches
// read_hf_bert_config(dir) (dropouts aside), before it is allocated: every
// tensor is there with its shape for the config, and nothing else is. Only
// the file's header is read, so a config.json that describes a model larger
// than the file fails here rather than after allocating it.
void check_hf_bert(const std::string& dir, const BERT& model);
// Loads DIR/model.safetensors into an allocated model: check_hf_bert, then
// every tensor's values, which must be finite.
void load_hf_bert(const std::string& dir, BERT& model);

// Writes DIR/config.json and DIR/model.safetensors (creating DIR) so that
// transformers' from_pretrained(DIR) of the head's class loads the model: F32
// tensors under that class's names, query/key/value split, the masked-LM
// decoder left to the tying.
void save_hf_bert(const std::string& dir, const BERT& model);
