#include "train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "train/distributed.h"
#include "train/gradient_sync.h"
#include "train/metrics_log.h"
#include "train/modifier_window.h"
#include "train/weight_ema.h"

namespace qf::train {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& o,
                                                        std::vector<torch::optim::OptimizerParamGroup> params) {
  if (o.type == "sgd")
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(o.nesterov).weight_decay(o.weight_decay));
  if (o.type == "adam")
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(o.lr).betas({o.betas.at(0), o.betas.at(1)}).eps(o.eps).weight_decay(o.weight_decay));
  if (o.type == "adamw")
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(o.lr)
                    .betas({o.betas.at(0), o.betas.at(1)})
                    .eps(o.eps)
                    .weight_decay(o.weight_decay));
  throw std::invalid_argument("unknown optimizer '" + o.type + "'");
}

std::string format_duration(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

// Writes `write(tmp)` to a temporary name in the same folder, then renames it over `path`, so a
// crash never leaves a half-written file under the real name.
template <typename WriteFn>
void write_atomically(const fs::path& path, WriteFn write) {
  const fs::path tmp = path.string() + ".tmp";
  write(tmp.string());
  fs::rename(tmp, path);
}

// Test hook for the launcher's failure handling: QFORGE_FAULT_INJECT="RANK:STEP" makes that rank
// throw at that optimizer step, "RANK:STEP:hang" makes it stop responding (sleep) instead.
void inject_fault_if_asked(int rank, int64_t step) {
  const char* spec = std::getenv("QFORGE_FAULT_INJECT");
  if (spec == nullptr) return;
  int r = -1;
  long long s = -1;
  char mode[8] = "";
  if (std::sscanf(spec, "%d:%lld:%7s", &r, &s, mode) < 2 || r != rank || s != step) return;
  if (std::string(mode) == "hang") {
    std::fprintf(stderr, "QFORGE_FAULT_INJECT: rank %d hangs at step %lld\n", rank, s);
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(60));
  }
  throw std::runtime_error("fault injected at step " + std::to_string(step) + " (QFORGE_FAULT_INJECT=" + spec + ")");
}

// Everything whose value must be the same on every rank: parameters (weights, learned scales) and
// buffers (observer ranges, masks, BatchNorm statistics).
std::vector<torch::Tensor> model_state(torch::nn::Module& m) {
  std::vector<torch::Tensor> out = m.parameters();
  for (auto& b : m.buffers()) out.push_back(b);
  return out;
}

}  // namespace

std::vector<torch::optim::OptimizerParamGroup> lr_factor_param_groups(
    const std::vector<std::shared_ptr<Modifier>>& modifiers, const std::vector<torch::Tensor>& params,
    std::vector<double>& factors) {
  // Group 0: every parameter no modifier claims, at factor 1; then one group per claimed set.
  std::vector<torch::optim::OptimizerParamGroup> groups;
  std::vector<const void*> claimed;
  std::vector<LrFactorGroup> asked;
  for (const auto& m : modifiers)
    for (LrFactorGroup& g : m->lr_factor_groups()) {
      if (g.factor < 0) throw std::invalid_argument("modifier " + m->name() + ": learning-rate factor < 0");
      for (const torch::Tensor& p : g.params) {
        if (std::find(claimed.begin(), claimed.end(), p.unsafeGetTensorImpl()) != claimed.end())
          throw std::logic_error("a parameter is in two learning-rate groups (modifier " + m->name() + ")");
        claimed.push_back(p.unsafeGetTensorImpl());
      }
      if (!g.params.empty()) asked.push_back(std::move(g));
    }
  std::vector<torch::Tensor> rest;
  for (const torch::Tensor& p : params)
    if (std::find(claimed.begin(), claimed.end(), p.unsafeGetTensorImpl()) == claimed.end()) rest.push_back(p);
  factors.assign(1, 1.0);
  groups.emplace_back(rest);
  for (LrFactorGroup& g : asked) {
    factors.push_back(g.factor);
    groups.emplace_back(g.params);
  }
  return groups;
}

