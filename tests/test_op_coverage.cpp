// test_op_coverage.cpp — every autograd op has an f64 gradient check and a
// CUDA comparison test, and this file is the list that says which.
//
// The ops are read from autograd/ops.h and autograd/ops_mhc.h (every
// function returning a Tensor). Each must appear in kCoverage below with the
// TEST_CASE that checks its gradient against central differences in f64 and
// the TEST_CASE that compares its CUDA result with the CPU's (the backend
// primitive it runs on, or the op itself). The test fails when an op is
// missing from the list, when a named test case does not exist, or when the
// case does not mention what it is said to check. Adding an op: add it here
// with its two tests (docs/design.md, "Adding an op").
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace {

struct Check {
  const char* file;     // under tests/
  const char* test;     // the TEST_CASE's name
  const char* mention;  // text its body must contain
};
struct Coverage {
  const char* op;
  Check gradcheck, cuda;
};

constexpr const char* G = "test_ops_gradcheck.cpp";
constexpr const char* CU = "test_cuda_backend.cpp";
constexpr const char* kBinary = "binary ops broadcast and differentiate";
constexpr const char* kCudaBinary = "cuda binary ops broadcast like the CPU, in place too";
constexpr const char* kUnary = "unary ops";
constexpr const char* kCudaUnary =
    "cuda unary and unary_backward match the CPU formulas (aligned and unaligned pointers)";
constexpr const char* kCudaSum = "cuda sum over (outer, reduce, inner) matches the CPU, including the two-stage cases";
constexpr const char* kCudaSoftmax =
    "cuda softmax and log-softmax (forward and backward) match the CPU on every axis layout";
constexpr const char* kCudaCe =
    "cuda cross_entropy and its backward match the CPU, ignored rows are 0 and bad targets give NaN";
constexpr const char* kCudaAttention =
    "cuda attention forward and backward match the CPU (all head dims, odd lengths, dropout)";
constexpr const char* kMhcFd = "fused mHC ops match finite differences (f64)";
constexpr const char* kCudaMhc = "each fused primitive matches its CPU reference (f32)";

const Coverage kCoverage[] = {
    {"add", {G, kBinary, "add("}, {CU, kCudaBinary, "BinaryOp::Add"}},
    {"sub", {G, kBinary, "sub("}, {CU, kCudaBinary, "BinaryOp::Sub"}},
    {"mul", {G, kBinary, "mul("}, {CU, kCudaBinary, "BinaryOp::Mul"}},
    {"div", {G, kBinary, "div("}, {CU, kCudaBinary, "BinaryOp::Div"}},
    {"sum_to", {G, kBinary, "sub(in[1], in[0])"}, {CU, kCudaSum, "sum("}},  // the broadcasting backward
    {"affine",
     {G, "scalar affine", "* 2.5 - 1.0"},
     {CU, "cuda affine and dropout match the CPU (dropout draws the same mask)", "affine("}},
    {"neg", {G, kUnary, "neg("}, {CU, kCudaUnary, "kUnaryOps"}},          // the loop over every UnaryOp
    {"exp", {G, kUnary, "exp("}, {CU, kCudaUnary, "kUnaryOps"}},          // the loop over every UnaryOp
    {"log", {G, kUnary, "log("}, {CU, kCudaUnary, "kUnaryOps"}},          // the loop over every UnaryOp
    {"sigmoid", {G, kUnary, "sigmoid("}, {CU, kCudaUnary, "kUnaryOps"}},  // the loop over every UnaryOp
    {"tanh", {G, kUnary, "tanh("}, {CU, kCudaUnary, "kUnaryOps"}},        // the loop over every UnaryOp
    {"silu", {G, kUnary, "silu("}, {CU, kCudaUnary, "kUnaryOps"}},        // the loop over every UnaryOp
    {"gelu", {G, kUnary, "gelu("}, {CU, kCudaUnary, "kUnaryOps"}},        // the loop over every UnaryOp
    {"sqrt", {G, kUnary, "sqrt("}, {CU, kCudaUnary, "kUnaryOps"}},        // the loop over every UnaryOp
    {"square", {G, kUnary, "square("}, {CU, kCudaUnary, "kUnaryOps"}},    // the loop over every UnaryOp
    {"relu", {G, kUnary, "relu("}, {CU, kCudaUnary, "kUnaryOps"}},        // the loop over every UnaryOp
    {"abs", {G, kUnary, "abs("}, {CU, kCudaUnary, "kUnaryOps"}},          // the loop over every UnaryOp
    {"sum", {G, "reductions", "sum("}, {CU, kCudaSum, "sum("}},
    {"mean", {G, "reductions", "mean("}, {CU, kCudaSum, "sum("}},
    {"max", {G, "reductions", "max("}, {CU, kCudaBinary, "BinaryOp::Max"}},
    {"matmul",
     {G, "matmul, batched and broadcast", "matmul("},
     {CU, "cuda gemm matches the CPU over orientations, batch strides, alpha/beta and odd sizes", "gemm("}},
    {"softmax", {G, "softmax, log-softmax over any axis", "softmax("}, {CU, kCudaSoftmax, "softmax("}},
    {"log_softmax", {G, "softmax, log-softmax over any axis", "log_softmax("}, {CU, kCudaSoftmax, "true"}},
    {"cross_entropy", {G, "cross-entropy with an ignore index", "cross_entropy("}, {CU, kCudaCe, "cross_entropy("}},
    {"cross_entropy_rows",
     {G, "cross-entropy with an ignore index", "cross_entropy_rows("},
     {CU, kCudaCe, "cross_entropy("}},
    {"rms_norm",
     {G, "rms_norm with and without weight", "rms_norm("},
     {CU, "cuda rms_norm and its backward (with and without weight) match the CPU", "rms_norm("}},
    {"embedding",
     {G, "embedding gathers rows and scatter-adds repeated ids", "embedding("},
     {CU, "cuda autograd: causal_attention (T = 1024), sinkhorn and embedding agree with the CPU", "embedding("}},
    {"concat",
     {G, "concat along each axis", "concat("},
     {CU, "cuda copy_strided matches the CPU for permuted, padded and broadcast layouts of every dtype",
      "copy_strided("}},
    {"topk",
     {G, "topk values carry the gradient", "topk("},
     {CU, "cuda topk: values descending, ties to the lower index, like the CPU", "topk("}},
    {"gather_last",
     {G, "gather_last, index_select and index_add", "gather_last("},
     {CU, "cuda gather_last and scatter_add_last match the CPU (repeated columns add in order)", "gather_last("}},
    {"index_select",
     {G, "gather_last, index_select and index_add", "index_select("},
     {CU, "cuda gather copies rows of any dtype, and out-of-range rows read as NaN", "gather("}},
    {"index_add",
     {G, "gather_last, index_select and index_add", "index_add("},
     {CU, "cuda index_add adds repeated indices in increasing order (f32: bit-identical to the CPU)", "index_add("}},
    {"dropout",
     {G, "dropout: gradient uses the same mask", "dropout("},
     {CU, "cuda affine and dropout match the CPU (dropout draws the same mask)", "dropout("}},
    {"causal_attention",
     {G, "causal attention, fused and composed, with and without dropout", "causal_attention("},
     {CU, kCudaAttention, "attention("}},
    {"causal_attention_composed",
     {G, "causal attention, fused and composed, with and without dropout", "causal_attention_composed("},
     {CU, kCudaAttention, "attention("}},
    {"rope",
     {G, "rope: rotation forward, inverse rotation backward", "rope("},
     {CU, "cuda rope (and its inverse) matches the CPU", "rope("}},
    {"sinkhorn",
     {"test_sinkhorn.cpp", "backward matches f64 finite differences for n = 2, 4, 8 and t_max = 1, 5, 20", "sinkhorn("},
     {CU, "cuda sinkhorn and its backward match the CPU for n = 1..8", "sinkhorn("}},
    {"mhc_coefficients",
     {"test_mhc_fused.cpp", kMhcFd, "mhc_coefficients("},
     {"test_cuda_mhc.cpp", kCudaMhc, "mhc_gates("}},
    {"mhc_pre", {"test_mhc_fused.cpp", kMhcFd, "mhc_pre("}, {"test_cuda_mhc.cpp", kCudaMhc, "mhc_pre("}},
    {"mhc_post", {"test_mhc_fused.cpp", kMhcFd, "mhc_post("}, {"test_cuda_mhc.cpp", kCudaMhc, "mhc_post("}},
};

std::string read(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The public ops a header declares: every function at the start of a line
// that returns a Tensor or a pair of them.
std::set<std::string> declared_ops(const std::string& header) {
  std::set<std::string> ops;
  const std::string text = read(header);
  const std::regex decl(R"((^|\n)(Tensor|std::pair<Tensor, Tensor>) ([a-z_0-9]+)\()");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), decl); it != std::sregex_iterator(); ++it)
    ops.insert((*it)[3]);
  return ops;
}

