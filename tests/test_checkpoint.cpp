// test_checkpoint.cpp — the safetensors reader and writer, checkpoints and
// exports: round trips, every refusal with its message, and a fuzz test of
// truncations and byte flips of a real checkpoint.
#include <catch2/catch.hpp>

#include <fmt/core.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "autograd/tape.h"
#include "fileio/xxh64.h"
#include "layers/transformer.h"
#include "test_files.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "fileio/safetensors.h"

using namespace mhc;
using Catch::Matchers::Contains;
using mhc::test::read_bytes;
using mhc::test::TempDir;
using mhc::test::write_bytes;

namespace {

std::string bytes_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * dtype_size(c.dtype()));
}

// A small MoE model with mHC sites, its AdamW state after one step, and the
// tensors a trainer checkpoints.
struct TinyRun {
  std::unique_ptr<Transformer> model;
  std::unique_ptr<AdamW> optimizer;
  std::vector<NamedTensor> tensors;
  CheckpointMeta meta;
  TinyRun(uint64_t seed = 1) {
    ModelConfig c;
    c.vocab_size = 11;
    c.block_size = 8;
    c.blocks = 2;
    c.width = 8;
    c.heads = 2;
    c.ffn = FfnType::Moe;
    c.moe.routed = 4;
    c.moe.hidden = 8;
    c.site.kind = ResidualKind::MHC;
    c.site.streams = 2;
    model = std::make_unique<Transformer>(c, seed);
    optimizer = std::make_unique<AdamW>(model->parameters(), AdamWConfig{});
    Tensor x = Tensor::zeros({2, 8}, DType::i32), y = Tensor::zeros({2, 8}, DType::i32);
    model->loss(x, y).backward();
    optimizer->step(1e-2, 1.0);
    for (auto& p : model->parameters()) tensors.push_back({"model." + p.name, p.tensor});
    for (auto& b : model->buffers()) tensors.push_back({"buffer." + b.name, b.tensor});
    for (auto& s : optimizer->state()) tensors.push_back({"adamw." + s.name, s.tensor});
    meta.step = 7;
    meta.optimizer_steps = 7;
    meta.sampler_state = {0xfedcba9876543210ULL, 1, 2, 3, 7};
    meta.config_json = R"({"seed": 1, "note": "caf\u00e9 \"quoted\""})";
    meta.last_val_loss = 2.0 / 3.0;
  }
  // The model's parameters and buffers alone, as export_weights takes them.
  std::vector<NamedTensor> weights() const {
    std::vector<NamedTensor> out;
    for (const auto& nt : tensors)
      if (nt.name.rfind("adamw.", 0) != 0) out.push_back(nt);
    return out;
  }
};

// A safetensors file written by hand: header text (padded to 8 bytes unless
// `pad` is false) and data.
std::string hand_made(const std::string& header, const std::string& data, bool pad = true) {
  std::string h = header;
  if (pad) h.append((8 - h.size() % 8) % 8, ' ');
  const uint64_t n = h.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + h + data;
}

