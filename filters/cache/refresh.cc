#include "filters/cache/refresh.h"

#include "proxy/common/logging.h"

namespace switchyard::filters::cache {

const char* refreshResultName(Refresh::Result result) {
  switch (result) {
    case Refresh::Result::Stored:
      return "stored";
    case Refresh::Result::Uncacheable:
      return "uncacheable";
    case Refresh::Result::Failed:
      return "failed";
  }
  return "failed";
}

Refresh::Refresh(RefreshSet& owner, RefreshJob job, std::shared_ptr<upstream::ConnPool> pool,
                 event::Dispatcher& dispatcher, const common::TimeSource& time)
    : owner_(owner),
      job_(std::move(job)),
      pool_(std::move(pool)),
      dispatcher_(dispatcher),
      time_(time) {}

Refresh::~Refresh() {
  // Destroyed before it finished (worker stop): withdraw, close, and free the key.
  if (pending_ != nullptr) pending_->cancel();
  pending_ = nullptr;
  if (conn_ != nullptr) pool_->release(*conn_, false);
  conn_ = nullptr;
  if (!finished_)
    job_.coalescer->finish(job_.primary, CoalesceOutcome::Failed, time_.monotonicNow());
}

void Refresh::start() {
  timer_ = dispatcher_.createTimer([this] {
    SY_LOG(Debug, "cache: background refresh of %s timed out", job_.request->path.c_str());
    finish(Result::Failed, false);
  });
  timer_->enable(job_.timeout);
  sent_at_ = time_.systemNow();
  pending_ = pool_->newStream(*this, upstream::NoEndpoint);
}

void Refresh::onPoolReady(upstream::UpstreamConnection& conn) {
  pending_ = nullptr;
  conn_ = &conn;
  conn.attach(*this);
  conn.setExpectNoBody(false);
  conn.sendHead(*job_.request);
}

void Refresh::onPoolFailure(upstream::PoolFailure, const std::string& detail, size_t) {
  pending_ = nullptr;
  pool_->stats().requests.get(0).Increment();
  SY_LOG(Debug, "cache: background refresh of %s: %s", job_.request->path.c_str(), detail.c_str());
  finish(Result::Failed, false);
}

std::shared_ptr<CachedResponse> Refresh::entryFor(const http::ResponseHeaders& response,
                                                  std::string& secondary) const {
  static const RequestCacheControl NoDirectives;
  EntryContext ctx(job_.request->headers, NoDirectives);
  ctx.request_time = sent_at_;
  ctx.now = time_.systemNow();
  ctx.monotonic_now = time_.monotonicNow();
  ctx.max_object_bytes = job_.max_object_bytes;
  ctx.tag_header = job_.tag_header;
  ctx.stale_defaults = job_.stale_defaults;
  ctx.heuristic = job_.heuristic;
  ctx.route_ttl = job_.route_ttl;
  return makeEntry(response, ctx, secondary);
}

bool Refresh::insert(std::shared_ptr<CachedResponse> entry, const std::string& secondary) {
  if (job_.tier != nullptr && entry->body.size() <= job_.redis_max_object_bytes) {
    // Kept there as long as it may serve: its freshness left and the longer stale window.
    const std::chrono::seconds usable =
        entry->freshness_lifetime - entry->initial_age +
        std::max(entry->stale_while_revalidate, entry->stale_if_error);
    if (usable > std::chrono::seconds(0)) {
      job_.tier->store(job_.primary, secondary, *entry,
                       std::chrono::duration_cast<std::chrono::milliseconds>(usable), [](bool) {});
    }
  }
  const InsertStatus inserted =
      job_.store->insert(job_.primary, secondary, job_.path, std::move(entry));
  publishStoreStats(*job_.store, *job_.metrics, job_.reported_evictions.get());
  return inserted == InsertStatus::Stored || inserted == InsertStatus::Replaced;
}

void Refresh::onResponseHeaders(http::ResponseHeadersPtr headers, bool end_stream) {
  keep_alive_ = headers->keep_alive;
  pool_->stats().requests.get(headers->status).Increment();
  if (headers->status == 304) {
    // Still good: the stored response with the 304's fields and a new freshness.
    const http::ResponseHeadersPtr merged =
        mergeNotModified(*job_.stale, *headers, job_.tag_header);
    std::string secondary;
    std::shared_ptr<CachedResponse> entry = entryFor(*merged, secondary);
    Result result = Result::Uncacheable;
    if (entry != nullptr) {
      entry->body = job_.stale->body;
      if (insert(std::move(entry), secondary)) result = Result::Stored;
    }
    result_ = result;
  } else if (headers->status >= 500) {
    result_ = Result::Failed;  // the stale entry stays, for stale-if-error too
  } else {
    storing_ = entryFor(*headers, storing_secondary_);
    result_ = storing_ != nullptr ? Result::Stored : Result::Uncacheable;
  }
  if (end_stream) {
    if (storing_ != nullptr && !insert(std::move(storing_), storing_secondary_)) {
      result_ = Result::Uncacheable;
    }
    finish(result_, keep_alive_);
  }
}

void Refresh::onBody(http::Buffer& data, bool end_stream) {
  if (storing_ != nullptr) {
    if (storing_->body.size() + data.length() > job_.max_object_bytes) {
      storing_.reset();
      result_ = Result::Uncacheable;
    } else {
      storing_->body.append(data.toString());
    }
  }
  data.drain(data.length());
  if (!end_stream) return;
  if (storing_ != nullptr && !insert(std::move(storing_), storing_secondary_)) {
    result_ = Result::Uncacheable;
  }
  finish(result_, keep_alive_);
}

void Refresh::onCodecError(const http::CodecError& error) {
  SY_LOG(Debug, "cache: background refresh of %s: %s", job_.request->path.c_str(),
         error.detail.c_str());
  finish(Result::Failed, false);
}

void Refresh::onUpstreamReset(event::CloseReason) {
  conn_ = nullptr;  // the pool has closed it
  finish(Result::Failed, false);
}

void Refresh::finish(Result result, bool reusable) {
  if (finished_) return;
  finished_ = true;
  if (timer_ != nullptr) timer_->disable();
  if (pending_ != nullptr) pending_->cancel();
  pending_ = nullptr;
  upstream::UpstreamConnection* conn = conn_;
  conn_ = nullptr;
  if (conn != nullptr) pool_->release(*conn, reusable);
  const CoalesceOutcome outcome = result == Result::Stored        ? CoalesceOutcome::Stored
                                  : result == Result::Uncacheable ? CoalesceOutcome::Uncacheable
                                                                  : CoalesceOutcome::Failed;
  job_.coalescer->finish(job_.primary, outcome, time_.monotonicNow());
  job_.metrics->refreshes.Add({{"result", refreshResultName(result)}}).Increment();
  owner_.done(this);
}

RefreshSet::~RefreshSet() {
  // Each destructor withdraws its request and frees its key.
  refreshes_.clear();
}

void RefreshSet::start(RefreshJob job, std::shared_ptr<upstream::ConnPool> pool,
                       const common::TimeSource& time) {
  refreshes_.push_back(
      std::make_unique<Refresh>(*this, std::move(job), std::move(pool), dispatcher_, time));
  // start() may finish at once (the pool failing synchronously), which removes it.
  refreshes_.back()->start();
}

void RefreshSet::done(Refresh* refresh) {
  for (auto it = refreshes_.begin(); it != refreshes_.end(); ++it) {
    if (it->get() != refresh) continue;
    // Freed after the current callback, which is still inside it.
    dispatcher_.deferredDelete(std::move(*it));
    refreshes_.erase(it);
    return;
  }
}

}  // namespace switchyard::filters::cache
