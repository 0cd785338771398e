// Import of checkpoints other programs wrote and the self-describing export (issue 14):
// a transformers-written Llama (checked-in fixture tests/reference/hf_llama_tiny, made by
// make_hf_fixture.py) loads and computes transformers' loss; import is strict about keys, dtypes and
// aliased tensors; an upstream-style `mor` block imports; export -> import (without
// mor_train_config) -> export reproduces the mor block and the weights byte for byte, and the
// block holds resolved values only.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "checkpoints/export_hf.h"
#include "checkpoints/safetensors.h"
#include "data_fixtures.h"
#include "src/model/model.h"
#include "src/train/model_io.h"

namespace mor {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using testing::TempDir;
using testing::error_of;

const std::string kFixture = std::string(MOR_SOURCE_DIR) + "/tests/reference/hf_llama_tiny";

json read_json(const fs::path& p) {
  std::ifstream f(p);
  return json::parse(f);
}
void write_json(const fs::path& p, const json& j) { std::ofstream(p) << j.dump(2); }
std::string bytes_of(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

double loss_of(Model& model, const Tensor& tokens) {
  ad::NoGradScope ng;
  ForwardContext ctx;
  ctx.training = false;
  return model.forward(tokens, ctx).lm_loss;
}

TEST(HfImport, TransformersWrittenLlamaMatchesTransformersLoss) {
  const json ref = read_json(kFixture + ".json");
  const LoadedModel lm = load_model(kFixture);
  EXPECT_EQ(lm.config.model.mor.type, "none");
  EXPECT_EQ(lm.config.model.n_layers, 2);
  EXPECT_TRUE(lm.config.model.tie_embeddings);
  std::vector<int32_t> tok;
  for (const auto& row : ref["tokens"])
    for (int v : row) tok.push_back(v);
  const Tensor tokens = Tensor::from_vector(tok, {int64_t(ref["tokens"].size()), int64_t(ref["tokens"][0].size())});
  EXPECT_NEAR(loss_of(*lm.model, tokens), ref["loss"].get<double>(), 2e-6 * ref["loss"].get<double>());
}

// A copy of the fixture whose safetensors `edit` may change.
std::string edited_fixture(const TempDir& t, const std::function<void(ckpt::SafetensorsFile&)>& edit) {
  const fs::path d = t.path / "hf";
  fs::create_directories(d);
  fs::copy_file(fs::path(kFixture) / "config.json", d / "config.json");
  ckpt::SafetensorsFile f = ckpt::read_safetensors(kFixture + "/model.safetensors");
  edit(f);
  ckpt::write_safetensors((d / "model.safetensors").string(), f);
  return d.string();
}

TEST(HfImport, StrictAboutKeysDtypesAndAliases) {
  {
    TempDir t;
    const std::string e = error_of([&] {
      ckpt::import_hf(edited_fixture(t, [](ckpt::SafetensorsFile& f) {
        f.tensors["model.layers.1.mlp.gate.weight"] = f.tensors.at("model.layers.1.mlp.gate_proj.weight");
        f.tensors.erase("model.layers.1.mlp.gate_proj.weight");
      }));
    });
    EXPECT_NE(e.find("missing model.layers.1.mlp.gate_proj.weight"), std::string::npos) << e;
    EXPECT_NE(e.find("unknown model.layers.1.mlp.gate.weight"), std::string::npos) << e;
  }
  {
    TempDir t;
    const std::string e = error_of([&] {
      ckpt::import_hf(edited_fixture(t, [](ckpt::SafetensorsFile& f) { f.tensors["model.extra.weight"] = Tensor::zeros({2}, DType::F32); }));
    });
    EXPECT_NE(e.find("unknown model.extra.weight"), std::string::npos) << e;
  }
  {
    TempDir t;
    const std::string e = error_of([&] {
      ckpt::import_hf(edited_fixture(t, [](ckpt::SafetensorsFile& f) {
        f.tensors["model.norm.weight"] = Tensor::zeros({32}, DType::I32);
      }));
    });
    EXPECT_NE(e.find("integer tensors: model.norm.weight"), std::string::npos) << e;
  }
  {
    TempDir t;
    const std::string e = error_of([&] {
      ckpt::import_hf(edited_fixture(t, [](ckpt::SafetensorsFile& f) { f.tensors.erase("model.norm.weight"); }));
    });
    EXPECT_NE(e.find("missing model.norm.weight"), std::string::npos) << e;
  }
  {  // a tied lm_head may be present, but then it must equal the embedding
    TempDir t;
    ckpt::import_hf(edited_fixture(t, [](ckpt::SafetensorsFile& f) {
      f.tensors["lm_head.weight"] = f.tensors.at("model.embed_tokens.weight").clone();
    }));
    TempDir u;
    const std::string e = error_of([&] {
      ckpt::import_hf(edited_fixture(u, [](ckpt::SafetensorsFile& f) {
        Tensor h = f.tensors.at("model.embed_tokens.weight").clone();
        h.data<float>()[7] += 1e-3f;
        f.tensors["lm_head.weight"] = h;
      }));
    });
    EXPECT_NE(e.find("'lm_head.weight' should equal 'model.embed_tokens.weight'"), std::string::npos) << e;
  }
}

Config mor_config(const std::string& type) {
  Config c;
  ModelConfig& m = c.model;
  m.vocab_size = 61;
  m.d_model = 32;
  m.n_heads = 4;
  m.n_kv_heads = 2;
  m.d_ff = 40;
  m.n_layers = 5;
  m.recursion.sharing = "middle_cycle";
  m.recursion.num_recursions = 3;
  m.mor.type = type;
  c.train.steps = 1;
  return load_config_text(dump_config(c), "test").config;
}

// Every value of the block is resolved: no [], -1, "" or null anywhere.
void expect_resolved(const json& j, const std::string& path) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) expect_resolved(it.value(), path + "." + it.key());
  } else {
    EXPECT_FALSE(j.is_null()) << path;
    EXPECT_FALSE(j.is_array() && j.empty()) << path;
    EXPECT_FALSE(j.is_string() && j.get<std::string>().empty()) << path;
    EXPECT_FALSE(j.is_number() && j.get<double>() == -1) << path;
    if (j.is_array())
      for (const auto& v : j) expect_resolved(v, path + "[]");
  }
}