// The body of TEST_CASE("name" ...) in `file`: from its name to the next
// TEST_CASE (or the end); empty when there is no such case.
std::string test_body(const std::string& file, const std::string& name) {
  const std::string text = read(std::string(MHC_SOURCE_DIR) + "/tests/" + file);
  const size_t at = text.find("TEST_CASE(\"" + name + "\"");
  if (at == std::string::npos) return "";
  const size_t next = text.find("\nTEST_CASE(", at + 1);
  return text.substr(at, next == std::string::npos ? std::string::npos : next - at);
}

}  // namespace

TEST_CASE("every op in autograd/ops.h and ops_mhc.h is listed with its gradcheck and its CUDA test", "[coverage]") {
  std::set<std::string> ops = declared_ops(std::string(MHC_SOURCE_DIR) + "/autograd/ops.h");
  for (const std::string& op : declared_ops(std::string(MHC_SOURCE_DIR) + "/autograd/ops_mhc.h")) ops.insert(op);
  REQUIRE(ops.size() > 30);  // the reader found the declarations
  std::map<std::string, const Coverage*> listed;
  for (const Coverage& c : kCoverage) listed[c.op] = &c;
  for (const std::string& op : ops) {
    INFO("op " << op << " has no entry in tests/test_op_coverage.cpp: name its f64 gradcheck and its CUDA test there");
    CHECK(listed.count(op) == 1);
  }
  for (const auto& [op, c] : listed) {
    INFO("tests/test_op_coverage.cpp lists " << op << ", which autograd/ops.h and ops_mhc.h no longer declare");
    CHECK(ops.count(op) == 1);
  }
}

