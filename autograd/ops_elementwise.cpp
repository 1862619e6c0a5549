// ops_elementwise.cpp — broadcasting arithmetic, pointwise functions, dropout.
#include <cmath>

#include "autograd/op_checks.h"
#include "autograd/ops.h"
#include "autograd/tape.h"

namespace mhc {

namespace {

Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  check_same(name, a, b);
  check_floating(name, a);
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  backend_of(a).binary(op, a.dtype(), a.data_ptr(), broadcast_layout(a, out_shape), b.data_ptr(),
                       broadcast_layout(b, out_shape), out.data_ptr(), out_shape);
  return out;
}

Tensor unary_forward(UnaryOp op, const Tensor& x_in, const char* name) {
  check_floating(name, x_in);
  Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_of(x).unary(op, x.dtype(), x.data_ptr(), y.data_ptr(), x.numel());
  record(y, name, {&x}, [op, x = x.detach(), y = y.detach()](const Tensor& g_in, const Node&) {
    Tensor g = g_in.contiguous();
    Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
    backend_of(x).unary_backward(op, x.dtype(), x.data_ptr(), y.data_ptr(), g.data_ptr(), gx.data_ptr(), x.numel());
    return std::vector<Tensor>{gx};
  });
  return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Add, a, b, "add");
  record(out, "add", {&a, &b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const Node& n) {
    return std::vector<Tensor>{n.needs_grad(0) ? sum_to(g, sa) : Tensor(), n.needs_grad(1) ? sum_to(g, sb) : Tensor()};
  });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Sub, a, b, "sub");
  record(out, "sub", {&a, &b}, [sa = a.shape(), sb = b.shape()](const Tensor& g, const Node& n) {
    return std::vector<Tensor>{n.needs_grad(0) ? sum_to(g, sa) : Tensor(),
                               n.needs_grad(1) ? sum_to(neg(g), sb) : Tensor()};
  });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Mul, a, b, "mul");
  record(out, "mul", {&a, &b}, [a = a.detach(), b = b.detach()](const Tensor& g, const Node& n) {
    return std::vector<Tensor>{n.needs_grad(0) ? sum_to(g * b, a.shape()) : Tensor(),
                               n.needs_grad(1) ? sum_to(g * a, b.shape()) : Tensor()};
  });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::Div, a, b, "div");
  record(out, "div", {&a, &b}, [a = a.detach(), b = b.detach(), y = out.detach()](const Tensor& g, const Node& n) {
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b² = -y/b
    Tensor ga = n.needs_grad(0) ? sum_to(g / b, a.shape()) : Tensor();
    Tensor gb = n.needs_grad(1) ? sum_to(neg(g * y / b), b.shape()) : Tensor();
    return std::vector<Tensor>{ga, gb};
  });
  return out;
}

Tensor affine(const Tensor& x_in, double scale, double shift) {
  check_floating("affine", x_in);
  Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_of(x).affine(x.dtype(), x.data_ptr(), y.data_ptr(), x.numel(), scale, shift);
  record(y, "affine", {&x},
         [scale](const Tensor& g, const Node&) { return std::vector<Tensor>{affine(g, scale, 0.0)}; });
  return y;
}

Tensor neg(const Tensor& x) { return unary_forward(UnaryOp::Neg, x, "neg"); }
Tensor exp(const Tensor& x) { return unary_forward(UnaryOp::Exp, x, "exp"); }
Tensor log(const Tensor& x) { return unary_forward(UnaryOp::Log, x, "log"); }
Tensor sigmoid(const Tensor& x) { return unary_forward(UnaryOp::Sigmoid, x, "sigmoid"); }
Tensor tanh(const Tensor& x) { return unary_forward(UnaryOp::Tanh, x, "tanh"); }
Tensor silu(const Tensor& x) { return unary_forward(UnaryOp::Silu, x, "silu"); }
Tensor gelu(const Tensor& x) { return unary_forward(UnaryOp::Gelu, x, "gelu"); }
Tensor sqrt(const Tensor& x) { return unary_forward(UnaryOp::Sqrt, x, "sqrt"); }
Tensor square(const Tensor& x) { return unary_forward(UnaryOp::Square, x, "square"); }
Tensor relu(const Tensor& x) { return unary_forward(UnaryOp::Relu, x, "relu"); }
Tensor abs(const Tensor& x) { return unary_forward(UnaryOp::Abs, x, "abs"); }

Tensor dropout(const Tensor& x_in, double p, uint64_t seed) {
  check_floating("dropout", x_in);
  if (p < 0.0 || p >= 1.0) throw std::invalid_argument("dropout: p = " + std::to_string(p) + " is outside [0, 1)");
  if (p == 0.0) return x_in;
  Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_of(x).dropout(x.dtype(), x.data_ptr(), y.data_ptr(), x.numel(), static_cast<float>(p), seed);
  record(y, "dropout", {&x}, [p, seed](const Tensor& g_in, const Node&) {
    // The mask is redrawn from the seed: the same positions are zeroed and the rest scaled.
    Tensor g = g_in.contiguous();
    Tensor gx = Tensor::empty(g.shape(), g.dtype(), g.device());
    backend_of(g).dropout(g.dtype(), g.data_ptr(), gx.data_ptr(), g.numel(), static_cast<float>(p), seed);
    return std::vector<Tensor>{gx};
  });
  return y;
}

void add_(const Tensor& a, const Tensor& b) {
  check_same("add_", a, b);
  if (!a.is_contiguous()) throw std::invalid_argument("add_: the destination must be contiguous");
  const Shape out = broadcast_shapes(a.shape(), b.shape(), "add_");
  if (out != a.shape())
    throw_shape_error("add_", "cannot add " + b.shape().str() + " into " + a.shape().str() + " in place");
  backend_of(a).binary(BinaryOp::Add, a.dtype(), a.data_ptr(), a.layout(), b.data_ptr(), broadcast_layout(b, out),
                       a.data_ptr(), out);
}

}  // namespace mhc
