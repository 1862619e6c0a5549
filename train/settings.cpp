// settings.cpp — the list of `mhc train` settings (see settings.h) and the
// few builders that turn one line per setting into its flag, JSON and check.
#include "train/settings.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "kernels/sinkhorn_contract.h"
#include "layers/config_checks.h"

namespace mhc {

const CLI::Validator kSeedCheck(
    [](std::string& s) {
      uint64_t v = 0;
      const bool digits = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
      const bool fits = digits && std::from_chars(s.data(), s.data() + s.size(), v).ec == std::errc();
      return fits ? std::string() : "must be a non-negative integer below 2^64, not '" + s + "'";
    },
    "UINT");

const CLI::Validator kNotEmpty(
    [](std::string& s) {
      return s.empty() ? std::string("an empty value is not a number (it is not 0 either)") : std::string();
    },
    "");

namespace {

// Sizes are bounded (ModelConfig::kMax*) so that no product of them can
// overflow; counts of steps and batches likewise.
constexpr double kMaxSteps = 1e12, kMaxBatch = 1 << 16;

// A range end: a constant, or one that depends on another setting (--model.heads ≤ --model.width).
struct Bound {
  template <class N, std::enable_if_t<std::is_arithmetic_v<N>, int> = 0>
  Bound(N v) : value(static_cast<double>(v)) {}  // NOLINT: constants convert
  template <class F, std::enable_if_t<std::is_invocable_r_v<double, F, const TrainConfig&>, int> = 0>
  Bound(F f) : of(+f) {}  // NOLINT: a captureless lambda
  double at(const TrainConfig& c) const { return of ? of(c) : value; }
  double value = 0;
  double (*of)(const TrainConfig&) = nullptr;
};

template <class T>
using Ref = T& (*)(TrainConfig&);
template <class T>
const T& read(Ref<T> ref, const TrainConfig& c) {
  return ref(const_cast<TrainConfig&>(c));
}

[[noreturn]] void bad_json(const std::string& name, const Json& v, const std::string& expected) {
  throw std::invalid_argument(fmt::format("config: \"{}\" is {}, not {}", name, json::dump(v), expected));
}

Setting base(std::string name, std::string group, std::string help) {
  Setting s;
  s.name = std::move(name), s.group = std::move(group), s.help = std::move(help);
  return s;
}

// A whole number in [lo, hi]; pre: an extra check run first (a message tests pin).
template <class T>
Setting integer(std::string name, std::string group, std::string help, Ref<T> ref, Bound lo, Bound hi,
                void (*pre)(const TrainConfig&) = nullptr) {
  Setting s = base(std::move(name), std::move(group), std::move(help));
  const std::string n = s.name, flag = "--" + s.name;
  s.bind = [n, ref, h = s.help](CLI::App& app, TrainConfig& c) {
    return app.add_option("--" + n, ref(c), h)->check(kNotEmpty)->capture_default_str();
  };
  s.get = [ref](const TrainConfig& c) { return Json(read(ref, c)); };
  s.set = [n, ref](TrainConfig& c, const Json& v) {
    if (!v.is_number_integer()) bad_json(n, v, "a whole number");
    // Read wide, then refuse what T cannot hold (no silent wrap-around).
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad_json(n, v, "a whole number that fits in 64 bits");
    const int64_t wide = v.get<int64_t>();
    if (wide < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
        wide > static_cast<int64_t>(std::numeric_limits<T>::max()))
      bad_json(n, v, "a whole number in the setting's range");
    ref(c) = static_cast<T>(wide);
  };
  s.check = [flag, ref, lo, hi, pre](const TrainConfig& c) {
    if (pre) pre(c);
    int_in(flag, static_cast<int64_t>(read(ref, c)), static_cast<int64_t>(lo.at(c)), static_cast<int64_t>(hi.at(c)));
  };
  s.text = [ref](const TrainConfig& c) { return fmt::format("{}", read(ref, c)); };
  return s;
}

Setting real(std::string name, std::string group, std::string help, Ref<double> ref, Bound lo, Bound hi,
             Ends ends = Ends::closed, void (*pre)(const TrainConfig&) = nullptr) {
  Setting s = base(std::move(name), std::move(group), std::move(help));
  const std::string n = s.name, flag = "--" + s.name;
  s.bind = [n, ref, h = s.help](CLI::App& app, TrainConfig& c) {
    return app.add_option("--" + n, ref(c), h)->check(kNotEmpty)->capture_default_str();
  };
  s.get = [ref](const TrainConfig& c) { return Json(read(ref, c)); };
  s.set = [n, ref](TrainConfig& c, const Json& v) {
    if (!v.is_number()) bad_json(n, v, "a number");
    ref(c) = v.get<double>();
  };
  s.check = [flag, ref, lo, hi, ends, pre](const TrainConfig& c) {
    if (pre) pre(c);
    finite_in(flag, read(ref, c), lo.at(c), hi.at(c), ends);
  };
  s.text = [ref](const TrainConfig& c) { return fmt::format("{}", read(ref, c)); };
  return s;
}

// The same, bounded by a range declared beside the model's field (ModelConfig::k*Range).
template <class T>
Setting integer(std::string name, std::string group, std::string help, Ref<T> ref, IntRange r) {
  return integer<T>(std::move(name), std::move(group), std::move(help), ref, r.lo, r.hi);
}
Setting real(std::string name, std::string group, std::string help, Ref<double> ref, RealRange r) {
  return real(std::move(name), std::move(group), std::move(help), ref, r.lo, r.hi, r.ends);
}
using M_ = ModelConfig;

// An on/off switch (a flag without value); inverted: the flag turns the member off (--hc.static).
Setting on_off(std::string name, std::string group, std::string help, Ref<bool> ref, bool inverted = false) {
  Setting s = base(std::move(name), std::move(group), std::move(help));
  const std::string n = s.name;
  s.bind = [n, ref, inverted, h = s.help](CLI::App& app, TrainConfig& c) -> CLI::Option* {
    if (!inverted) return app.add_flag("--" + n, ref(c), h);
    TrainConfig* p = &c;
    return app.add_flag_callback(
        "--" + n, [p, ref] { ref(*p) = false; }, h);
  };
  s.get = [ref, inverted](const TrainConfig& c) { return Json(read(ref, c) != inverted); };
  s.set = [n, ref, inverted](TrainConfig& c, const Json& v) {
    if (!v.is_boolean()) bad_json(n, v, "true or false");
    ref(c) = v.get<bool>() != inverted;
  };
  s.check = [](const TrainConfig&) {};
  s.text = [ref, inverted](const TrainConfig& c) { return std::string(read(ref, c) != inverted ? "on" : "off"); };
  return s;
}

Setting text(std::string name, std::string group, std::string help, Ref<std::string> ref) {
  Setting s = base(std::move(name), std::move(group), std::move(help));
  const std::string n = s.name;
  s.bind = [n, ref, h = s.help](CLI::App& app, TrainConfig& c) { return app.add_option("--" + n, ref(c), h); };
  s.get = [ref](const TrainConfig& c) { return Json(read(ref, c)); };
  s.set = [n, ref](TrainConfig& c, const Json& v) {
    if (!v.is_string()) bad_json(n, v, "a string");
    ref(c) = v.get<std::string>();
  };
  s.check = [](const TrainConfig&) {};
  s.text = [ref](const TrainConfig& c) { return read(ref, c).empty() ? std::string("(default)") : read(ref, c); };
  return s;
}

// One of named values, from the enum's name table (kernels/name_table.h):
// the first name of each value is its canonical one, later names are
// accepted aliases (--hc.fused true).
template <class E>
Setting choice(std::string name, std::string group, std::string help, Ref<E> ref, std::vector<EnumName<E>> table) {
  Setting s = base(std::move(name), std::move(group), std::move(help));
  const std::string n = s.name, flag = "--" + s.name;
  const auto value_of = [table, flag](const std::string& k) {
    if (const auto v = value_named(table, k)) return *v;
    std::string known;
    for (const EnumName<E>& e : table) known += (known.empty() ? "" : ", ") + std::string(e.name);
    throw std::invalid_argument(flag + ": must be one of " + known + ", not '" + k + "'");
  };
  s.bind = [n, ref, table, value_of, h = s.help](CLI::App& app, TrainConfig& c) {
    std::vector<std::string> keys;
    for (const EnumName<E>& e : table) keys.push_back(e.name);
    TrainConfig* p = &c;
    return app
        .add_option_function<std::string>(
            "--" + n, [p, ref, value_of](const std::string& k) { ref(*p) = value_of(k); }, h)
        ->check(CLI::IsMember(keys))
        ->default_str(name_of(table, ref(c)));
  };
  s.get = [ref, table](const TrainConfig& c) { return Json(name_of(table, read(ref, c))); };
  s.set = [n, ref, value_of](TrainConfig& c, const Json& v) {
    if (!v.is_string()) bad_json(n, v, "a string");
    ref(c) = value_of(v.get<std::string>());
  };
  s.check = [](const TrainConfig&) {};  // an enum holds only its values
  s.text = [ref, table](const TrainConfig& c) { return std::string(name_of(table, read(ref, c))); };
  return s;
}

Setting config_only(Setting s) {
  s.flag = false;
  return s;
}

// The settings of the run as a whole: preset, variant, corpus, device, dtype, seed, run folder, logging.
void add_run_settings(std::vector<Setting>& all) {
  using C = TrainConfig;
  {
    Setting p = text("preset", "", "starting configuration: cpu-char, shakespeare-char, tiny-moe, moe-1280",
                     [](C& c) -> std::string& { return c.preset; });
    const auto plain_bind = p.bind;
    p.bind = [plain_bind](CLI::App& app, C& c) { return plain_bind(app, c)->capture_default_str(); };
    all.push_back(p);
  }
  all.push_back(choice<ResidualKind>(
      "residual", "", "residual variant: residual | hc | mhc", [](C& c) -> ResidualKind& { return c.model.site.kind; },
      all_names(kResidualKindNames)));
  {
    // No captured default: n defaults to 1 for the residual, 4 for HC / mHC (TrainFlags::resolve).
    Setting n = integer<int64_t>(
        "streams", "", "residual streams n (default: 1 for residual, 4 for hc / mhc)",
        [](C& c) -> int64_t& { return c.model.site.streams; }, M_::kStreamsRange);
    n.bind = [](CLI::App& app, C& c) {
      return app
          .add_option("--streams", c.model.site.streams, "residual streams n (default: 1 for residual, 4 for hc / mhc)")
          ->check(kNotEmpty);
    };
    all.push_back(n);
  }
  all.push_back(text("data", "",
                     "text file to train on, or synthetic:addition | synthetic:grammar, or token files: a folder with "
                     "nanoGPT's train.bin + val.bin or llm.c shards, or a glob of llm.c shards "
                     "(default: tinyshakespeare.txt from $MHC_DATA_DIR or ../shared/data)",
                     [](C& c) -> std::string& { return c.data.data; }));
  all.push_back(choice<Device>(
      "device", "", "cpu | cuda", [](C& c) -> Device& { return c.device; }, all_names(kDeviceNames)));
  all.push_back(choice<DType>(
      "dtype", "", "f32 | bf16 (bf16: CUDA mixed precision)", [](C& c) -> DType& { return c.dtype; },
      names_among(kDTypeNames, {DType::f32, DType::bf16})));
  {
    Setting s = base("seed", "", "seed for init, data order and dropout");
    s.bind = [](CLI::App& app, C& c) {
      return app.add_option("--seed", c.seed, "seed for init, data order and dropout")
          ->check(kSeedCheck)
          ->capture_default_str();
    };
    s.get = [](const C& c) { return Json(std::to_string(c.seed)); };  // a string: readers may hold numbers as doubles
    s.set = [](C& c, const Json& v) {
      std::string digits = v.is_number_unsigned() ? std::to_string(v.get<uint64_t>())
                           : v.is_string()        ? v.get<std::string>()
                                                  : "";
      uint64_t seed = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seed);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
        bad_json("seed", v, "a non-negative integer below 2^64");
      c.seed = seed;
    };
    s.check = [](const C&) {};
    s.text = [](const C& c) { return std::to_string(c.seed); };
    all.push_back(s);
  }
  {
    Setting r = text("run", "", "run directory (default: runs/<preset>-<residual>[-n<streams>])",
                     [](C& c) -> std::string& { return c.run_dir; });
    r.saved = false;  // where the run lives, not what it is
    all.push_back(r);
  }
  all.push_back(integer<int64_t>(
      "log_every", "", "steps between log lines when not on a terminal", [](C& c) -> int64_t& { return c.log_every; },
      1, kMaxSteps));
}

// The settings of the model's shape (--model.*).
void add_model_settings(std::vector<Setting>& all) {
  using C = TrainConfig;
  const char* M = "Model";
  all.push_back(integer<int64_t>(
      "model.blocks", M, "transformer blocks (2 residual sites each)", [](C& c) -> int64_t& { return c.model.blocks; },
      M_::kBlocksRange));
  all.push_back(integer<int64_t>(
      "model.width", M, "model width C", [](C& c) -> int64_t& { return c.model.width; }, M_::kWidthRange));
  all.push_back(integer<int64_t>(
      "model.heads", M, "attention heads", [](C& c) -> int64_t& { return c.model.heads; },
      M_::kHeadsRange));  // dividing --model.width: ModelConfig::validate
  all.push_back(integer<int64_t>(
      "model.block_size", M, "context length T", [](C& c) -> int64_t& { return c.model.block_size; },
      M_::kBlockSizeRange));
  all.push_back(choice<FfnType>(
      "model.ffn", M, "feed-forward: gelu | swiglu | moe", [](C& c) -> FfnType& { return c.model.ffn; },
      all_names(kFfnTypeNames)));
  all.push_back(integer<int64_t>(
      "model.ffn_hidden", M, "dense FFN hidden size (0: 4C gelu, 8C/3 swiglu)",
      [](C& c) -> int64_t& { return c.model.ffn_hidden; }, M_::kHiddenRange));
  all.push_back(real(
      "model.dropout", M, "dropout on embeddings and residual branches",
      [](C& c) -> double& { return c.model.dropout; }, M_::kDropoutRange));
  all.push_back(real(
      "model.attn_dropout", M, "dropout on attention probabilities",
      [](C& c) -> double& { return c.model.attn_dropout; }, M_::kDropoutRange));
  all.push_back(on_off("model.tie_embeddings", M, "share the token embedding with the output head",
                       [](C& c) -> bool& { return c.model.tie_embeddings; }));
  all.push_back(config_only(real(
      "model.rope_base", M, "RoPE base", [](C& c) -> double& { return c.model.rope_base; }, M_::kRopeBaseRange)));
  all.push_back(config_only(real(
      "model.init_std", M, "std of the initial weights", [](C& c) -> double& { return c.model.init_std; },
      M_::kInitStdRange)));
  all.push_back(config_only(real(
      "model.norm_eps", M, "RMSNorm epsilon", [](C& c) -> double& { return c.model.norm_eps; }, M_::kNormEpsRange)));
  {
    Setting v = integer<int64_t>(
        "model.vocab_size", M, "vocabulary: the tokenizer's with text; with token files 50257 (GPT-2's) unless set",
        [](C& c) -> int64_t& { return c.model.vocab_size; }, 0, ModelConfig::kMaxVocab);
    v.check = [](const C&) {};  // filled in by the trainer; the model checks it
    all.push_back(v);
  }
}

// The settings of the HC and mHC sites (--hc.*).
void add_hc_settings(std::vector<Setting>& all) {
  using C = TrainConfig;
  const char* H = "Hyper-connections (hc, mhc)";
  all.push_back(on_off(
      "hc.static", H, "HC: static only (no input-dependent terms)",
      [](C& c) -> bool& { return c.model.site.hc_dynamic; }, /*inverted=*/true));
  all.push_back(config_only(real(
      "hc.scale_init", H, "HC: initial s_α = s_β", [](C& c) -> double& { return c.model.site.scale_init; },
      M_::kSiteInitRange)));
  all.push_back(integer<int>(
      "hc.sinkhorn_iters", H, "mHC: Sinkhorn-Knopp iterations t_max",
      [](C& c) -> int& { return c.model.site.sinkhorn_iters; }, M_::kSinkhornItersRange));
  all.push_back(real(
      "hc.alpha_init", H, "mHC: initial α gates", [](C& c) -> double& { return c.model.site.alpha_init; },
      M_::kSiteInitRange));
  all.push_back(real(
      "hc.phi_init_std", H, "mHC: initial std of φ (0: zeros, which keeps the streams identical)",
      [](C& c) -> double& { return c.model.site.phi_init_std; }, M_::kSiteInitRange));
  all.push_back(choice<PrePostGate>(
      "hc.gate", H, "mHC H_pre/H_post: sigmoid (σ, 2σ) | fixed (1)",
      [](C& c) -> PrePostGate& { return c.model.site.gate; }, all_names(kPrePostGateNames)));
  all.push_back(choice<CollapseMode>(
      "hc.collapse", H, "merge streams before the final norm: sum | learned",
      [](C& c) -> CollapseMode& { return c.model.collapse; }, all_names(kCollapseModeNames)));
  using Fused = SiteConfig::Fused;
  all.push_back(choice<Fused>(
      "hc.fused", H,
      "mHC site kernels: auto (the faster path on each device: fused on CUDA, composed on the CPU) | on | off "
      "(the composed ops). On the CPU the fused kernels exist as the CUDA kernels' reference "
      "and are slower than the composed ops",
      [](C& c) -> Fused& { return c.model.site.fused; }, all_names(kFusedNames)));
  {
    Setting r =
        on_off("hc.recompute", H, "mHC: keep only each group's first stream state, rebuild the rest in backward",
               [](C& c) -> bool& { return c.model.recompute; });
    r.check = [](const C& c) {
      const ModelConfig& m = c.model;
      if (!m.recompute) return;
      if (m.site.kind != ResidualKind::MHC) throw std::invalid_argument("--hc.recompute: is for mHC (--residual mhc)");
      if (m.site.fused == Fused::Off)
        throw std::invalid_argument("--hc.recompute: needs the fused mHC kernels (not --hc.fused off)");
      if (m.site.fused == Fused::Auto && c.device == Device::cpu)
        throw std::invalid_argument(
            "--hc.recompute: needs the fused mHC kernels, which the CPU uses only with --hc.fused on");
    };
    all.push_back(r);
  }
  all.push_back(integer<int64_t>(
      "hc.recompute_group", H, "sites per recompute group L_r (0: √(nL/(n+2)))",
      [](C& c) -> int64_t& { return c.model.recompute_group; }, M_::kRecomputeGroupRange));
}

// The settings of the mixture of experts (--moe.*).
void add_moe_settings(std::vector<Setting>& all) {
  using C = TrainConfig;
  const char* E = "Mixture of experts (--model.ffn moe)";
  all.push_back(integer<int64_t>(
      "moe.routed", E, "routed experts N_r", [](C& c) -> int64_t& { return c.model.moe.routed; }, M_::kRoutedRange));
  all.push_back(integer<int64_t>(
      "moe.top_k", E, "experts per token", [](C& c) -> int64_t& { return c.model.moe.top_k; },
      M_::kTopKRange));  // ≤ --moe.routed: ModelConfig::validate
  all.push_back(integer<int64_t>(
      "moe.shared", E, "always-on shared experts", [](C& c) -> int64_t& { return c.model.moe.shared; },
      M_::kSharedRange));
  all.push_back(integer<int64_t>(
      "moe.hidden", E, "expert hidden size", [](C& c) -> int64_t& { return c.model.moe.hidden; }, M_::kHiddenRange));
  all.push_back(choice<RouterKind>(
      "moe.router", E, "router scores: softmax | sigmoid", [](C& c) -> RouterKind& { return c.model.moe.router; },
      all_names(kRouterKindNames)));
  all.push_back(on_off(
      "moe.no_balance", E, "turn off aux-loss-free bias balancing",
      [](C& c) -> bool& { return c.model.moe.bias_balance; }, /*inverted=*/true));
  all.push_back(real(
      "moe.bias_rate", E, "bias balancing step γ", [](C& c) -> double& { return c.model.moe.bias_rate; },
      M_::kBiasRateRange));
  all.push_back(real(
      "moe.aux_loss", E, "Switch load-balancing loss weight", [](C& c) -> double& { return c.model.moe.aux_loss; },
      M_::kLossWeightRange));
  all.push_back(real(
      "moe.z_loss", E, "router z-loss weight", [](C& c) -> double& { return c.model.moe.z_loss; },
      M_::kLossWeightRange));
  all.push_back(integer<int64_t>(
      "moe.dense_layers", E, "leading blocks with a dense FFN", [](C& c) -> int64_t& { return c.model.dense_layers; },
      M_::kDenseLayersRange));  // ≤ --model.blocks: ModelConfig::validate
}

// The settings of optimisation (--optim.*).
void add_optim_settings(std::vector<Setting>& all) {
  using C = TrainConfig;
  const char* O = "Optimisation";
  all.push_back(integer<int64_t>(
      "optim.steps", O, "optimizer steps", [](C& c) -> int64_t& { return c.optim.steps; }, 1, kMaxSteps));
  all.push_back(integer<int64_t>(
      "optim.batch_size", O, "sequences per micro-batch", [](C& c) -> int64_t& { return c.optim.batch_size; }, 1,
      kMaxBatch));
  all.push_back(integer<int64_t>(
      "optim.grad_accum", O, "micro-batches per step", [](C& c) -> int64_t& { return c.optim.grad_accum; }, 1,
      kMaxBatch));
  all.push_back(real(
      "optim.lr", O, "peak learning rate", [](C& c) -> double& { return c.optim.lr; }, 0, 10, Ends::open_below,
      [](const C& c) {
        if (!(c.optim.lr > 0))
          throw std::invalid_argument("--optim.lr: must be positive (got " + fmt::format("{}", c.optim.lr) + ")");
      }));
  all.push_back(real(
      "optim.min_lr", O, "final learning rate (cosine)", [](C& c) -> double& { return c.optim.min_lr; }, 0,
      [](const C& c) { return c.optim.lr; }));
  all.push_back(integer<int64_t>(
      "optim.warmup", O, "linear warmup steps", [](C& c) -> int64_t& { return c.optim.warmup; }, 0, kMaxSteps));
  all.push_back(choice<Schedule>(
      "optim.schedule", O, "cosine | step | constant", [](C& c) -> Schedule& { return c.optim.schedule; },
      all_names(kScheduleNames)));
  {
    Setting s = config_only(base("optim.step_at", O, "step schedule: the fractions of the run where the lr drops"));
    s.get = [](const C& c) { return Json(c.optim.step_at); };
    s.set = [](C& c, const Json& v) {
      if (!v.is_array()) bad_json("optim.step_at", v, "a list of numbers");
      c.optim.step_at.clear();
      for (const Json& f : v) {
        if (!f.is_number()) bad_json("optim.step_at", v, "a list of numbers");
        c.optim.step_at.push_back(f.get<double>());
      }
    };
    s.check = [](const C& c) {
      for (double f : c.optim.step_at) finite_in("optim.step_at", f, 0, 1);
    };
    s.text = [](const C& c) { return fmt::format("{}", fmt::join(c.optim.step_at, ", ")); };
    all.push_back(s);
  }
  all.push_back(config_only(real(
      "optim.step_factor", O, "step schedule: lr multiplier at each point",
      [](C& c) -> double& { return c.optim.step_factor; }, 0, 10, Ends::open_below)));
  all.push_back(real(
      "optim.weight_decay", O, "AdamW weight decay (matrices only)",
      [](C& c) -> double& { return c.optim.weight_decay; }, 0, 10));
  all.push_back(real(
      "optim.beta1", O, "AdamW β1", [](C& c) -> double& { return c.optim.beta1; }, 0, 1, Ends::open_above));
  all.push_back(real(
      "optim.beta2", O, "AdamW β2", [](C& c) -> double& { return c.optim.beta2; }, 0, 1, Ends::open_above));
  all.push_back(real(
      "optim.eps", O, "AdamW ε (added to √v̂)", [](C& c) -> double& { return c.optim.eps; }, 0, 1, Ends::open_below));
  all.push_back(real(
      "optim.grad_clip", O, "global gradient-norm clip (0: off)", [](C& c) -> double& { return c.optim.grad_clip; }, 0,
      1e9));
}

// --data.tokenizer: char | bpe, or gpt2:PATH, a kind with the path of its files.
Setting tokenizer_setting() {
  using C = TrainConfig;
  Setting t = base("data.tokenizer", "Data",
                   "char | bpe | gpt2:PATH (GPT-2's encoder.json + vocab.bpe folder, or tokenizer.json)");
  static constexpr auto name = [](const C& c) {
    return c.data.tokenizer == TokenizerKind::Gpt2 ? "gpt2:" + c.data.tokenizer_path : tokenizer_name(c.data.tokenizer);
  };
  static constexpr auto parse = [](C& c, const std::string& k) {
    if (k == "char" || k == "bpe")
      c.data.tokenizer = k == "char" ? TokenizerKind::Char : TokenizerKind::Bpe, c.data.tokenizer_path.clear();
    else if (k.rfind("gpt2:", 0) == 0 && k.size() > 5)
      c.data.tokenizer = TokenizerKind::Gpt2, c.data.tokenizer_path = k.substr(5);
    else
      throw std::invalid_argument("--data.tokenizer: must be one of char, bpe, gpt2:PATH, not '" + k + "'");
  };
  t.bind = [h = t.help](CLI::App& app, C& c) {
    C* p = &c;
    const CLI::Validator known(
        [](std::string& k) {
          return k == "char" || k == "bpe" || (k.rfind("gpt2:", 0) == 0 && k.size() > 5)
                     ? std::string()
                     : "must be one of char, bpe, gpt2:PATH, not '" + k + "'";
        },
        "char|bpe|gpt2:PATH");
    return app
        .add_option_function<std::string>(
            "--data.tokenizer", [p](const std::string& k) { parse(*p, k); }, h)
        ->check(known)
        ->default_str(name(c));
  };
  t.get = [](const C& c) { return Json(name(c)); };
  t.set = [](C& c, const Json& v) {
    if (!v.is_string()) bad_json("data.tokenizer", v, "a string");
    parse(c, v.get<std::string>());
  };
  t.check = [](const C&) {};
  t.text = [](const C& c) { return name(c); };
  return t;
}

// data.files: what a run trained on, when that is token files: recorded, not set.
Setting token_files_setting() {
  using C = TrainConfig;
  Setting f =
      config_only(base("data.files", "Data", "token files: name, bytes and XXH64 of each when the run started"));
  f.hidden = true;
  f.bind = [](CLI::App&, C&) -> CLI::Option* { return nullptr; };
  f.get = [](const C& c) {
    if (c.data.files.empty()) return Json();
    Json list = Json::array();
    for (const TokenFileRecord& r : c.data.files)
      list.push_back(Json{{"name", r.name}, {"bytes", r.bytes}, {"xxh64", fmt::format("{:016x}", r.xxh64)}});
    return list;
  };
  f.set = [](C& c, const Json& v) {
    if (!v.is_array()) bad_json("data.files", v, "a list of {name, bytes, xxh64}");
    c.data.files.clear();
    for (const Json& r : v) {
      if (!r.is_object() || !r.contains("name") || !r.contains("bytes") || !r.contains("xxh64") ||
          !r["name"].is_string() || !r["bytes"].is_number_integer() || !r["xxh64"].is_string())
        bad_json("data.files", r, "{\"name\": string, \"bytes\": integer, \"xxh64\": hex string}");
      c.data.files.push_back({r["name"].get<std::string>(), r["bytes"].get<int64_t>(),
                              std::stoull(r["xxh64"].get<std::string>(), nullptr, 16)});
    }
  };
  f.check = [](const C&) {};
  f.text = [](const C& c) { return fmt::format("{} files", c.data.files.size()); };
  return f;
}

// The settings of the data (--data.*).
void add_data_settings(std::vector<Setting>& all) {
  using C = TrainConfig;
  const char* D = "Data";
  all.push_back(tokenizer_setting());
  all.push_back(integer<int64_t>(
      "data.vocab_size", D, "BPE vocabulary size", [](C& c) -> int64_t& { return c.data.vocab_size; }, 1,
      ModelConfig::kMaxVocab,
      [](const C& c) {
        if (c.data.tokenizer == TokenizerKind::Bpe && c.data.vocab_size < 257)
          throw std::invalid_argument("--data.vocab_size: a byte-level BPE needs more than 256");
      }));
  all.push_back(real(
      "data.val_fraction", D, "share of the corpus held out", [](C& c) -> double& { return c.data.val_fraction; }, 0, 1,
      Ends::open));
  all.push_back(choice<SplitKind>(
      "data.split", D,
      "tail: the last share is validation (nanoGPT's split, comparable losses) | chunks: seeded 4096-token chunks",
      [](C& c) -> SplitKind& { return c.data.split; }, all_names(kSplitKindNames)));
  all.push_back(token_files_setting());
  all.push_back(text("data.cache_dir", D, "token cache (default: $MHC_CACHE_DIR or ~/.cache/mhc)",
                     [](C& c) -> std::string& { return c.data.cache_dir; }));
  // The corpus file the run trained on (the trainer fills them in): its size
  // and checksum; left out of config.json when not recorded (a synthetic corpus).
  Setting bytes = integer<int64_t>(
      "data.bytes", D, "size of the corpus file trained on (recorded)", [](C& c) -> int64_t& { return c.data.bytes; },
      0, 1e15);
  bytes.get = [](const C& c) { return c.data.bytes > 0 ? Json(c.data.bytes) : Json(); };
  Setting checksum = text("data.checksum", D, "XXH64 of the corpus file trained on (recorded)",
                          [](C& c) -> std::string& { return c.data.checksum; });
  checksum.get = [](const C& c) { return c.data.checksum.empty() ? Json() : Json(c.data.checksum); };
  for (Setting s : {bytes, checksum}) {
    s = config_only(s);
    s.hidden = true;  // not in describe(): the header names the corpus already
    all.push_back(s);
  }
}

// The settings of evaluation (--eval.*), several processes (--dist.*) and the testing aids (--debug.*).
void add_eval_settings(std::vector<Setting>& all) {
  using C = TrainConfig;
  const char* V = "Evaluation";
  all.push_back(integer<int64_t>(
      "eval.every", V, "steps between evaluations and checkpoints", [](C& c) -> int64_t& { return c.eval.every; }, 1,
      kMaxSteps));
  all.push_back(integer<int64_t>(
      "eval.batches", V,
      "validation batches per evaluation: the first batches × batch_size × ranks "
      "windows of the validation split, tiled in order, the same for every seed and "
      "variant (0: the whole split)",
      [](C& c) -> int64_t& { return c.eval.batches; }, 0, kMaxBatch));
  all.push_back(integer<int64_t>(
      "eval.tokens", V,
      "instead of --eval.batches: the first N tokens of the validation split, as whole windows of "
      "block_size tokens, tiled in order (for large token files; 0: --eval.batches decides)",
      [](C& c) -> int64_t& { return c.eval.tokens; }, 0, kMaxSteps));
  all.push_back(integer<int64_t>(
      "eval.sample_tokens", V, "tokens sampled at the end (0: none)",
      [](C& c) -> int64_t& { return c.eval.sample_tokens; }, 0, 1 << 24));
  Setting best = on_off("eval.keep_best", V,
                        "also keep the checkpoint with the best validation loss, as best.safetensors beside the last",
                        [](C& c) -> bool& { return c.eval.keep_best; });
  best.get = [](const C& c) { return c.eval.keep_best ? Json(true) : Json(); };  // off: not in config.json
  all.push_back(best);
  Setting hs = text("eval.hellaswag", V,
                    "a HellaSwag-style file (JSON lines: ctx, endings, label) scored at every evaluation: "
                    "hellaswag_acc in metrics.jsonl",
                    [](C& c) -> std::string& { return c.eval.hellaswag; });
  hs.get = [](const C& c) {
    return c.eval.hellaswag.empty() ? Json() : Json(c.eval.hellaswag);
  };  // none: not in config.json
  all.push_back(hs);
  const char* P = "Several processes (mpirun -np K)";
  all.push_back(real(
      "dist.bucket_mb", P, "gradient MiB per reduction (0: one per parameter)",
      [](C& c) -> double& { return c.dist.bucket_mb; }, 0, 1 << 16));
  all.push_back(choice<ReduceMode>(
      "dist.reduce", P,
      "overlap: reduce each bucket as backward completes it | end: all after backward | blocking: one at a time after "
      "backward",
      [](C& c) -> ReduceMode& { return c.dist.reduce; }, all_names(kReduceModeNames)));
  for (Setting f : {integer<int64_t>(
                        "debug.fail_rank", "", "testing aid: this rank fails at step debug.fail_at",
                        [](C& c) -> int64_t& { return c.fail_rank; }, -1, 1 << 20),
                    integer<int64_t>(
                        "debug.fail_at", "", "testing aid: the step at which debug.fail_rank fails",
                        [](C& c) -> int64_t& { return c.fail_at; }, -1, kMaxSteps)}) {
    f.hidden = true;
    f.saved = false;  // like debug.inject_nan: for one session
    all.push_back(f);
  }
  Setting nan = integer<int64_t>(
      "debug.inject_nan", "", "testing aid: make the loss NaN at this step",
      [](C& c) -> int64_t& { return c.inject_nan_at; }, -1, kMaxSteps);
  nan.hidden = true;
  nan.saved = false;  // a testing aid for one session: a resumed run must not hit the NaN again
  all.push_back(nan);
}

std::vector<Setting> make_settings() {
  std::vector<Setting> all;
  for (auto add : {add_run_settings, add_model_settings, add_hc_settings, add_moe_settings, add_optim_settings,
                   add_data_settings, add_eval_settings})
    add(all);
  return all;
}

}  // namespace

const std::vector<Setting>& settings() {
  static const std::vector<Setting> all = make_settings();
  return all;
}

const Setting* find_setting(const std::string& name) {
  for (const Setting& s : settings())
    if (s.name == name) return &s;
  return nullptr;
}

std::string schedule_name(Schedule s) { return name_of(kScheduleNames, s); }
std::string tokenizer_name(TokenizerKind t) { return name_of(kTokenizerKindNames, t); }

}  // namespace mhc