// The CUDA unary test loops over kUnaryOps; built from backend.h's one list
// of unary ops (MHC_UNARY_OPS), it holds every op there is.
TEST_CASE("the CUDA unary test's list holds every unary op", "[coverage]") {
  const std::string text = read(std::string(MHC_SOURCE_DIR) + "/tests/" + CU);
  const size_t at = text.find("const UnaryOp kUnaryOps[] = {");
  REQUIRE(at != std::string::npos);
  const std::string list = text.substr(at, text.find("};", at) - at);
  CHECK(list.find("MHC_UNARY_OPS(") != std::string::npos);
  const std::string backend = read(std::string(MHC_SOURCE_DIR) + "/kernels/backend.h");
  CHECK(backend.find("enum class UnaryOp : uint8_t { MHC_UNARY_OPS(") != std::string::npos);
}

TEST_CASE("every listed test case exists and mentions what it is said to check", "[coverage]") {
  for (const Coverage& c : kCoverage)
    for (const Check& check : {c.gradcheck, c.cuda}) {
      const std::string body = test_body(check.file, check.test);
      INFO(c.op << ": TEST_CASE(\"" << check.test << "\") in tests/" << check.file);
      REQUIRE_FALSE(body.empty());
      INFO("its body does not mention " << check.mention);
      CHECK(body.find(check.mention) != std::string::npos);
    }
}
