#include "proxy/http/filter_state.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace switchyard::http {
namespace {

// Counts its destructions, so the test sees what the state deletes and what it leaves alone.
class Counted final : public FilterState::Object {
 public:
  Counted(std::string value, int* destroyed) : value_(std::move(value)), destroyed_(destroyed) {}
  ~Counted() override { ++*destroyed_; }
  std::optional<common::FieldValue> logValue() const override { return value_; }
  const std::string& value() const { return value_; }

 private:
  std::string value_;
  int* destroyed_;
};

inline constexpr FilterState::Key<Counted> First{"first"};
inline constexpr FilterState::Key<Counted> Second{"second"};
inline constexpr FilterState::Key<Counted> Third{"third"};

std::vector<std::string> logged(const FilterState& state) {
  std::vector<std::string> out;
  state.forEachLogValue([&](std::string_view name, const common::FieldValue& v) {
    out.push_back(std::string(name) + "=" + std::get<std::string>(v));
  });
  return out;
}

TEST(FilterStateTest, OwnsWhatItIsGivenAndNeverConstants) {
  int destroyed = 0;
  const Counted constant("allowed", &destroyed);
  {
    FilterState state;
    EXPECT_TRUE(state.empty());
    EXPECT_EQ(state.get(First), nullptr);
    state.setConstant(First, constant);
    EXPECT_FALSE(state.empty());
    EXPECT_EQ(state.get(First), &constant);
    state.set(Second, std::make_unique<Counted>("2", &destroyed));
    state.set(Third, std::make_unique<Counted>("3", &destroyed));
    EXPECT_EQ(logged(state), (std::vector<std::string>{"first=allowed", "second=2", "third=3"}));

    // Replacing: an owned object is deleted at once, a constant is not.
    state.set(First, std::make_unique<Counted>("limited", &destroyed));
    EXPECT_EQ(destroyed, 0);
    state.set(Third, std::make_unique<Counted>("3b", &destroyed));
    EXPECT_EQ(destroyed, 1);
    state.setConstant(Second, constant);
    EXPECT_EQ(destroyed, 2);
    EXPECT_EQ(state.get(First)->value(), "limited");
    EXPECT_EQ(logged(state),
              (std::vector<std::string>{"first=limited", "second=allowed", "third=3b"}));
  }
  EXPECT_EQ(destroyed, 4);  // "limited" and "3b"; the constant lives on
  EXPECT_EQ(constant.value(), "allowed");
}

}  // namespace
}  // namespace switchyard::http
