// test_tensor.cpp — views share storage, copies happen only when needed,
// dtypes convert correctly, and the caching allocator reuses, splits and
// merges blocks.
#include "test_helpers.h"
#include "kernels/caching_allocator.h"

#include <cstdlib>

using namespace mhc;

namespace {
bool same_storage(const Tensor& a, const Tensor& b) { return a.impl().storage == b.impl().storage; }
}  // namespace

TEST_CASE("views share storage and have the expected strides", "[tensor]") {
  Tensor x = Tensor::arange(24).reshape({2, 3, 4});
  REQUIRE(x.strides() == Strides{12, 4, 1});

  Tensor t = x.transpose(0, 2);
  CHECK(same_storage(x, t));
  CHECK(t.shape() == Shape{4, 3, 2});
  CHECK(t.strides() == Strides{1, 4, 12});
  CHECK_FALSE(t.is_contiguous());

  Tensor p = x.permute({1, 2, 0});
  CHECK(same_storage(x, p));
  CHECK(p.strides() == Strides{4, 1, 12});

  Tensor s = x.slice(2, 1, 3);
  CHECK(same_storage(x, s));
  CHECK(s.offset() == 1);
  CHECK(s.to_vector<float>() == std::vector<float>{1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22});

  Tensor e = Tensor::arange(3).reshape({3, 1}).expand({3, 4});
  CHECK(e.strides() == Strides{1, 0});
  CHECK(e.to_vector<float>() == std::vector<float>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2});

  Tensor sel = x.select(1, 2);
  CHECK(sel.shape() == Shape{2, 4});
  CHECK(sel.to_vector<float>() == std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23});
}

TEST_CASE("reshape is a view when the layout allows it, a copy otherwise", "[tensor]") {
  Tensor x = Tensor::arange(24).reshape({2, 3, 4});
  CHECK(same_storage(x, x.reshape({6, 4})));
  CHECK(same_storage(x, x.reshape({2, -1})));
  // Splitting a transposed axis again is still a view...
  Tensor t = x.transpose(1, 2);  // (2, 4, 3)
  Tensor v = t.reshape({2, 2, 2, 3});
  CHECK(same_storage(x, v));
  // ...but merging the two transposed axes is not.
  Tensor c = t.reshape({2, 12});
  CHECK_FALSE(same_storage(x, c));
  CHECK(c.to_vector<float>()[1] == 4.f);  // element (0, 0, 1) of t is x[0, 1, 0] = 4
}