// What the reader says about `bytes` ("" if it accepts them).
std::string refusal(const TempDir& d, const std::string& bytes) {
  const std::string path = d.file("x.safetensors");
  write_bytes(path, bytes);
  try {
    SafetensorsFile f(path, "checkpoint");
    f.read_all();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("xxh64 matches the reference implementation, in one piece or many", "[checkpoint]") {
  CHECK(xxh64("") == 0xef46db3751d8e999ULL);
  CHECK(xxh64("abc") == 0x44bc2cf5ad770999ULL);
  std::string s;
  for (int i = 0; i < 300; ++i) s.push_back(static_cast<char>(i * 7 + 3));
  // Values from libxxhash 0.8.1 (XXH64, seed 0) for the first n bytes of s.
  const std::pair<size_t, uint64_t> want[] = {{1, 0x1f25c8d0bc1f4bb6ULL},  {7, 0x9a7b149959ce60d8ULL},
                                              {31, 0xa2aa5f33cc4a6119ULL}, {32, 0x23c3c17ef790fd97ULL},
                                              {33, 0x50a7cfc7ba588784ULL}, {100, 0xa61f8d4c170fe531ULL},
                                              {300, 0x240004dbee0ba6dcULL}};
  for (const auto& [n, h] : want) {
    INFO(n);
    CHECK(xxh64(std::string_view(s).substr(0, n)) == h);
    for (size_t cut : {size_t{0}, n / 3, n / 2, n}) {  // in pieces
      Xxh64 x;
      x.update(s.data(), cut);
      x.update(s.data() + cut, n - cut);
      CHECK(x.digest() == h);
    }
  }
}

TEST_CASE("a checkpoint is a safetensors file: layout, metadata, and an exact round trip", "[checkpoint]") {
  TempDir d;
  TinyRun a;
  const std::string path = d.file(kCheckpointFile);
  save_checkpoint(path, a.tensors, a.meta);
  CHECK(!std::filesystem::exists(path + ".tmp"));
  const std::string file = read_bytes(path);
  uint64_t n;
  std::memcpy(&n, file.data(), 8);
  CHECK(n % 8 == 0);  // the data starts 8-byte aligned
  const nlohmann::json header = nlohmann::json::parse(file.substr(8, n));
  const auto& md = header.at("__metadata__");
  for (const char* key : {"format", "format_version", "step", "optimizer_steps", "sampler_state", "last_val_loss",
                          "config", "checksum", "header_checksum"})
    CHECK(md.at(key).is_string());
  CHECK(md.at("format") == "mhc checkpoint");
  CHECK(md.at("checksum") == fmt::format("xxh64:{:016x}", xxh64(std::string_view(file).substr(8 + n))));
  CHECK(header.size() == a.tensors.size() + 1);
  const auto& emb = header.at("model." + a.model->parameters().front().name);
  CHECK(emb.at("dtype") == "F32");
  CHECK(emb.at("shape").size() == static_cast<size_t>(a.model->parameters().front().tensor->dim()));

  TinyRun b(2);  // other weights, same shapes
  const CheckpointMeta m = load_checkpoint(path, b.tensors);
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    INFO(a.tensors[i].name);
    CHECK(bytes_of(*b.tensors[i].tensor) == bytes_of(*a.tensors[i].tensor));
  }
  CHECK(m.step == 7);
  CHECK(m.optimizer_steps == 7);
  CHECK(m.sampler_state == a.meta.sampler_state);
  CHECK(m.config_json == a.meta.config_json);
  CHECK(m.last_val_loss == a.meta.last_val_loss);  // bit for bit
  CHECK(read_checkpoint_meta(path).config_json == a.meta.config_json);
  CHECK(verify_checkpoint(path).step == 7);

  // A bf16 tensor is stored as BF16 and comes back bit for bit.
  const Tensor half = Tensor::full({3, 2}, -1.375, DType::bf16);
  Tensor back = Tensor::zeros({3, 2}, DType::bf16);
  save_checkpoint(path, {{"model.h", const_cast<Tensor*>(&half)}}, a.meta);
  CHECK(SafetensorsFile(path).find("model.h")->dtype == DType::bf16);
  load_checkpoint(path, {{"model.h", &back}});
  CHECK(bytes_of(back) == bytes_of(half));
}

TEST_CASE("checkpoints of another model, another format or a damaged header are refused by name", "[checkpoint]") {
  TempDir d;
  TinyRun a;
  const std::string path = d.file(kCheckpointFile);
  save_checkpoint(path, a.tensors, a.meta);
  TinyRun b;
  // Missing tensor, other shape, extra tensors.
  std::vector<NamedTensor> more = b.tensors;
  Tensor extra = Tensor::zeros({3});
  more.push_back({"model.extra", &extra});
  CHECK_THROWS_WITH(load_checkpoint(path, more),
                    Contains(path) && Contains("different model") && Contains("it has no tensor 'model.extra'"));
  std::vector<NamedTensor> reshaped = b.tensors;
  Tensor wrong = Tensor::zeros({5, 5});
  reshaped[0].tensor = &wrong;
  CHECK_THROWS_WITH(load_checkpoint(path, reshaped),
                    Contains("different model") && Contains("in the checkpoint but f32 cpu (5, 5) here"));
  std::vector<NamedTensor> fewer(b.tensors.begin(), b.tensors.end() - 1);
  CHECK_THROWS_WITH(load_checkpoint(path, fewer), Contains("different model") && Contains("this model has"));
  CHECK_NOTHROW(load_checkpoint(path, fewer, /*allow_extra=*/true));

  // Metadata: the header checksum catches a changed value; a file that is not a checkpoint is named as such.
  const std::string good = read_bytes(path);
  std::string edited = good;
  const size_t at = edited.find("\"step\":\"7\"");
  REQUIRE(at != std::string::npos);
  edited[at + 8] = '9';
  write_bytes(path, edited);
  CHECK_THROWS_WITH(read_checkpoint_meta(path), Contains(path) && Contains("header checksum mismatch"));
  const size_t key = edited.find("\"header_checksum\"");  // renamed: the header is then unchecked, so refused
  REQUIRE(key != std::string::npos);
  edited = good;
  edited[key + 1] = 'H';
  write_bytes(path, edited);
  CHECK_THROWS_WITH(read_checkpoint_meta(path), Contains("has no 'header_checksum' entry"));
  write_safetensors(path, {{"model.w", &extra, DType::f32}}, {{"format_version", "2"}});
  CHECK_THROWS_WITH(read_checkpoint_meta(path), Contains("is not an mhc checkpoint"));
  write_safetensors(path, {{"model.w", &extra, DType::f32}}, {{"format", "mhc checkpoint"}, {"format_version", "1"}});
  CHECK_THROWS_WITH(read_checkpoint_meta(path), Contains("has format version 1; this build reads version 2"));
  write_bytes(path, good);
  const std::string out = d.file("model.safetensors");
  export_weights(path, out, DType::f32, TinyRun().weights());
  CHECK_THROWS_WITH(read_checkpoint_meta(out), Contains("is an mhc export") && Contains("not a checkpoint"));
}

TEST_CASE("the reader refuses malformed safetensors files, naming the file and the rule", "[checkpoint]") {
  TempDir d;
  const std::string data(16, '\x01');  // four f32
  auto one = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return "{\"t\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}";
  };
  CHECK(refusal(d, hand_made(one("F32", "[2,2]", "[0,16]"), data)).empty());           // the well-formed one
  CHECK(refusal(d, hand_made(one("F32", "[]", "[0,4]"), data.substr(0, 4))).empty());  // a scalar
  CHECK_THAT(refusal(d, ""), Contains("x.safetensors is truncated") && Contains("fewer than the 8"));
  CHECK_THAT(refusal(d, std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}"),
             Contains("beyond the format's limit"));
  CHECK_THAT(refusal(d, hand_made(one("F32", "[2,2]", "[0,16]"), data).substr(0, 20)),
             Contains("is truncated: its header size says"));
  CHECK_THAT(refusal(d, hand_made("{}       ", "", false)), Contains("is not a multiple of 8"));
  CHECK_THAT(refusal(d, hand_made("{\"t\": [1, 2", "")), Contains("header is not JSON"));
  CHECK_THAT(refusal(d, hand_made("[1, 2]", "")), Contains("not an object"));
  CHECK_THAT(refusal(d, hand_made(one("F16", "[2,2]", "[0,8]"), data.substr(0, 8))),
             Contains("tensor 't' has dtype \"F16\", not one of"));
  CHECK_THAT(refusal(d, hand_made(one("F32", "[2,-2]", "[0,16]"), data)), Contains("non-negative integers"));
  CHECK_THAT(refusal(d, hand_made(one("F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]"), data.substr(0, 4))),
             Contains("at most 8 sizes"));
  CHECK_THAT(refusal(d, hand_made(one("F32", "[1099511627776,1099511627776]", "[0,16]"), data)), Contains("too large"));
  CHECK_THAT(refusal(d, hand_made(one("F32", "[2,2]", "[16,0]"), data)), Contains("begin <= end"));
  CHECK_THAT(refusal(d, hand_made(one("F32", "[3]", "[0,16]"), data)),
             Contains("spans 16 bytes, but F32 [3] takes 12"));
  CHECK_THAT(refusal(d, hand_made(one("F32", "[2,2]", "[0,16]"), data.substr(0, 10))),
             Contains("is truncated: its header promises 16 data bytes, the file has 10"));
  CHECK_THAT(refusal(d, hand_made(one("F32", "[2,2]", "[0,16]"), data + "xyz")),
             Contains("is longer than its header says: 16 data bytes, then 3 more"));
  const std::string two_overlap = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                  R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  CHECK_THAT(refusal(d, hand_made(two_overlap, data.substr(0, 12))), Contains("'b' (bytes 4..12) overlaps"));
  const std::string two_gap = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})";
  CHECK_THAT(refusal(d, hand_made(two_gap, data)), Contains("bytes 8..12 of the data section belong to no tensor"));
  CHECK_THAT(refusal(d, hand_made(R"({"__metadata__":{"k":1}})", "")), Contains("metadata 'k' is not a string"));
  CHECK_THAT(refusal(d, hand_made(R"({"t":{"dtype":"F32"}})", "")), Contains("with dtype, shape and data_offsets"));
  // Two tensors of one name: the second would silently replace the first.
  CHECK_THAT(refusal(d, hand_made(one("F32", "[2,2]", "[0,16]").substr(0, one("F32", "[2,2]", "[0,16]").size() - 1) +
                                      "," + one("F32", "[4]", "[0,16]").substr(1),
                                  data)),
             Contains("x.safetensors is corrupt: its header: the key \"t\" appears twice"));
  // Nested 10^5 deep (checksums or not): refused by depth, before any recursive code sees it.
  const std::string deep = "{\"t\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK_THAT(refusal(d, hand_made(deep, "")),
             Contains("x.safetensors is corrupt: its header: nested 100001 levels deep; "
                      "the limit is 64"));

  // A written file with one data byte changed: the checksum.
  const Tensor t = Tensor::full({4}, 1.5);
  const std::string path = d.file("w.safetensors");
  write_safetensors(path, {{"t", &t, DType::f32}}, {});
  std::string bytes = read_bytes(path);
  CHECK(refusal(d, bytes).empty());
  bytes[bytes.size() - 2] ^= 0x10;
  CHECK_THAT(refusal(d, bytes), Contains("x.safetensors is corrupt: checksum mismatch"));
  CHECK_THROWS_WITH(SafetensorsFile(d.file("missing.safetensors"), "checkpoint"),
                    Contains("missing.safetensors") && Contains("does not exist"));
}