Trainer::Trainer(Recipe recipe, RunOptions options) : recipe_(std::move(recipe)), options_(std::move(options)) {
  if (ProcessGroup* g = current_group()) {
    rank_ = g->rank();
    world_ = g->size();
  }
  // Workers of one machine share its cores.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(options_.threads > 0 ? options_.threads : std::max(1, cores / world_));
  if (!writer()) options_.progress = false;  // one progress line per job: rank 0's
  torch::manual_seed(static_cast<uint64_t>(recipe_.seed));
  task_ = make_task(recipe_);
  task_->set_shard(Shard{rank_, world_});
  model_ = make_model(recipe_.model, task_->input_shape());
  model_->to(options_.device);
}

Trainer::~Trainer() = default;

void prepare_modifiers(const std::vector<std::shared_ptr<Modifier>>& modifiers, TrainState& st) {
  std::vector<Modifier*> order;
  for (const auto& m : modifiers) order.push_back(m.get());
  std::stable_sort(order.begin(), order.end(),
                   [](const Modifier* a, const Modifier* b) { return a->prepare_order() < b->prepare_order(); });
  for (Modifier* m : order) m->prepare(st);
}

template <typename Fn>
void Trainer::emit(Fn fn) {
  for (auto& m : modifiers_) fn(*m);
}

void Trainer::prepare() {
  const TrainSpec& t = recipe_.train;
  state_ = std::make_unique<TrainState>(recipe_, *model_, *task_, options_.device);
  state_->steps_per_epoch = t.steps_per_epoch > 0 ? t.steps_per_epoch : task_->steps_per_epoch();
  // train.steps is the exact number of optimizer steps (and the LR schedule's length); the last
  // epoch is cut short when steps is not a multiple of the epoch length.
  state_->total_steps = t.steps > 0 ? t.steps : t.epochs * state_->steps_per_epoch;
  state_->epochs = (state_->total_steps + state_->steps_per_epoch - 1) / state_->steps_per_epoch;
  if (!options_.init_checkpoint.empty()) {
    load_model_weights(*model_, options_.init_checkpoint);
    model_->to(options_.device);
  }
  state_->calibrate_only = options_.calibrate_only;
  prepare_modifiers(modifiers_, *state_);
  model_->to(options_.device);
  optimizer_ = make_optimizer(t.optimizer, lr_factor_param_groups(modifiers_, model_->parameters(), lr_factors_));
  state_->optimizer = optimizer_.get();
  if (t.schedule.restart_epoch &&
      epoch_to_step(*t.schedule.restart_epoch, state_->steps_per_epoch) >= state_->total_steps)
    throw std::invalid_argument(recipe_.file + ":" + std::to_string(t.schedule.restart_line) +
                                ": train.schedule.restart_epoch (" + std::to_string(*t.schedule.restart_epoch) +
                                ", step " +
                                std::to_string(epoch_to_step(*t.schedule.restart_epoch, state_->steps_per_epoch)) +
                                ") must be before the run's last step (" + std::to_string(state_->total_steps) +
                                " steps): the restart would never happen");
  if (t.ema.enabled) {
    if (t.ema.start_step >= state_->total_steps)
      throw std::invalid_argument(recipe_.file + ":" + std::to_string(t.ema.line) + ": train.ema.start_step (" +
                                  std::to_string(t.ema.start_step) + ") must be < the run's " +
                                  std::to_string(state_->total_steps) + " steps: the average would never start");
    // Every rank averages its own (identical) parameters: no communication.
    ema_ = std::make_unique<WeightEma>(t.ema.decay, t.ema.start_step, model_->parameters());
  }
  if (world_ > 1) {
    if (recipe_.data.batch_size < world_)
      throw std::invalid_argument("data.batch_size " + std::to_string(recipe_.data.batch_size) +
                                  " is the global batch: it cannot be split over " + std::to_string(world_) + " workers");
    // Same seed, same data, all-reduced observer ranges: the replicas must agree already.
    check_identical_across_ranks(model_state(*model_), "model parameters or buffers after prepare (calibration)");
    grad_sync_ = std::make_unique<GradientSync>(*current_group(), model_->parameters(), options_.bucket_bytes);
  }
}