TEST(HfExport, MorBlockIsSelfDescribingAndRoundTripsWithoutTheTrainingConfig) {
  std::vector<Config> cases = {mor_config("expert"), mor_config("token"), mor_config("none"), mor_config("expert")};
  cases[1].model.mor.balancing = "loss_free";
  cases[2].model.kv_mode = "share";
  cases[3].model.mor.router_func = "none";
  cases[3].model.mor.capacity = {1.0, 0.5, 0.25};
  cases[3].model.mor.z_coeff = 1e-3;
  cases[3].model.mor.cap_warmup_steps = 3;
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i));
    TempDir t;
    Model model(cases[i].model);
    model.initialize(11 + i);
    ckpt::export_hf(cases[i], model_params(model), t.str("a"), "");
    json cfg = read_json(t.path / "a/config.json");
    ASSERT_TRUE(cfg.contains("mor"));
    expect_resolved(cfg["mor"], "mor");
    if (i == 3) {
      EXPECT_EQ(cfg["mor"]["expert"]["alpha"], 1.0) << "router_func none applies no alpha";
      EXPECT_EQ(cfg["mor"]["expert"]["router_func"], "none");
      EXPECT_EQ(cfg["mor"]["capacity"], json({1.0, 0.5, 0.25}));
    }
    if (i == 2) EXPECT_EQ(cfg["kv_sharing"]["enable"], true);
    // Without mor_train_config the mor block alone must rebuild the model.
    cfg.erase("mor_train_config");
    write_json(t.path / "a/config.json", cfg);
    ckpt::ImportedModel im = ckpt::import_hf(t.str("a"));
    Model back(im.config.model);
    for (const auto& [name, value] : im.params) {
      bool found = false;
      for (size_t p = 0; p < back.params().size(); ++p)
        if (back.params().spec(int(p)).name == name) back.params().var(int(p))->value.copy_from(value), found = true;
      EXPECT_TRUE(found) << name;
    }
    ckpt::export_hf(im.config, model_params(back), t.str("b"), "");
    const json again = read_json(t.path / "b/config.json");
    EXPECT_EQ(again["mor"], cfg["mor"]);
    EXPECT_EQ(bytes_of(t.path / "a/model.safetensors"), bytes_of(t.path / "b/model.safetensors"));
  }
}