TEST_CASE("fuzz: a truncated or bit-flipped checkpoint loads identically or is refused clearly", "[checkpoint]") {
  TempDir d;
  TinyRun a;
  const std::string path = d.file(kCheckpointFile);
  save_checkpoint(path, a.tensors, a.meta);
  const std::string good = read_bytes(path);
  uint64_t n;
  std::memcpy(&n, good.data(), 8);
  const size_t data_start = 8 + n;
  std::vector<std::string> want;
  for (const auto& t : a.tensors) want.push_back(bytes_of(*t.tensor));

  TinyRun b(3);
  const std::string damaged = d.file("damaged.safetensors");
  int loaded = 0, refused = 0;
  auto attempt = [&](const std::string& bytes, const std::string& what) {
    INFO(what);
    write_bytes(damaged, bytes);
    try {
      const CheckpointMeta m = load_checkpoint(damaged, b.tensors);
      ++loaded;  // then it is the checkpoint, exactly
      CHECK(m.step == a.meta.step);
      CHECK(m.sampler_state == a.meta.sampler_state);
      CHECK(m.config_json == a.meta.config_json);
      for (size_t i = 0; i < want.size(); ++i) CHECK(bytes_of(*b.tensors[i].tensor) == want[i]);
    } catch (const std::runtime_error& e) {
      ++refused;
      CHECK_THAT(e.what(), Contains("checkpoint " + damaged + " "));  // names the file
    }
  };
  std::mt19937_64 rng(20240601);
  // Truncations: every length through the header and a little beyond, then at random.
  for (size_t len = 0; len < data_start + 16; len += (len < 64 || len + 64 > data_start) ? 1 : 37)
    attempt(good.substr(0, len), "cut to " + std::to_string(len));
  for (int i = 0; i < 100; ++i) {
    const size_t len = rng() % good.size();
    attempt(good.substr(0, len), "cut to " + std::to_string(len));
  }
  const int cuts_refused = refused;
  CHECK(loaded == 0);  // no truncation loads
  // Byte flips: half in the header, half in the data; one to three bytes at a time.
  for (int i = 0; i < 600; ++i) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(rng() % 3);
    std::string what = "flips at";
    for (int f = 0; f < flips; ++f) {
      const size_t at = i % 2 ? rng() % data_start : data_start + rng() % (good.size() - data_start);
      bytes[at] = static_cast<char>(bytes[at] ^ static_cast<char>(1 + rng() % 255));
      what += fmt::format(" {}", at);
    }
    attempt(bytes, what);
  }
  // A space of the padding turned into another whitespace character still loads.
  if (good[data_start - 1] == ' ') {
    std::string bytes = good;
    bytes[data_start - 1] = '\n';
    const int before = loaded;
    attempt(bytes, "padding");
    CHECK(loaded == before + 1);
  }
  CHECK(cuts_refused > 100);
  CHECK(refused > cuts_refused + 500);  // nearly every flip is caught
}

