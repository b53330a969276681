// Which parameters train, and at what learning rate: --freeze presets and
// patterns, and layer-wise learning-rate decay (LLRD). Both only edit a
// model's parameter table (trainable, lr_scale), between declaring it and
// Arena::allocate(), so frozen tensors never get gradients or moments.
#pragma once
#include <string>

#include "core/arena.h"

// The three depths a parameter can sit at:
//   Embeddings  GPT-2's wte.weight and wpe.weight (wte also serves as the tied
//               LM head), BERT's embeddings.*
//   Block       every tensor with layer >= 0 (transformer block `layer`)
//   Head        everything else: ln_f, score, pooler, classifier, cls.*
// Only the layer field and those names decide, so adapters follow the same
// rule: LoRA tensors carry their block's layer, and prompt./prefix. tensors
// (layer -1) count as Head.
enum class ParamGroup { Embeddings, Block, Head };
ParamGroup param_group(const TensorInfo& t);

// Marks tensors untrainable. spec is a comma-separated list of items:
//   embeddings  the Embeddings group
//   layers:K    blocks 0..K-1, 1 <= K <= L
//   body        everything but the Head group (a linear probe)
//   <pattern>   tensor names matching an fnmatch(3) glob, e.g.
//               encoder.layer.[0-3].* or *.LayerNorm.*
// Items may carry spaces around them. Throws std::runtime_error
// ("--freeze <item>: <problem>") for an item that matches no tensor or a bad
// K, ("--freeze '<spec>': empty item in the list") for an empty spec or item,
// and ("--freeze <spec>: nothing left to train") when every tensor ends up
// frozen; params is unchanged then.
void apply_freeze(TensorTable& params, const std::string& spec, int L);

// BEiT's layer-wise lr decay: depth id 0 = embeddings, i+1 = block i,
// L+1 = head, and lr_scale = decay^(L+1-id): the head trains at the full lr,
// the top block at lr*decay, the embeddings at lr*decay^(L+1).
// decay must be in (0, 1] ("--layer-lr-decay <x>: must be in (0, 1]").
void apply_layer_lr_decay(TensorTable& params, float decay, int L);

// One line per group for the trainer's log, neighbouring blocks with the same
// split of trainable and frozen elements merged. BERT-base with a 2-label
// classifier, --freeze embeddings,layers:10 --layer-lr-decay 0.8:
//   embeddings   frozen 23837184
//   blocks 0-9   frozen 70878720
//   blocks 10-11 trainable 14175744  lr x0.64-0.8
//   head         trainable 592130  lr x1
std::string describe_groups(const TensorTable& params);
