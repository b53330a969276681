// Building the model a run trains, and putting its starting weights in.
//
// The architecture comes from the weights the run starts from (a checkpoint
// being resumed, or --model) or else from the preset; the head from the task
// (a classifier of the task's classes, or the token head); the adapters (LoRA,
// prompts) from the flags, else from --adapter, else from the weights; then
// what trains (adapters and a classification head alone when there are
// adapters, --freeze, --layer-lr-decay) is marked before the arena is laid out.
#pragma once
#include <memory>
#include <string>

#include "core/backend.h"
#include "core/model.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/task.h"

// "gpt2" or "bert": the architecture of `weights` ("" for none: the preset's).
std::string model_arch(const TrainConfig& cfg, const std::string& weights);

// The allocated model (weights not yet set); prints what it is, what trains
// and the arena's sizes. `weights` as for model_arch.
std::unique_ptr<Model> build_model(const TrainConfig& cfg, const std::string& weights, const Task& task, Backend& be);

// Sets the starting weights: the checkpoint `resume_from` (with its state
// into st), else --model (partially where the model adds a head or adapters)
// and --adapter over it, else the architecture's initialisation from the seed.
void load_start(const TrainConfig& cfg, const std::string& resume_from, Model& model, TrainState& st);
