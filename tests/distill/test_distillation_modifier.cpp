#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "../train/test_support.h"
#include "distill/distillation_modifier.h"
#include "qat/quantization_modifier.h"
#include "train/trainer.h"

namespace qf::distill {
namespace {

DistillationModifierConfig parse(const std::string& yaml) {
  return parse_distillation_modifier(RecipeNode::parse(yaml, "mod.yaml"));
}

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(DistillationRecipe, ParsesKeysAndDefaults) {
  const auto c = parse("teacher: t.yaml\n");
  EXPECT_EQ(c.teacher, "t.yaml");
  EXPECT_FALSE(c.temperature.has_value());
  EXPECT_EQ(c.alpha, 0.5);
  EXPECT_EQ(c.window.start, 0.0);
  EXPECT_FALSE(c.window.end.has_value());
  const auto d = parse("teacher: runs/t\ntemperature: 2\nalpha: 0.1\nstart_epoch: 1\nend_epoch: 3\n");
  EXPECT_EQ(*d.temperature, 2.0);
  EXPECT_EQ(d.alpha, 0.1);
  DistillationModifier m(d, nullptr);
  // 10 steps per epoch: active on steps 10..29.
  EXPECT_FALSE(m.active(9, 10));
  EXPECT_TRUE(m.active(10, 10));
  EXPECT_TRUE(m.active(29, 10));
  EXPECT_FALSE(m.active(30, 10));
}

// The shared vocabulary: fractional epochs act mid-epoch, at round(epoch * steps_per_epoch).
TEST(DistillationRecipe, FractionalWindowActsMidEpoch) {
  DistillationModifier m(parse("teacher: t.yaml\nstart_epoch: 0.5\nend_epoch: 1.25\n"), nullptr);
  EXPECT_FALSE(m.active(4, 10));
  EXPECT_TRUE(m.active(5, 10));
  EXPECT_TRUE(m.active(12, 10));
  EXPECT_FALSE(m.active(13, 10));
}

TEST(DistillationRecipe, ErrorsNameTheLineAndKey) {
  std::string e = error_of("teacher: t.yaml\nalpah: 0.3\n");
  EXPECT_NE(e.find("mod.yaml:2"), std::string::npos) << e;
  EXPECT_NE(e.find("alpah"), std::string::npos) << e;
  e = error_of("teacher: t.yaml\ntemperature: 0\n");
  EXPECT_NE(e.find("mod.yaml:2"), std::string::npos) << e;
  EXPECT_NE(e.find("temperature"), std::string::npos) << e;
  e = error_of("teacher: t.yaml\n\nalpha: 1.5\n");
  EXPECT_NE(e.find("mod.yaml:3"), std::string::npos) << e;
  e = error_of("alpha: 0.5\n");
  EXPECT_NE(e.find("teacher"), std::string::npos) << e;
  e = error_of("teacher: t.yaml\nfeatures: [a]\n");
  EXPECT_NE(e.find("mod.yaml:2"), std::string::npos) << e;
  EXPECT_NE(e.find("not supported"), std::string::npos) << e;
  e = error_of("teacher: t.yaml\nstart_epoch: 2\nend_epoch: 1\n");
  EXPECT_NE(e.find("mod.yaml:3"), std::string::npos) << e;
  e = error_of("teacher: t.yaml\nend_epoch: -1\n");  // the old "to the end": now omit the key
  EXPECT_NE(e.find("mod.yaml:2: key 'end_epoch'"), std::string::npos) << e;
  e = error_of("teacher: t.yaml\ncache_teacher_logits: 2\n");
  EXPECT_NE(e.find("mod.yaml:2"), std::string::npos) << e;
}

// End to end: a CNN teacher trained into a temp run directory, then a QAT student (quantization
// first, then distillation, as in the shipped recipes) trained one epoch against it.
TEST(DistillationSmoke, QatStudentLearnsFromAFrozenTeacher) {
  const std::string teacher_dir = test::temp_dir("kd_teacher");
  {
    const Recipe tr = test::small_fashion_recipe("{family: cnn, channels: [8, 16], hidden: 32}", 1, 2000);
    train::RunOptions o;
    o.run_dir = teacher_dir;
    o.threads = 1;
    o.progress = false;
    train::Trainer(tr, o).run();
  }
  const Recipe r = test::small_fashion_recipe(
      "{family: cnn, channels: [8, 16], hidden: 32}", 1, 2000,
      "modifiers:\n  - quantization:\n      weights: {bits: 4}\n      inputs: {mode: static, bits: 8}\n"
      "  - distillation:\n      teacher: " + teacher_dir + "\n      temperature: 4\n      alpha: 0.5\n");
  ASSERT_EQ(r.modifiers.size(), 2u);
  const auto cfg = parse_distillation_modifier(r.modifiers[1].node);
  EXPECT_EQ(cfg.teacher, teacher_dir);

  std::shared_ptr<train::ZooModel> teacher;
  std::map<std::string, torch::Tensor> before;
  TeacherLoader loader = [&](train::TrainState& st) {
    const Recipe tr = load_recipe((std::filesystem::path(cfg.teacher) / "recipe.yaml").string());
    teacher = train::load_run_model(cfg.teacher, tr, st.task, {});
    for (const auto& p : teacher->named_parameters()) before[p.key()] = p.value().detach().clone();
    for (const auto& b : teacher->named_buffers()) before[b.key()] = b.value().detach().clone();
    return teacher;
  };
  train::RunOptions o;
  o.run_dir = test::temp_dir("kd_student");
  o.threads = 1;
  o.progress = false;
  train::Trainer t(r, o);
  t.add_modifier(std::make_shared<qat::QuantizationModifier>(qat::parse_quantization_modifier(r.modifiers[0].node)));
  auto kd = std::make_shared<DistillationModifier>(cfg, loader);
  t.add_modifier(kd);
  const auto res = t.run();

  ASSERT_TRUE(teacher);
  EXPECT_GT(res.metrics.values.at("accuracy"), 30.0);  // 10 classes: chance is 10%
  // The teacher was not trained: same parameters and BatchNorm statistics, no gradients.
  ASSERT_FALSE(before.empty());
  for (const auto& p : teacher->named_parameters()) {
    EXPECT_FALSE(p.value().requires_grad()) << p.key();
    EXPECT_FALSE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), before.at(p.key()))) << p.key();
  }
  for (const auto& b : teacher->named_buffers()) EXPECT_TRUE(torch::equal(b.value(), before.at(b.key()))) << b.key();
  // It is its own float model: the student's fake-quant slots were not put on it.
  for (auto& layer : teacher->layers()) {
    EXPECT_EQ(layer->hook(train::HookSlot::kWeightQuant), nullptr) << layer->layer_name();
    EXPECT_EQ(layer->hook(train::HookSlot::kInputQuant), nullptr) << layer->layer_name();
  }
  // The student is quantized and the KD terms were logged in metrics.jsonl.
  int student_quant = 0;
  for (auto& layer : t.model().layers()) student_quant += layer->hook(train::HookSlot::kWeightQuant) != nullptr;
  EXPECT_EQ(student_quant, 4);
  std::ifstream log(std::filesystem::path(o.run_dir) / "metrics.jsonl");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"kd\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"ce\""), std::string::npos) << text;
  EXPECT_DOUBLE_EQ(kd->temperature(), 4.0);
}

