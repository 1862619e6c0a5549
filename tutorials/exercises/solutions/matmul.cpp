// Exercise 4, reference solution: the backward of Y = A B.
//   Y_mn = Σ_k A_mk B_kn   so   ∂L/∂A = G Bᵀ  (M, K)   and   ∂L/∂B = Aᵀ G  (K, N)
#include "tutorials/exercises/exercises.h"

namespace exercises {

void matmul_backward(const Vec& A, const Vec& B, const Vec& g, int64_t M, int64_t K, int64_t N, Vec& dA, Vec& dB) {
  dA.assign(M * K, 0.0);
  dB.assign(K * N, 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) {
        dA[m * K + k] += g[m * N + n] * B[k * N + n];
        dB[k * N + n] += A[m * K + k] * g[m * N + n];
      }
}

}  // namespace exercises
