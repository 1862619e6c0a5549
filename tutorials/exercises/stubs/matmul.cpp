// Exercise 4: the backward of Y = A B. Fill in the body; check with
// `ctest --test-dir build -R '^exercise_matmul$'` (tutorials/exercises/README.md).
//   Y_mn = Σ_k A_mk B_kn
// Hint: check your answer's shapes: ∂L/∂A has A's shape, ∂L/∂B has B's.
#include "tutorials/exercises/exercises.h"

namespace exercises {

void matmul_backward(const Vec& A, const Vec& B, const Vec& g, int64_t M, int64_t K, int64_t N, Vec& dA, Vec& dB) {
  dA.assign(M * K, 0.0);
  dB.assign(K * N, 0.0);
  // TODO: dA = ∂L/∂A (M, K), dB = ∂L/∂B (K, N)
}

}  // namespace exercises