// Cached teacher logits (image tasks): the teacher runs only in the first epoch, and training
// matches the uncached run (the cached logits are the teacher's logits of the same examples).
TEST(DistillationSmoke, CachedTeacherLogitsRunTheTeacherOnlyInTheFirstEpoch) {
  const std::string teacher_dir = test::temp_dir("kd_cache_teacher");
  {
    train::RunOptions o;
    o.run_dir = teacher_dir;
    o.threads = 1;
    o.progress = false;
    train::Trainer(test::small_fashion_recipe("{family: mlp, hidden: [32]}", 1, 512), o).run();
  }
  TeacherLoader loader = [&](train::TrainState& st) {
    const Recipe tr = load_recipe((std::filesystem::path(teacher_dir) / "recipe.yaml").string());
    return train::load_run_model(teacher_dir, tr, st.task, {});
  };
  std::map<bool, double> accuracy;
  for (bool cache : {false, true}) {
    const Recipe r = test::small_fashion_recipe("{family: mlp, hidden: [16]}", 3, 512);
    DistillationModifierConfig cfg;
    cfg.teacher = teacher_dir;
    cfg.cache_teacher_logits = cache;
    train::RunOptions o;
    o.run_dir = test::temp_dir(cache ? "kd_cached" : "kd_uncached");
    o.threads = 1;
    o.progress = false;
    train::Trainer t(r, o);
    auto kd = std::make_shared<DistillationModifier>(cfg, loader);
    t.add_modifier(kd);
    accuracy[cache] = t.run().metrics.values.at("accuracy");
    EXPECT_EQ(kd->teacher_forwards(), cache ? 8 : 24) << "cache " << cache;  // 512 / 64 = 8 steps per epoch
  }
  EXPECT_NEAR(accuracy[true], accuracy[false], 0.5);
}

}  // namespace
}  // namespace qf::distill
