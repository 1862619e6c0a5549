// Exercise 6: one mHC site for one token, from mHC Eq. 3 and 7-9. Fill in
// the body; check with `ctest --test-dir build -R '^exercise_mhc_site$'` (tutorials/exercises/README.md).
//   v = RMSNorm(vec x) (no weight)                                 (Eq. 7)
//   H̃_pre = α_pre (v φ_pre) + b_pre, H̃_post = α_post (v φ_post) + b_post,
//   H̃_res = α_res mat(v φ_res) + b_res (row-major)                 (Eq. 7)
//   H_pre = σ(H̃_pre), H_post = 2σ(H̃_post),
//   H_res = `iters` column-then-row normalisations of exp(H̃_res)   (Eq. 8-9)
//   x_{l+1} = H_res x + H_postᵀ F(H_pre x)                          (Eq. 3)
// Rows of H_res are output streams: (H_res x)_i = Σ_j H_res[i, j] x_j.
#include "tutorials/exercises/exercises.h"

namespace exercises {

Vec mhc_site_forward(const Vec& x, const MhcSite& site, const SubBlockFn& F) {
  Vec out(site.n * site.C, 0.0);
  // TODO: out = x_{l+1} (n, C)
  return out;
}

}  // namespace exercises