TEST_CASE("export: the weights alone, f32 exactly or bf16 rounded to nearest even", "[checkpoint][export]") {
  TempDir d;
  TinyRun a;
  // Values whose bf16 rounding is known: halfway cases go to the even neighbour.
  Tensor& first = *a.model->parameters().front().tensor;
  auto* w = static_cast<float*>(first.data_ptr());
  w[0] = 1.0f + 0x1p-8f;      // halfway between 1 and 1 + 2^-7: to 1 (even)
  w[1] = 1.0f + 3 * 0x1p-8f;  // halfway between 1 + 2^-7 and 1 + 2^-6: to 1 + 2^-6 (even)
  w[2] = -2.0f - 0x1p-6f;     // exactly representable
  const std::string ckpt = d.file(kCheckpointFile);
  save_checkpoint(ckpt, a.tensors, a.meta);

  const std::string f32 = d.file("f32.safetensors"), b16 = d.file("bf16.safetensors");
  TinyRun fresh(9);  // the run's model, rebuilt: export loads the checkpoint into it
  const size_t count = export_weights(ckpt, f32, DType::f32, fresh.weights());
  CHECK(export_weights(ckpt, b16, DType::bf16, fresh.weights()) == count);
  const SafetensorsFile e32(f32), e16(b16);
  CHECK(e32.meta("format") == "mhc export");
  CHECK(e32.meta("dtype") == "f32");
  CHECK(e16.meta("dtype") == "bf16");
  CHECK(e32.meta("config") == a.meta.config_json);
  CHECK(e32.meta("step") == "7");
  const auto got32 = e32.read_all(), got16 = e16.read_all();
  size_t weights = 0;
  for (const auto& nt : a.tensors) {
    INFO(nt.name);
    const bool is_weight = nt.name.rfind("model.", 0) == 0 || nt.name.rfind("buffer.", 0) == 0;
    CHECK(got32.count(nt.name) == (is_weight ? 1u : 0u));
    if (!is_weight) continue;
    ++weights;
    const std::string original = bytes_of(*nt.tensor);
    CHECK(got32.at(nt.name) == original);
    CHECK(e32.find(nt.name)->shape == nt.tensor->shape());
    if (nt.name.rfind("buffer.", 0) == 0) {  // buffers stay f32
      CHECK(e16.find(nt.name)->dtype == DType::f32);
      CHECK(got16.at(nt.name) == original);
      continue;
    }
    CHECK(e16.find(nt.name)->dtype == DType::bf16);
    const std::string& half = got16.at(nt.name);
    REQUIRE(half.size() == original.size() / 2);
    bool all_rounded = true;
    for (size_t i = 0; i < half.size() / 2; ++i) {
      float v;
      uint16_t bits;
      std::memcpy(&v, original.data() + 4 * i, 4);
      std::memcpy(&bits, half.data() + 2 * i, 2);
      all_rounded = all_rounded && bits == bf16::from_float(v).bits;
    }
    CHECK(all_rounded);
  }
  CHECK(weights == count);
  const std::string& first_half = got16.at("model." + a.model->parameters().front().name);
  uint16_t h[3];
  std::memcpy(h, first_half.data(), 6);
  CHECK(h[0] == 0x3f80);  // 1
  CHECK(h[1] == 0x3f82);  // 1 + 2^-6
  CHECK(h[2] == 0xc001);  // -2 - 2^-6
  CHECK_THROWS_WITH(export_weights(f32, d.file("again.safetensors"), DType::f32, fresh.weights()),
                    Contains("is an mhc export"));
}

