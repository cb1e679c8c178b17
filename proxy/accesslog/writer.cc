#include "proxy/accesslog/writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "proxy/common/logging.h"

namespace switchyard::accesslog {
namespace {

prometheus::Family<prometheus::Counter>& droppedFamily(prometheus::Registry& registry) {
  return prometheus::BuildCounter()
      .Name("switchyard_access_log_dropped_total")
      .Help("Access-log lines lost, by reason (queue_full, write_failed, shutdown)")
      .Register(registry);
}

}  // namespace

int openLogFile(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

std::unique_ptr<AccessLogWriter> AccessLogWriter::open(const AccessLogConfig& config,
                                                       prometheus::Registry& registry,
                                                       std::string& error) {
  int fd = STDOUT_FILENO;
  if (!config.toStdout()) {
    fd = openLogFile(config.path);
    if (fd < 0) {
      error = "cannot open " + config.path + ": " + std::strerror(errno);
      return nullptr;
    }
  }
  return std::unique_ptr<AccessLogWriter>(new AccessLogWriter(config, fd, registry));
}

AccessLogWriter::AccessLogWriter(const AccessLogConfig& config, int fd,
                                 prometheus::Registry& registry)
    : config_(config),
      fd_(fd),
      dropped_queue_full_(droppedFamily(registry).Add({{"reason", "queue_full"}})),
      dropped_write_failed_(droppedFamily(registry).Add({{"reason", "write_failed"}})),
      dropped_shutdown_(droppedFamily(registry).Add({{"reason", "shutdown"}})),
      thread_([this] { run(); }) {}

AccessLogWriter::~AccessLogWriter() {
  shutdown();
  if (!config_.toStdout() && fd_ >= 0) ::close(fd_);
}

bool AccessLogWriter::write(std::string line) {
  prometheus::Counter* dropped = nullptr;
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) {
      dropped = &dropped_shutdown_;
    } else if (queue_.size() >= config_.max_queue_lines) {
      dropped = &dropped_queue_full_;
    } else {
      // A non-empty queue means the writer has already been woken and will see this line.
      wake = queue_.empty();
      queue_.push_back(std::move(line));
      ++queued_seq_;
    }
  }
  if (dropped != nullptr) {
    dropped->Increment();
    return false;
  }
  if (wake) wake_.notify_one();
  return true;
}

void AccessLogWriter::reopen() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!reopen_pending_) reopen_index_ = queue_.size();
    reopen_pending_ = true;
  }
  wake_.notify_one();
}

bool AccessLogWriter::flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t target = queued_seq_;
  return written_.wait_for(lock, timeout, [&] { return written_seq_ >= target; });
}

void AccessLogWriter::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void AccessLogWriter::run() {
  std::vector<std::string> lines;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || reopen_pending_ || !queue_.empty(); });
    lines.swap(queue_);
    const bool reopen = std::exchange(reopen_pending_, false);
    const size_t reopen_at = reopen ? reopen_index_ : lines.size();
    const uint64_t handled = queued_seq_;
    const bool stop = stopping_;
    lock.unlock();

    writeLines(lines, 0, reopen_at);
    if (reopen) {
      reopenFile();
      writeLines(lines, reopen_at, lines.size());
    }
    // Keeps the buffer's capacity for the next swap.
    lines.clear();

    lock.lock();
    written_seq_ = handled;
    written_.notify_all();
    if (stop && queue_.empty()) break;
  }
}

void AccessLogWriter::writeLines(const std::vector<std::string>& lines, size_t begin, size_t end) {
  if (begin >= end) return;
  size_t bytes = 0;
  for (size_t i = begin; i < end; ++i) bytes += lines[i].size() + 1;
  std::string buffer;
  buffer.reserve(bytes);
  for (size_t i = begin; i < end; ++i) {
    buffer += lines[i];
    buffer += '\n';
  }
  size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t n = ::write(fd_, buffer.data() + done, buffer.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int err = n < 0 ? errno : EIO;
    // Count the lines that did not make it whole (a line cut in the middle counts as lost).
    size_t lost = 0;
    size_t offset = 0;
    for (size_t i = begin; i < end; ++i) {
      offset += lines[i].size() + 1;
      if (offset > done) ++lost;
    }
    dropped_write_failed_.Increment(static_cast<double>(lost));
    if (!write_failing_) {
      SY_LOG(Error, "access log: writing to %s failed: %s; lines are dropped until it works",
             config_.path.c_str(), std::strerror(err));
    }
    write_failing_ = true;
    return;
  }
  if (write_failing_) {
    SY_LOG(Info, "access log: writing to %s works again", config_.path.c_str());
    write_failing_ = false;
  }
}

void AccessLogWriter::reopenFile() {
  if (config_.toStdout()) return;
  const int fd = openLogFile(config_.path);
  if (fd < 0) {
    SY_LOG(Error, "access log: cannot reopen %s: %s; still writing to the previous file",
           config_.path.c_str(), std::strerror(errno));
    return;
  }
  ::close(fd_);
  fd_ = fd;
}

}  // namespace switchyard::accesslog
