#include "filters/jwt_authn/key_source.h"

#include "proxy/common/logging.h"

namespace switchyard::filters::jwt_authn {
namespace {

constexpr size_t MaxJwksBytes = 1 << 20;

int64_t nanos(common::MonotonicTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

UrlKeySource::UrlKeySource(std::string provider, http::HttpUrl url, const common::TimeSource& time,
                           prometheus::Counter& failures)
    : provider_(std::move(provider)), url_(std::move(url)), time_(time), failures_(failures) {}

UrlKeySource::~UrlKeySource() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void UrlKeySource::start(const Settings& settings, std::chrono::milliseconds first_wait) {
  std::unique_lock<std::mutex> lock(mutex_);
  settings_ = settings;
  min_refetch_ns_ =
      std::chrono::duration_cast<std::chrono::nanoseconds>(settings.min_refetch).count();
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { run(); });
  } else {
    wake_.notify_all();  // the refresh interval may have changed
  }
  if (!first_done_) fetched_.wait_for(lock, first_wait, [this] { return first_done_; });
}

void UrlKeySource::onUnknownKid() const {
  const int64_t now = nanos(time_.monotonicNow());
  int64_t last = last_fetch_ns_.load(std::memory_order_relaxed);
  if (!refetchDue(now, last, min_refetch_ns_.load(std::memory_order_relaxed))) return;
  // One caller wins the interval; the others see the new time.
  if (!last_fetch_ns_.compare_exchange_strong(last, now)) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_requested_ = true;
  }
  wake_.notify_all();
}

void UrlKeySource::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    lock.unlock();
    last_fetch_ns_ = nanos(time_.monotonicNow());
    fetch();
    lock.lock();
    if (!first_done_) {
      first_done_ = true;
      fetched_.notify_all();
    }
    const std::chrono::milliseconds wait = failing_ ? settings_.min_refetch : settings_.refresh;
    const Settings before = settings_;
    wake_.wait_for(lock, wait,
                   [&] { return stop_ || wake_requested_ || before.refresh != settings_.refresh; });
    wake_requested_ = false;
  }
}

void UrlKeySource::fetch() {
  fetches_.fetch_add(1);
  std::chrono::milliseconds timeout;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    timeout = settings_.timeout;
  }
  const http::HttpPostResult r = http::httpGet(url_, MaxJwksBytes, timeout, time_, &stop_);
  if (stop_) return;
  std::string error;
  KeySet set;
  if (!r.error.empty()) {
    error = r.error;
  } else if (!r.ok()) {
    error = "status " + std::to_string(r.status);
  } else if (!r.complete) {
    error = "the body did not arrive whole (at most 1 MiB)";
  } else if (r.body != last_body_ && !parseJwks(r.body, set, error)) {
    error = "not a usable JWKS: " + error;
  }
  if (!error.empty()) {
    failures_.Increment();
    if (!failing_) {
      SY_LOG(Warn,
             "jwt_authn: provider %s: fetching the JWKS from %s failed (%s); keeping the last "
             "good keys (%s), retrying; logged once until it recovers",
             provider_.c_str(), url_.text.c_str(), error.c_str(),
             keys_.load() ? "some" : "none yet");
      failing_ = true;
    }
    return;
  }
  if (failing_) {
    SY_LOG(Info, "jwt_authn: provider %s: the JWKS at %s is reachable again", provider_.c_str(),
           url_.text.c_str());
    failing_ = false;
  }
  if (r.body == last_body_) return;
  last_body_ = r.body;
  keys_.store(std::make_shared<const KeySet>(std::move(set)));
  generation_.fetch_add(1, std::memory_order_release);
}

}  // namespace switchyard::filters::jwt_authn
