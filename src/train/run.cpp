#include "train/run.h"

#include <omp.h>

#include <memory>
#include <stdexcept>

#include "core/backend.h"
#include "train/model_setup.h"
#include "train/run_record.h"
#include "train/trainer.h"

// --device, or cuda where it can run and the cpu otherwise.
static std::unique_ptr<Backend> open_backend(const std::string& device) {
    if (!device.empty()) return std::unique_ptr<Backend>(make_backend(device.c_str()));
    try {
        return std::unique_ptr<Backend>(make_backend("cuda"));
    } catch (const std::exception&) {
        return std::unique_ptr<Backend>(make_backend("cpu"));
    }
}

static int config_field(const Model& model, const char* name) {
    for (const auto& [field, value] : model.config_fields())
        if (field == name) return (int)value;
    return 0;
}

int run_training(const TrainConfig& config, const std::vector<StepHook*>& hooks) {
    TrainConfig cfg = config;
    validate(cfg);
    if (cfg.threads > 0) omp_set_num_threads(cfg.threads);
    const std::string resume_from = cfg.resume || cfg.resume_if_any ? latest_checkpoint(cfg.checkpoint_dir) : "";
    if (cfg.resume && resume_from.empty())
        throw std::runtime_error("--resume: no checkpoint in " + cfg.checkpoint_dir +
                                 " (--resume-if-any starts afresh when there is none)");
    if (!resume_from.empty()) check_resumed_model(cfg);
    const std::string weights = !resume_from.empty() ? resume_from + "/model.bin" : cfg.model;
    const std::string arch = model_arch(cfg, weights);
    std::unique_ptr<Task> task = make_task(cfg);
    task->check_arch(arch);
    std::unique_ptr<Backend> be = open_backend(cfg.device);
    std::unique_ptr<Model> model = build_model(cfg, weights, *task, *be);
    TrainState st;
    load_start(cfg, resume_from, *model, st);
    task->open_data(model->B, model->T, config_field(*model, "V"), st.seed);
    if (!resume_from.empty()) task->train->restore(st.train_pos);
    Trainer trainer(cfg, *model, *task, st);
    for (StepHook* h : hooks) trainer.add_hook(*h);
    if (!cfg.eval_only) trainer.print_plan();
    task->print_baseline();
    if (!cfg.eval_only) return trainer.fit();
    trainer.evaluate_only();
    return 0;
}