TEST_CASE("contiguous copies only when needed", "[tensor]") {
  Tensor x = Tensor::arange(6).reshape({2, 3});
  CHECK(same_storage(x, x.contiguous()));
  Tensor t = x.transpose(0, 1).contiguous();
  CHECK_FALSE(same_storage(x, t));
  CHECK(t.is_contiguous());
  CHECK(t.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("dtype conversions", "[tensor]") {
  Tensor x = Tensor::from_vector(std::vector<double>{1.5, -2.25, 3.0, 1e-3}, {4});
  CHECK(x.dtype() == DType::f32);
  Tensor d = x.to(DType::f64);
  CHECK(d.dtype() == DType::f64);
  CHECK(d.to_vector<double>() == std::vector<double>{1.5, -2.25, 3.0, static_cast<double>(1e-3f)});
  // bf16 keeps 8 significant bits: exact for these, rounded for 1e-3.
  Tensor b = x.to(DType::bf16);
  auto vb = b.to_vector<float>();
  CHECK(vb[0] == 1.5f);
  CHECK(vb[1] == -2.25f);
  CHECK(std::abs(vb[3] - 1e-3f) < 1e-5f);
  CHECK(std::abs(vb[3] - 1e-3f) > 0);
  // bf16 round-to-nearest-even at the tie: 1 + 2^-8 rounds down to 1, 1 + 3·2^-8 up.
  CHECK(bf16::from_float(1.0f + 1.0f / 256).to_float() == 1.0f);
  CHECK(bf16::from_float(1.0f + 3.0f / 256).to_float() == 1.0f + 4.0f / 256);
  Tensor i = Tensor::from_ints({3, -1, 7}, {3});
  CHECK(i.to(DType::f32).to_vector<float>() == std::vector<float>{3, -1, 7});
}

TEST_CASE("creation helpers and item", "[tensor]") {
  CHECK(Tensor::zeros({2, 2}).to_vector<float>() == std::vector<float>(4, 0.f));
  CHECK(Tensor::full({3}, 2.5, DType::f64).to_vector<double>() == std::vector<double>(3, 2.5));
  CHECK(Tensor::scalar(4.0).item() == 4.0);
  CHECK(Tensor::scalar(4.0).dim() == 0);
  Rng a(7), b(7);
  CHECK(Tensor::randn({5}, a).to_vector<float>() == Tensor::randn({5}, b).to_vector<float>());
}

TEST_CASE("the caching allocator reuses freed blocks", "[tensor][memory]") {
  Backend& cpu = backend_for(Device::cpu);
  { Tensor warm = Tensor::empty({1000}); }  // make sure this size class is cached
  const auto before = cpu.allocator_stats();
  for (int i = 0; i < 10; ++i) {
    Tensor t = Tensor::empty({1000});
    (void)t;
  }
  const auto after = cpu.allocator_stats();
  CHECK(after.system_allocations == before.system_allocations);
  CHECK(after.requests == before.requests + 10);
}

TEST_CASE("size classes bound the waste", "[memory]") {
  for (size_t bytes : {1ul, 511ul, 513ul, 1ul << 20, (1ul << 20) + 1, 3ul << 22, (5ul << 22) + 7}) {
    const size_t cls = CachingAllocator::size_class(bytes);
    CHECK(cls >= bytes);
    CHECK(static_cast<double>(cls) <= 1.25 * static_cast<double>(bytes) + 512);
  }
}

namespace {
// A CachingAllocator over counted host memory, so tests see every system call.
struct CountedSystem {
  int64_t mallocs = 0, frees = 0;
  CachingAllocator make() {
    return CachingAllocator(
        [this](size_t b) {
          ++mallocs;
          return std::aligned_alloc(512, b);
        },
        [this](void* p) {
          ++frees;
          std::free(p);
        });
  }
};
}  // namespace

TEST_CASE("the caching allocator splits segments and merges freed neighbours", "[memory]") {
  CountedSystem sys;
  CachingAllocator a = sys.make();
  char* x = static_cast<char*>(a.allocate(1000));  // 1024 bytes of a new 2 MiB segment
  char* y = static_cast<char*>(a.allocate(512));
  char* z = static_cast<char*>(a.allocate(3000));  // 3072
  CHECK(sys.mallocs == 1);
  CHECK(a.stats().bytes_reserved == int64_t{2} << 20);
  CHECK(y == x + 1024);  // neighbours, each at a multiple of 512 bytes from the segment start
  CHECK(z == y + 512);
  CHECK(a.stats().bytes_in_use == 1024 + 512 + 3072);
  a.deallocate(y, 512);
  a.deallocate(x, 1000);
  // x and y merged: a request for both of them fits at x, and nothing new is reserved.
  CHECK(a.allocate(1536) == x);
  CHECK(sys.mallocs == 1);
  a.deallocate(x, 1536);
  a.deallocate(z, 3000);
  CHECK(a.stats().bytes_in_use == 0);
  a.empty_cache();  // the segment is whole again, so it goes back
  CHECK(sys.frees == 1);
  CHECK(a.stats().bytes_reserved == 0);
  CHECK_THROWS_WITH(a.deallocate(x, 1), Catch::Matchers::Contains("did not hand out"));
}

TEST_CASE("varying sizes after a warm-up reach the system allocator no more", "[memory]") {
  // Like a mixture-of-experts step: the same total every step, split differently.
  CountedSystem sys;
  CachingAllocator a = sys.make();
  Rng rng(3);
  auto step = [&]() {
    std::vector<std::pair<void*, size_t>> live;
    int64_t left = 600;  // rows of 512 bytes to hand out over 8 "experts"
    for (int e = 0; e < 8; ++e) {
      const int64_t rows = e == 7 ? left : static_cast<int64_t>(rng.below(static_cast<uint64_t>(left / 2 + 1)));
      left -= rows;
      for (int64_t width : {128, 384, 128})  // bytes per row: (rows, C), (rows, H) and (rows, C) activations
        live.push_back({a.allocate(static_cast<size_t>(rows * width * 4)), static_cast<size_t>(rows * width * 4)});
    }
    for (auto& [p, b] : live) a.deallocate(p, b);
  };
  for (int i = 0; i < 3; ++i) step();
  const int64_t warm = sys.mallocs;
  CHECK(warm >= 1);
  for (int i = 0; i < 20; ++i) step();
  CHECK(sys.mallocs == warm);
  CHECK(a.stats().system_allocations == warm);
  CHECK(a.stats().bytes_in_use == 0);
}

TEST_CASE("large requests take their own pool and segment sizes", "[memory]") {
  CountedSystem sys;
  CachingAllocator a = sys.make();
  void* small = a.allocate(1000);
  void* mid = a.allocate(3 << 20);  // 3 MiB: a 20 MiB segment, split
  CHECK(a.stats().bytes_reserved == (int64_t{2} << 20) + (int64_t{20} << 20));
  void* mid2 = a.allocate(5 << 20);  // fits in the rest of that segment
  CHECK(static_cast<char*>(mid2) == static_cast<char*>(mid) + (3 << 20));
  CHECK(sys.mallocs == 2);
  void* big = a.allocate((50 << 20) + 1);  // its own segment, rounded to 2 MiB
  CHECK(a.stats().bytes_reserved == (int64_t{2} << 20) + (int64_t{20} << 20) + (int64_t{52} << 20));
  // A small request never splits a large segment: a new small segment would
  // come first, but the first one still has room.
  void* small2 = a.allocate(4096);
  CHECK(sys.mallocs == 3);
  for (void* p : {small, mid, mid2, big, small2}) a.deallocate(p, 0);
  a.empty_cache();
  CHECK(sys.frees == 3);
  CHECK(a.stats().bytes_reserved == 0);
}
