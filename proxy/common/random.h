#pragma once

#include <cstdint>

namespace switchyard::common {

// A source of 64-bit random numbers. One instance per thread: implementations are not
// thread-safe. Code takes a Random& instead of reading a random device, so tests can seed it.
class Random {
 public:
  virtual ~Random() = default;
  virtual uint64_t next() = 0;

  // Uniform in [0, bound) without modulo bias (Lemire's method); bound must be > 0.
  uint64_t uniform(uint64_t bound);
  // Uniform in [0, 1).
  double uniform01() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
};

// xoshiro256** with a fixed seed: deterministic sequences for tests and for anything that needs
// reproducibility.
class SeededRandom : public Random {
 public:
  explicit SeededRandom(uint64_t seed);
  uint64_t next() override;

 private:
  uint64_t s_[4];
};

// xoshiro256** seeded once from the kernel's entropy pool. The only place real randomness is read.
class RealRandom final : public SeededRandom {
 public:
  RealRandom();
};

}  // namespace switchyard::common
