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
//   info.filter_state.setConstant(DecisionKey, AllowedDecision);  // a constant: no allocation
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
#include "proxy/common/pooled.h"

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

  FilterState() = default;
  ~FilterState() {
    release(first_);
    for (Entry& e : more_) release(e);
  }
  FilterState(const FilterState&) = delete;
  FilterState& operator=(const FilterState&) = delete;

  // Sets (or replaces) the object under `key`.
  template <class T>
  void set(const Key<T>& key, std::unique_ptr<T> value) {
    static_assert(std::is_base_of_v<Object, T>, "FilterState holds FilterState::Object types");
    put(&key, key.name(), value.release(), true);
  }
  // Sets (or replaces) the object under `key` with one that outlives every stream (a constant,
  // such as the decision most requests get): nothing is allocated or freed for it.
  template <class T>
  void setConstant(const Key<T>& key, const T& value) {
    static_assert(std::is_base_of_v<Object, T>, "FilterState holds FilterState::Object types");
    if (first_.key == nullptr) {
      first_ = Entry{&key, key.name(), &value, false};
      return;
    }
    put(&key, key.name(), &value, false);
  }

  // The object under `key`, or null.
  template <class T>
  const T* get(const Key<T>& key) const {
    if (first_.key == &key) return static_cast<const T*>(first_.value);
    for (const Entry& e : more_) {
      if (e.key == &key) return static_cast<const T*>(e.value);
    }
    return nullptr;
  }

  bool empty() const { return first_.key == nullptr; }

  // Calls fn(name, value) for each object with a log value, in the order they were first set.
  template <class Fn>
  void forEachLogValue(Fn&& fn) const {
    if (first_.key == nullptr) return;
    visit(first_, fn);
    for (const Entry& e : more_) visit(e, fn);
  }

 private:
  struct Entry {
    const void* key;
    std::string_view name;
    const Object* value;  // never null once set
    bool owned;           // deleted with the state (set()), or a constant (setConstant())
  };

  static void release(Entry& e) {
    if (e.owned) delete e.value;
  }
  void put(const void* key, std::string_view name, const Object* value, bool owned) {
    Entry* e = nullptr;
    if (first_.key == nullptr || first_.key == key) {
      e = &first_;
    } else {
      for (Entry& m : more_) {
        if (m.key == key) e = &m;
      }
      if (e == nullptr) e = &more_.emplace_back(Entry{key, name, nullptr, false});
    }
    release(*e);
    *e = Entry{key, name, value, owned};
  }
  template <class Fn>
  static void visit(const Entry& e, Fn& fn) {
    if (std::optional<common::FieldValue> v = e.value->logValue()) fn(e.name, *v);
  }

  // Most streams record one object or none: the first needs no allocation. The others live in
  // the worker's per-thread free lists, not malloc.
  Entry first_{nullptr, {}, nullptr, false};
  std::vector<Entry, common::PoolAllocator<Entry>> more_;
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
