#include "proxy/upstream/runtime_state.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace switchyard::upstream {
namespace {

struct Counter final : public RuntimeState {
  explicit Counter(int* destroyed) : destroyed_(destroyed) {}
  ~Counter() override { ++*destroyed_; }
  int value = 0;
  int* destroyed_;
};

class RuntimeStateTest : public ::testing::Test {
 protected:
  std::shared_ptr<Counter> claim(const std::string& name) {
    return state_.claim<Counter>("test", name, [this] {
      ++made_;
      return std::make_shared<Counter>(&destroyed_);
    });
  }

  RuntimeStateRegistry state_;
  int made_ = 0;
  int destroyed_ = 0;
};

TEST_F(RuntimeStateTest, OneObjectPerOwnerAndName) {
  state_.beginActivation();
  auto a = claim("a");
  EXPECT_EQ(claim("a"), a);
  auto other_owner = state_.claim<Counter>(
      "other", "a", [this] { return std::make_shared<Counter>(&destroyed_); });
  EXPECT_NE(other_owner, a);
  state_.endActivation();
  EXPECT_EQ(made_, 1);
  EXPECT_EQ(state_.liveNames(), (std::vector<std::string>{"other/a", "test/a"}));
}

TEST_F(RuntimeStateTest, AnActivationKeepsWhatItClaimsAndRetiresTheRest) {
  state_.beginActivation();
  auto a = claim("a");
  auto b = claim("b");
  state_.endActivation();
  a->value = 7;

  state_.beginActivation();
  EXPECT_EQ(claim("a"), a);  // the same state, with its value
  EXPECT_EQ(claim("a")->value, 7);
  state_.endActivation();
  EXPECT_EQ(state_.liveCount(), 1u);
  EXPECT_EQ(state_.retiredCount(), 1u);
  // `b` is still held (by a configuration still in use): kept until released.
  EXPECT_EQ(state_.collect(), 0u);
  EXPECT_EQ(destroyed_, 0);
  b.reset();
  EXPECT_EQ(state_.collect(), 1u);
  EXPECT_EQ(destroyed_, 1);
  EXPECT_EQ(state_.retiredCount(), 0u);
}

TEST_F(RuntimeStateTest, ARetiredNameClaimedAgainIsRevived) {
  state_.beginActivation();
  auto a = claim("a");
  state_.endActivation();
  a->value = 3;
  state_.beginActivation();
  state_.endActivation();  // `a` retired, still held
  EXPECT_EQ(state_.retiredCount(), 1u);
  state_.beginActivation();
  EXPECT_EQ(claim("a"), a);  // never two objects for one name
  state_.endActivation();
  EXPECT_EQ(made_, 1);
  EXPECT_EQ(state_.retiredCount(), 0u);
  EXPECT_EQ(a->value, 3);
}

TEST_F(RuntimeStateTest, UnheldRetiredStateGoesAtTheEndOfTheActivation) {
  state_.beginActivation();
  claim("a");
  state_.endActivation();
  state_.beginActivation();
  state_.endActivation();
  EXPECT_EQ(destroyed_, 1);
  EXPECT_EQ(state_.liveCount(), 0u);
}

}  // namespace
}  // namespace switchyard::upstream
