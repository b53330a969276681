// LoRA adapters as Hugging Face PEFT saves them (peft's save_pretrained), so
// that PeftModel.from_pretrained(<the base HF model>, DIR) loads what minitrain
// trained. A folder of two files:
//
// adapter_model.safetensors: F32 tensors, __metadata__ {"format": "pt"}, named
//   "base_model.model." + the module's path in the Hugging Face class the
//   model corresponds to:
//     GPT-2 LM              GPT2LMHeadModel                 transformer.h.N.attn.c_attn.lora_A.weight
//     GPT-2 classifier      GPT2ForSequenceClassification   transformer.h.N...., score.weight
//     BERT, no head         BertModel                       encoder.layer.N.attention.self.query.lora_A.weight
//     BERT masked LM        BertForMaskedLM                 bert.encoder.layer.N....
//     BERT classifier       BertForSequenceClassification   bert.encoder.layer.N...., classifier.weight/.bias
//   lora_A (r, in) and lora_B (out, r) as nn.Linear stores them, which are
//   our shapes: PEFT reads a GPT-2 Conv1D's (in, out) weight as in, out and
//   transposes only the merged product (fan_in_fan_out). A classifier's head
//   is a PEFT "module to save" and goes in whole; nothing else of the base
//   does (bias "none"), so the rest, the BERT pooler included, comes from the
//   base model PEFT loads the adapter onto.
//
// adapter_config.json: peft_type LORA; task_type CAUSAL_LM, SEQ_CLS,
//   FEATURE_EXTRACTION (BertModel) or null (BertForMaskedLM, for which PEFT
//   has no task: the adapter then wraps the model as it is); r, lora_alpha,
//   lora_dropout, target_modules, fan_in_fan_out (true for GPT-2), bias none,
//   modules_to_save, init_lora_weights true, inference_mode true,
//   base_model_name_or_path, empty rank/alpha patterns; use_rslora only when
//   set (PEFT before 0.8 refuses the key, and false is its default).
//   PEFT adapts every module whose path equals a target or ends with
//   "." + target; a target name that would also catch a module we did not
//   adapt (BERT's output.dense catches attention.output.dense) is written per
//   block instead: "encoder.layer.N.output.dense".
//
// Errors are std::runtime_error("<path>: <problem>") on one line.
#pragma once
#include <string>

#include "core/model.h"

// Writes DIR/adapter_model.safetensors and DIR/adapter_config.json (creating
// DIR) for a GPT-2 or BERT model with LoRA. base_model_name_or_path goes into
// the config as is (empty: null).
void save_peft_adapter(const std::string& dir, const Model& model, const std::string& base_model_name_or_path);

// The same from a weight file with LoRA: a full one, or an adapter file that
// holds every LoRA tensor and the classifier head, if the model has one.
void convert_to_peft(const std::string& path, const std::string& dir, const std::string& base_model_name_or_path);
