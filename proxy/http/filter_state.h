#pragma once

// Typed per-request data that filters leave for each other, for the router, and for what the
// proxy writes when the request ends: each object may give a value that the access-log line
// carries as "<name>": value and the server span as the attribute "switchyard.<name>", so the
// core names no filter's fields.
//
// A filter declares its keys once, next to the type they hold:
//
//   inline constexpr http::FilterState::Key<RateLimitDecision> DecisionKey{"rate_limit"};
//   ...
//   info.filter_state.set(DecisionKey, std::make_unique<RateLimitDecision>(...));
//   if (const RateLimitDecision* d = info.filter_state.get(DecisionKey)) ...
//
// A key is identified by its address, so it must be one object for the whole program (an inline
// variable or a static in one translation unit), and its type fixes what set() and get() take:
// there is no cast that can go wrong. Names are distinct across filters (they become log keys).
// Owned by the stream's StreamInfo; used on its worker's thread only. Empty, it costs nothing.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "proxy/common/field_value.h"

namespace switchyard::http {

class FilterState {
 public:
  class Object {
   public:
    virtual ~Object() = default;
    // What the access log and the span show for this object; nullopt: nothing.
    virtual std::optional<common::FieldValue> logValue() const { return std::nullopt; }
  };

  template <class T>
  class Key {
   public:
    constexpr explicit Key(std::string_view name) : name_(name) {}
    Key(const Key&) = delete;
    Key& operator=(const Key&) = delete;
    constexpr std::string_view name() const { return name_; }

   private:
    std::string_view name_;
  };

  // Sets (or replaces) the object under `key`.
  template <class T>
  void set(const Key<T>& key, std::unique_ptr<T> value) {
    static_assert(std::is_base_of_v<Object, T>, "FilterState holds FilterState::Object types");
    for (Entry& e : entries_) {
      if (e.key == &key) {
        e.value = std::move(value);
        return;
      }
    }
    entries_.push_back({&key, key.name(), std::move(value)});
  }

  // The object under `key`, or null.
  template <class T>
  T* get(const Key<T>& key) const {
    for (const Entry& e : entries_) {
      if (e.key == &key) return static_cast<T*>(e.value.get());
    }
    return nullptr;
  }

  bool empty() const { return entries_.empty(); }

  // Calls fn(name, value) for each object with a log value, in the order they were first set.
  template <class Fn>
  void forEachLogValue(Fn&& fn) const {
    for (const Entry& e : entries_) {
      if (!e.value) continue;
      if (std::optional<common::FieldValue> v = e.value->logValue()) fn(e.name, *v);
    }
  }

 private:
  struct Entry {
    const void* key;
    std::string_view name;
    std::unique_ptr<Object> value;
  };
  std::vector<Entry> entries_;
};

// The simplest object: a string shown as it is (a decision such as "allowed" or "hit").
class StringFilterState final : public FilterState::Object {
 public:
  explicit StringFilterState(std::string value) : value_(std::move(value)) {}
  const std::string& value() const { return value_; }
  std::optional<common::FieldValue> logValue() const override { return value_; }

 private:
  std::string value_;
};

}  // namespace switchyard::http