TEST(HfImport, UpstreamStyleMorBlock) {
  const Config c = mor_config("expert");
  TempDir t;
  Model model(c.model);
  model.initialize(5);
  ckpt::export_hf(c, model_params(model), t.str("up"), "");
  json cfg = read_json(t.path / "up/config.json");
  cfg.erase("mor_train_config");
  // The released Hydra block (conf/pretrain/*_mor_expert_linear_alpha_0.1_sigmoid_aux_loss_0.001.yaml).
  cfg["mor"] = json::parse(R"({"enable": true, "type": "expert", "capacity": null, "rand_router": false,
      "router_type": "linear", "z_loss": false, "z_coeff": 0.001, "temp": 1.0, "num_recursion": 3,
      "sharing": "middle_cycle",
      "expert": {"cap_warmup_step": 0, "router_func": "sigmoid", "alpha": 0.1, "sampling": "aux_loss",
                 "include_first": true, "coeff": 0.001, "gating": "weighted"},
      "token": {"router_func": "sigmoid", "alpha": 0.1, "balancing": "loss", "coeff": 0.001, "u": 0.001,
                "gating": "weighted"}})");
  write_json(t.path / "up/config.json", cfg);
  const ckpt::ImportedModel im = ckpt::import_hf(t.str("up"));
  const MoRConfig& m = im.config.model.mor;
  EXPECT_EQ(m.type, "expert");
  EXPECT_EQ(m.router_func, "sigmoid");
  EXPECT_DOUBLE_EQ(m.alpha, 0.1);
  EXPECT_DOUBLE_EQ(m.aux_coeff, 0.001);
  EXPECT_DOUBLE_EQ(m.z_coeff, 0.0) << "z_loss false";
  // capacity null: the default (N_r - r + 1) / N_r, stored resolved.
  ASSERT_EQ(m.capacity.size(), 3u);
  EXPECT_DOUBLE_EQ(m.capacity[1], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.capacity[2], 1.0 / 3.0);
  EXPECT_EQ(im.config.model.kv_mode, "recursion");
  for (const auto& [name, v] : model_params(model)) EXPECT_EQ(im.params.at(name).to_vector<float>(), v.to_vector<float>()) << name;

  cfg["mor"]["capacity"] = "1.0,0.5,0.25";  // upstream's string spelling
  cfg["kv_sharing"] = {{"enable", true}, {"base_depth", nullptr}, {"num_recursion", nullptr}, {"sharing", nullptr}};
  write_json(t.path / "up/config.json", cfg);
  const ckpt::ImportedModel im2 = ckpt::import_hf(t.str("up"));
  EXPECT_EQ(im2.config.model.mor.capacity, (std::vector<double>{1.0, 0.5, 0.25}));
  EXPECT_EQ(im2.config.model.kv_mode, "share");

  cfg["mor"]["expert"]["router_fn"] = "sigmoid";  // misnamed
  write_json(t.path / "up/config.json", cfg);
  EXPECT_NE(error_of([&] { ckpt::import_hf(t.str("up")); }).find("unknown key \"mor.expert.router_fn\""), std::string::npos);
  cfg["mor"]["expert"].erase("router_fn");
  cfg["mor"]["base_depth"] = 2;
  write_json(t.path / "up/config.json", cfg);
  EXPECT_NE(error_of([&] { ckpt::import_hf(t.str("up")); }).find("\"mor.base_depth\" 2 does not fit"), std::string::npos);
}

}  // namespace
}  // namespace mor