TEST_CASE("export refuses a checkpoint whose tensors are not the run's model's", "[checkpoint][export]") {
  TempDir d;
  TinyRun a;
  const std::string ckpt = d.file(kCheckpointFile), out = d.file("x.safetensors");
  // The first 2-D parameter, replaced by an I32 tensor of its shape, by its
  // transpose, and kept with one tensor more.
  size_t k = 0;
  while (a.tensors[k].tensor->shape().size() != 2 || a.tensors[k].tensor->shape()[0] == a.tensors[k].tensor->shape()[1])
    ++k;
  const NamedTensor original = a.tensors[k];
  const Shape shape = original.tensor->shape();
  Tensor as_int = Tensor::zeros(shape, DType::i32);
  Tensor transposed = Tensor::zeros({shape[1], shape[0]}, DType::f32);
  Tensor extra = Tensor::zeros({3}, DType::f32);
  auto refused = [&](const std::vector<NamedTensor>& tensors, const std::string& why) {
    save_checkpoint(ckpt, tensors, a.meta);
    CHECK_THROWS_WITH(export_weights(ckpt, out, DType::f32, TinyRun().weights()),
                      Contains(ckpt) && Contains("was written for a different model") && Contains(why));
    CHECK_FALSE(std::filesystem::exists(out));
  };
  std::vector<NamedTensor> t = a.tensors;
  t[k].tensor = &as_int;
  refused(t, "'" + original.name + "' is i32");
  t[k].tensor = &transposed;
  refused(t, "'" + original.name + "' is f32 " + transposed.shape().str());
  t = a.tensors;
  t.push_back({"model.extra", &extra});
  refused(t, "it holds 'model.extra'");
  t = a.tensors;
  t.erase(t.begin() + static_cast<long>(k));
  refused(t, "it has no tensor '" + original.name + "'");
}