double Trainer::lr_at(int64_t step, int64_t total) const {
  const ScheduleSpec& s = recipe_.train.schedule;
  const double base = recipe_.train.optimizer.lr;
  if (s.type == "constant") return base;
  if (s.type == "step") {
    const int64_t epoch = step / std::max<int64_t>(1, state_->steps_per_epoch);
    return base * std::pow(s.gamma, static_cast<double>(epoch / std::max<int64_t>(1, s.step_epochs)));
  }
  // cosine with linear warm-up, restarted (warm-up and half cosine again) at restart_epoch if given
  if (s.restart_epoch) {
    const int64_t r = epoch_to_step(*s.restart_epoch, std::max<int64_t>(1, state_->steps_per_epoch));
    if (step >= r) {
      const int64_t local = step - r;
      if (local < s.warmup_steps)
        return s.restart_lr * static_cast<double>(local + 1) / static_cast<double>(s.warmup_steps);
      const double progress = static_cast<double>(local - s.warmup_steps) /
                              static_cast<double>(std::max<int64_t>(1, total - r - s.warmup_steps));
      return s.min_lr + (s.restart_lr - s.min_lr) * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
    }
  }
  if (step < s.warmup_steps) return base * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  const double progress = static_cast<double>(step - s.warmup_steps) /
                          static_cast<double>(std::max<int64_t>(1, total - s.warmup_steps));
  return s.min_lr + (base - s.min_lr) * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

// The checkpoint's entry for modifier i's state: its position and name, so that a recipe whose
// modifiers changed does not hand one modifier's state to another.
std::string Trainer::modifier_state_key(size_t i) const {
  return "modifier_state." + std::to_string(i) + "." + modifiers_[i]->name();
}

void Trainer::save_checkpoint(int64_t epochs_done, int64_t step) {
  if (!writer()) return;  // the replicas are identical (checked): rank 0's copy is the run's
  torch::serialize::OutputArchive archive, model_archive, optim_archive;
  model_->save(model_archive);
  optimizer_->save(optim_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optim_archive);
  if (ema_) {
    torch::serialize::OutputArchive ema_archive;
    ema_->save(ema_archive);
    archive.write("ema", ema_archive);
  }
  for (size_t i = 0; i < modifiers_.size(); ++i) {
    torch::serialize::OutputArchive state;
    modifiers_[i]->save_state(state);
    archive.write(modifier_state_key(i), state);
  }
  archive.write("epochs_done", torch::tensor(epochs_done));
  archive.write("step", torch::tensor(step));
  write_atomically(fs::path(options_.run_dir) / "checkpoint.pt",
                   [&](const std::string& tmp) { archive.save_to(tmp); });
}

bool Trainer::load_checkpoint(int64_t& epochs_done, int64_t& step) {
  const fs::path path = fs::path(options_.run_dir) / "checkpoint.pt";
  if (!fs::exists(path)) return false;
  torch::serialize::InputArchive archive, model_archive, optim_archive;
  archive.load_from(path.string(), options_.device);
  archive.read("model", model_archive);
  archive.read("optimizer", optim_archive);
  model_->load(model_archive);
  optimizer_->load(optim_archive);
  if (ema_) {
    torch::serialize::InputArchive ema_archive;
    if (!archive.try_read("ema", ema_archive))
      throw std::runtime_error(path.string() +
                               ": holds no EMA weights, but the recipe has train.ema: resuming would "
                               "restart the average (start the run again without --resume)");
    ema_->load(ema_archive);
  }
  for (size_t i = 0; i < modifiers_.size(); ++i) {
    torch::serialize::InputArchive state;
    if (archive.try_read(modifier_state_key(i), state)) modifiers_[i]->load_state(state);
  }
  torch::Tensor e, s;
  archive.read("epochs_done", e);
  archive.read("step", s);
  epochs_done = e.item<int64_t>();
  step = s.item<int64_t>();
  return true;
}

RunResult Trainer::run() {
  // The run directory is created only once the model, the initial weights and every modifier are
  // prepared: a recipe that fails there leaves nothing behind.
  prepare();
  if (writer()) fs::create_directories(options_.run_dir);
  TrainState& st = *state_;
  const fs::path run_dir(options_.run_dir);
  MetricsLog log((run_dir / "metrics.jsonl").string());

  int64_t epochs_done = 0, step = 0;
  if (options_.resume && load_checkpoint(epochs_done, step)) {
    if (writer()) log.truncate_after_epoch(epochs_done);
    std::fprintf(stderr, "resuming %s after epoch %lld (step %lld)\n", options_.run_dir.c_str(),
                 static_cast<long long>(epochs_done), static_cast<long long>(step));
  } else {
    if (options_.resume) std::fprintf(stderr, "no checkpoint in %s: starting from scratch\n", options_.run_dir.c_str());
    if (writer()) {
      log.truncate_after_epoch(0);
      write_atomically(run_dir / "recipe.yaml", [&](const std::string& tmp) { std::ofstream(tmp) << recipe_.text; });
    }
    if (!modifiers_.empty() || options_.calibrate_only) {
      // Every rank evaluates (no collectives in evaluation), so none waits on rank 0 for that long.
      Json rec = Json::object();
      rec["event"] = "start";
      for (auto& [k, v] : task_->evaluate(*model_, options_.device).values) rec[k] = v;
      if (writer()) log.append(rec);
    }
  }
  if (world_ > 1) {
    // Whether resumed (every rank read the same file) or not, all replicas must start equal.
    check_identical_across_ranks(model_state(*model_), "model parameters or buffers at the start of training");
    if (writer() && options_.progress)
      std::fprintf(stderr, "data parallel: %d workers (%s), global batch %lld, %lld per worker, %zu gradient buckets\n",
                   world_, current_group()->backend().c_str(), static_cast<long long>(recipe_.data.batch_size),
                   static_cast<long long>(recipe_.data.batch_size / world_), grad_sync_->buckets());
  }
  if (options_.calibrate_only) {  // nothing to train
    st.epochs = epochs_done;
    st.total_steps = step;
  }

  emit([&](Modifier& m) { m.train_start(st); });
  RunResult result;
  const bool tty = isatty(STDERR_FILENO);
  const auto run_start = Clock::now();
  double step_seconds = 0;
  int64_t steps_timed = 0;

  for (int64_t epoch = epochs_done; epoch < st.epochs; ++epoch) {
    if (options_.stop_after_epochs > 0 && result.epochs_run == options_.stop_after_epochs) break;
    // Dropout and any other randomness depend only on (seed, epoch): resume reproduces them.
    // Each rank draws its own dropout masks (rank 0 as a single process does).
    torch::manual_seed(static_cast<uint64_t>(recipe_.seed) * 1000003u + static_cast<uint64_t>(epoch) +
                       static_cast<uint64_t>(rank_) * 0x9E3779B97F4A7C15ULL);
    st.epoch = epoch;
    st.epoch_log.clear();
    model_->train();
    emit([&](Modifier& m) { m.epoch_start(st); });

    double loss_sum = 0;
    int64_t samples = 0, global_samples = 0;
    const double step_seconds_before = step_seconds;
    const double comm_before = grad_sync_ ? grad_sync_->exposed_comm_seconds() : 0.0;
    const auto epoch_start = Clock::now();
    auto last_print = epoch_start;
    const int64_t epoch_steps = std::min(st.steps_per_epoch, st.total_steps - epoch * st.steps_per_epoch);
    for (int64_t s = 0; s < epoch_steps; ++s, ++step) {
      const auto t0 = Clock::now();
      st.step = step;
      const double lr = lr_at(step, st.total_steps);
      for (size_t g = 0; g < optimizer_->param_groups().size(); ++g)
        optimizer_->param_groups()[g].options().set_lr(lr * lr_factors_.at(g));

      st.batch = task_->train_batch(epoch, s);
      st.batch.input = st.batch.input.to(options_.device);
      st.batch.target = st.batch.target.to(options_.device);
      st.step_log.clear();
      emit([&](Modifier& m) { m.before_forward(st); });
      st.output = model_->forward(st.batch.input);
      st.loss = task_->loss(st.output, st.batch);
      emit([&](Modifier& m) { m.after_loss(st); });
      // The model's own term (the MoE load-balancing loss) after the modifiers, which may replace
      // the task loss (distillation's KD loss).
      if (const torch::Tensor aux = model_->auxiliary_loss(); aux.defined()) {
        st.step_log["aux_loss"] = aux.item<double>();
        st.loss = st.loss + aux;
      }
      inject_fault_if_asked(rank_, step);
      const double loss_value = st.loss.item<double>();
      if (!std::isfinite(loss_value)) {
        throw std::runtime_error("loss is " + std::to_string(loss_value) + " at epoch " + std::to_string(epoch + 1) +
                                 ", step " + std::to_string(step) + ": stopping (lower the learning rate?)");
      }
      optimizer_->zero_grad();
      if (grad_sync_) {
        // Summed over ranks, shard-weighted losses give the global batch's mean loss gradient.
        grad_sync_->begin_step();
        const double weight = static_cast<double>(st.batch.input.size(0)) /
                              static_cast<double>(st.batch.global_examples());
        (st.loss * weight).backward();
        grad_sync_->finish();
      } else {
        st.loss.backward();
      }
      emit([&](Modifier& m) { m.after_backward(st); });
      if (recipe_.train.grad_clip > 0)
        torch::nn::utils::clip_grad_norm_(model_->parameters(), recipe_.train.grad_clip);
      optimizer_->step();
      emit([&](Modifier& m) { m.after_step(st); });
      if (ema_) ema_->update(step);  // the weights as the modifiers left them (masks, dampening)

      const int64_t n = st.batch.input.size(0);
      loss_sum += loss_value * static_cast<double>(n);
      samples += n;
      global_samples += st.batch.global_examples();
      const auto now = Clock::now();
      step_seconds += std::chrono::duration<double>(now - t0).count();
      ++steps_timed;
      if (options_.progress && (std::chrono::duration<double>(now - last_print).count() > (tty ? 0.5 : 10.0) ||
                                s + 1 == epoch_steps)) {
        last_print = now;
        const double elapsed = std::chrono::duration<double>(now - epoch_start).count();
        const double per_step = elapsed / static_cast<double>(s + 1);
        const int64_t steps_left = st.total_steps - (step + 1);
        std::ostringstream extra;
        for (auto& [k, v] : st.step_log) extra << "  " << k << " " << v;
        std::fprintf(stderr, "%sepoch %lld/%lld  step %lld/%lld  loss %.4f  lr %.2e  %.0f samples/s  ETA %s%s%s",
                     tty ? "\r\033[K" : "", static_cast<long long>(epoch + 1), static_cast<long long>(st.epochs),
                     static_cast<long long>(s + 1), static_cast<long long>(epoch_steps),
                     loss_sum / static_cast<double>(samples), lr, static_cast<double>(global_samples) / elapsed,
                     format_duration(per_step * static_cast<double>(steps_left)).c_str(), extra.str().c_str(),
                     tty ? "" : "\n");
      }
    }
    if (options_.progress && tty) std::fputc('\n', stderr);

    st.batch = {};
    st.output = st.loss = torch::Tensor();
    const Metrics metrics = task_->evaluate(*model_, options_.device);
    emit([&](Modifier& m) { m.epoch_end(st); });
    std::vector<double> loss_and_count = {loss_sum, static_cast<double>(samples)};
    all_reduce_sum(loss_and_count);  // the epoch's train loss over every rank's shards
    result.samples += global_samples;
    if (world_ > 1) check_identical_across_ranks(model_state(*model_), "model parameters or buffers at the end of epoch " + std::to_string(epoch + 1));
    if (world_ > 1 && ema_)
      check_identical_across_ranks(ema_->shadows(), "EMA weights at the end of epoch " + std::to_string(epoch + 1));
    const double epoch_seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();

    Json rec = Json::object();
    rec["event"] = "epoch";
    rec["epoch"] = epoch + 1;
    rec["step"] = step;
    rec["train_loss"] = loss_and_count[0] / std::max(1.0, loss_and_count[1]);
    rec["lr"] = lr_at(std::max<int64_t>(0, step - 1), st.total_steps);
    rec["seconds"] = epoch_seconds;
    // Training throughput of the whole job (global batches over the optimizer steps' wall time).
    rec["train_samples_per_s"] = static_cast<double>(global_samples) / std::max(1e-9, step_seconds - step_seconds_before);
    if (grad_sync_) {
      rec["workers"] = world_;
      rec["comm_wait_seconds"] = grad_sync_->exposed_comm_seconds() - comm_before;  // not hidden by backward
    }
    for (auto& [k, v] : metrics.values) rec[k] = v;
    for (auto& [k, v] : st.epoch_log) rec[k] = v;
    if (writer()) log.append(rec);
    if (options_.progress) {
      std::ostringstream line;
      for (auto& [k, v] : metrics.values) line << "  " << k << " " << v;
      std::fprintf(stderr, "epoch %lld/%lld done in %s:%s\n", static_cast<long long>(epoch + 1),
                   static_cast<long long>(st.epochs), format_duration(epoch_seconds).c_str(), line.str().c_str());
    }
    save_checkpoint(epoch + 1, step);
    if (current_group()) current_group()->barrier();  // no rank runs ahead of the checkpoint it may resume from
    result.metrics = metrics;
    ++result.epochs_run;
  }

  const bool finished = epochs_done + result.epochs_run >= st.epochs;
  if (result.epochs_run == 0) result.metrics = task_->evaluate(*model_, options_.device);
  if (options_.calibrate_only) save_checkpoint(epochs_done, step);
  const bool use_ema = finished && ema_ && !options_.calibrate_only;
  // The EMA weights replace the trained ones before the modifiers' train_end, which puts their
  // final state on them (masks, quantization on); the final evaluation and the checkpoint are then
  // the EMA model's. Resuming a finished run copies the same average again.
  if (use_ema) ema_->copy_to_model();
  if (finished) {
    emit([&](Modifier& m) { m.train_end(st); });
    if (use_ema) {
      result.metrics = task_->evaluate(*model_, options_.device);
      save_checkpoint(epochs_done + result.epochs_run, step);
    }
    Json rec = Json::object();
    rec["event"] = "final";
    rec["epochs"] = st.epochs;
    rec["step"] = step;
    if (use_ema) {
      rec["weights"] = "ema";  // the epoch records evaluate the raw weights
      rec["ema_decay"] = ema_->decay();
    }
    for (auto& [k, v] : result.metrics.values) rec[k] = v;
    if (writer()) log.append(rec);
  }
  result.train_seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
  result.seconds_per_step = steps_timed ? step_seconds / static_cast<double>(steps_timed) : 0.0;
  if (grad_sync_) result.comm_seconds = grad_sync_->exposed_comm_seconds();
  return result;
}

std::shared_ptr<ZooModel> load_run_model(const std::string& run_dir, const Recipe& recipe, Task& task,
                                         const std::vector<std::shared_ptr<Modifier>>& modifiers) {
  auto model = make_model(recipe.model, task.input_shape());
  TrainState st{recipe, *model, task, torch::kCPU};
  st.restoring = true;
  prepare_modifiers(modifiers, st);
  load_model_weights(*model, (fs::path(run_dir) / "checkpoint.pt").string());
  model->eval();
  return model;
}

namespace {

std::string shape_str(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// Module::load assigns every stored tensor to the model's one with set_(), which silently takes
// the stored shape: a run of another architecture would "load". So every parameter and buffer is
// compared with its stored counterpart first (Module::save nests one archive per child module).
void check_shapes(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& prefix,
                  const std::string& checkpoint) {
  auto check = [&](const std::string& name, const torch::Tensor& mine, bool is_buffer) {
    torch::Tensor stored;
    if (!archive.try_read(name, stored, is_buffer)) return;  // missing: Module::load reports it
    if (stored.sizes() != mine.sizes())
      throw std::runtime_error(checkpoint + ": " + (is_buffer ? "buffer" : "parameter") + " '" + prefix + name +
                               "' has shape " + shape_str(stored) + " in the checkpoint but " + shape_str(mine) +
                               " in this model (a run of another architecture?)");
  };
  for (const auto& p : module.named_parameters(/*recurse=*/false)) check(p.key(), p.value(), false);
  for (const auto& b : module.named_buffers(/*recurse=*/false)) check(b.key(), b.value(), true);
  for (const auto& c : module.named_children()) {
    torch::serialize::InputArchive child;
    if (archive.try_read(c.key(), child)) check_shapes(*c.value(), child, prefix + c.key() + ".", checkpoint);
  }
}

}  // namespace

void load_model_weights(torch::nn::Module& model, const std::string& checkpoint) {
  if (!fs::exists(checkpoint)) throw std::runtime_error("checkpoint not found: " + checkpoint);
  torch::serialize::InputArchive archive, model_archive;
  archive.load_from(checkpoint, torch::kCPU);
  archive.read("model", model_archive);
  check_shapes(model, model_archive, "", checkpoint);
  try {
    model.load(model_archive);
  } catch (const std::exception& e) {
    throw std::runtime_error(checkpoint + " does not fit this model (different architecture or modifiers?): " +
                             std::string(e.what()).substr(0, 300));
  }
}

}  // namespace qf::train