TEST_CASE(
    "init-from: the weights of an export (bf16 widened exactly) or a checkpoint, and other models refused by tensor",
    "[checkpoint][init_from]") {
  TempDir d;
  TinyRun a(1), b(2);  // b: the same architecture, other weights
  auto params_of = [](TinyRun& r) {
    std::vector<NamedTensor> out;
    for (auto& p : r.model->parameters()) out.push_back({"model." + p.name, p.tensor});
    return out;
  };
  auto buffers_of = [](TinyRun& r) {
    std::vector<NamedTensor> out;
    for (auto& p : r.model->buffers()) out.push_back({"buffer." + p.name, p.tensor});
    return out;
  };
  const std::string ckpt = d.file(kCheckpointFile), f32 = d.file("f32.safetensors"), b16 = d.file("b16.safetensors");
  save_checkpoint(ckpt, a.tensors, a.meta);
  export_weights(ckpt, f32, DType::f32, TinyRun(3).weights());
  export_weights(ckpt, b16, DType::bf16, TinyRun(3).weights());
  for (const std::string& file : {ckpt, f32}) {
    INFO(file);
    TinyRun c(2);
    load_init_weights(file, params_of(c), buffers_of(c));
    for (size_t i = 0; i < c.tensors.size(); ++i)
      if (c.tensors[i].name.rfind("adamw.", 0) != 0)
        CHECK(bytes_of(*c.tensors[i].tensor) == bytes_of(*a.tensors[i].tensor));
  }
  load_init_weights(b16, params_of(b), buffers_of(b));
  const SafetensorsFile e16(b16);
  const auto half = e16.read_all();
  const NamedTensor w = params_of(b).front();
  const float got = static_cast<const float*>(w.tensor->data_ptr())[0];
  uint16_t bits;
  std::memcpy(&bits, half.at(w.name).data(), 2);
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float want;
  std::memcpy(&want, &wide, 4);
  CHECK(got == want);

  // Another model: a wider one (shapes), a plain residual one (missing and extra tensors).
  ModelConfig c;
  c.vocab_size = 11, c.block_size = 8, c.blocks = 2, c.width = 16, c.heads = 2;
  c.site.kind = ResidualKind::MHC, c.site.streams = 2;
  Transformer wide_model(c, 1);
  std::vector<NamedTensor> wide_params;
  for (auto& p : wide_model.parameters()) wide_params.push_back({"model." + p.name, p.tensor});
  CHECK_THROWS_WITH(load_init_weights(f32, wide_params, {}), Contains("has shape") && Contains("--init-from"));
  c.width = 8, c.site.kind = ResidualKind::Residual, c.site.streams = 1;
  Transformer plain(c, 1);
  std::vector<NamedTensor> plain_params;
  for (auto& p : plain.parameters()) plain_params.push_back({"model." + p.name, p.tensor});
  CHECK_THROWS_WITH(load_init_weights(f32, plain_params, {}), Contains("which this model"));
  write_bytes(d.file("other.safetensors"), hand_made(R"({"__metadata__":{"format":"notes"}})", ""));
  CHECK_THROWS_WITH(load_init_weights(d.file("other.safetensors"), params_of(b), {}),
                    Contains("is not an mhc export or checkpoint"));
}
