#include "proxy/accesslog/writer.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace switchyard::accesslog {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds Patience{5000};

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

double dropped(prometheus::Registry& registry, const std::string& reason) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != "switchyard_access_log_dropped_total") continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      for (const prometheus::ClientMetric::Label& l : metric.label) {
        if (l.name == "reason" && l.value == reason) return metric.counter.value;
      }
    }
  }
  return -1;
}

class AccessLogWriterTest : public testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/switchyard-accesslog-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    path_ = dir_ + "/access.log";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<AccessLogWriter> open(uint32_t max_queue_lines = 10000) {
    AccessLogConfig config;
    config.enabled = true;
    config.path = path_;
    config.max_queue_lines = max_queue_lines;
    std::string error;
    std::unique_ptr<AccessLogWriter> writer = AccessLogWriter::open(config, registry_, error);
    EXPECT_TRUE(writer) << error;
    return writer;
  }

  std::string dir_;
  std::string path_;
  prometheus::Registry registry_;
};

TEST_F(AccessLogWriterTest, WritesLinesInOrder) {
  auto writer = open();
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    const std::string line = "{\"n\":" + std::to_string(i) + "}";
    EXPECT_TRUE(writer->write(line));
    expected += line + "\n";
  }
  ASSERT_TRUE(writer->flush(Patience));
  EXPECT_EQ(readFile(path_), expected);
  EXPECT_EQ(dropped(registry_, "queue_full"), 0);
}

TEST_F(AccessLogWriterTest, AppendsToAnExistingFile) {
  std::ofstream(path_) << "earlier\n";
  auto writer = open();
  writer->write("later");
  ASSERT_TRUE(writer->flush(Patience));
  EXPECT_EQ(readFile(path_), "earlier\nlater\n");
}

TEST_F(AccessLogWriterTest, CreatesTheFileWithMode0644) {
  const mode_t old_mask = ::umask(022);
  auto writer = open();
  ::umask(old_mask);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(AccessLogWriterTest, ReopenAfterRenameStartsANewFile) {
  auto writer = open();
  writer->write("a");
  ASSERT_TRUE(writer->flush(Patience));
  std::filesystem::rename(path_, path_ + ".1");
  // Until reopen() the writer keeps appending to the renamed file, as logrotate expects.
  writer->write("b");
  ASSERT_TRUE(writer->flush(Patience));
  writer->reopen();
  writer->write("c");
  ASSERT_TRUE(writer->flush(Patience));
  EXPECT_EQ(readFile(path_ + ".1"), "a\nb\n");
  EXPECT_EQ(readFile(path_), "c\n");
}

TEST_F(AccessLogWriterTest, ReopenSplitsQueuedLinesWhereItWasCalled) {
  auto writer = open();
  std::filesystem::rename(path_, path_ + ".1");
  // No flush in between: whenever the thread runs, lines before reopen() go to the old file.
  for (int i = 0; i < 50; ++i) writer->write("old" + std::to_string(i));
  writer->reopen();
  for (int i = 0; i < 50; ++i) writer->write("new" + std::to_string(i));
  ASSERT_TRUE(writer->flush(Patience));
  std::string old_lines;
  std::string new_lines;
  for (int i = 0; i < 50; ++i) {
    old_lines += "old" + std::to_string(i) + "\n";
    new_lines += "new" + std::to_string(i) + "\n";
  }
  EXPECT_EQ(readFile(path_ + ".1"), old_lines);
  EXPECT_EQ(readFile(path_), new_lines);
}

TEST_F(AccessLogWriterTest, FailedReopenKeepsTheOldFile) {
  auto writer = open();
  std::filesystem::rename(path_, path_ + ".1");
  std::filesystem::create_directory(path_);  // open(2) for writing fails, even for root
  writer->reopen();
  writer->write("still here");
  ASSERT_TRUE(writer->flush(Patience));
  EXPECT_EQ(readFile(path_ + ".1"), "still here\n");
}

TEST_F(AccessLogWriterTest, ShutdownWritesWhatIsQueued) {
  {
    auto writer = open();
    for (int i = 0; i < 1000; ++i) writer->write("line" + std::to_string(i));
  }
  const std::string content = readFile(path_);
  EXPECT_EQ(std::count(content.begin(), content.end(), '\n'), 1000);
  EXPECT_EQ(content.substr(content.size() - 8), "line999\n");
}

TEST_F(AccessLogWriterTest, WriteAfterShutdownIsDroppedAndCounted) {
  auto writer = open();
  writer->shutdown();
  writer->shutdown();
  EXPECT_FALSE(writer->write("late"));
  EXPECT_EQ(dropped(registry_, "shutdown"), 1);
  EXPECT_EQ(readFile(path_), "");
}

TEST_F(AccessLogWriterTest, CannotOpen) {
  AccessLogConfig config;
  config.path = dir_ + "/missing/access.log";
  std::string error;
  EXPECT_FALSE(AccessLogWriter::open(config, registry_, error));
  EXPECT_EQ(error, "cannot open " + config.path + ": No such file or directory");
}

TEST_F(AccessLogWriterTest, LinesFromManyThreadsStayWhole) {
  auto writer = open();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&writer, t] {
      for (int i = 0; i < 1000; ++i) {
        writer->write("t" + std::to_string(t) + "-" + std::to_string(i) + std::string(50, 'x'));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(writer->flush(Patience));
  std::istringstream in(readFile(path_));
  std::string line;
  std::vector<int> next(4, 0);
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    ASSERT_EQ(line[0], 't') << line;
    const int t = line[1] - '0';
    const size_t dash = line.find('-');
    // Each thread's lines appear in the order it wrote them.
    EXPECT_EQ(std::stoi(line.substr(dash + 1)), next[t]++) << line;
    EXPECT_EQ(line.substr(line.size() - 50), std::string(50, 'x'));
  }
  EXPECT_EQ(lines, 4000);
}

// The log is a FIFO nobody reads: the writer thread blocks in write(2), the queue fills, and
// write() must drop instead of waiting.
TEST_F(AccessLogWriterTest, FullQueueDropsInsteadOfBlocking) {
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  const int reader = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  auto writer = open(10);

  const std::string big(100 * 1024, 'x');  // larger than a pipe's buffer
  const Clock::time_point before = Clock::now();
  int accepted = 0;
  for (int i = 0; i < 50; ++i) accepted += writer->write(big);
  EXPECT_LT(Clock::now() - before, milliseconds(500));
  EXPECT_GE(accepted, 10);
  EXPECT_LT(accepted, 50);
  EXPECT_EQ(dropped(registry_, "queue_full"), 50 - accepted);

  // Drain the pipe until every accepted line has come through.
  size_t newlines = 0;
  std::vector<char> buf(64 * 1024);
  const Clock::time_point deadline = Clock::now() + Patience;
  while (newlines < static_cast<size_t>(accepted) && Clock::now() < deadline) {
    pollfd p{reader, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = ::read(reader, buf.data(), buf.size());
    if (n <= 0) continue;
    newlines += static_cast<size_t>(std::count(buf.begin(), buf.begin() + n, '\n'));
  }
  EXPECT_EQ(newlines, static_cast<size_t>(accepted));
  EXPECT_TRUE(writer->flush(Patience));
  writer.reset();
  ::close(reader);
}

TEST_F(AccessLogWriterTest, StandardOutput) {
  // Point fd 1 at a file for the duration of the test.
  const int saved = ::dup(STDOUT_FILENO);
  ASSERT_GE(saved, 0);
  const int file = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(file, 0);
  ::fflush(stdout);
  ASSERT_EQ(::dup2(file, STDOUT_FILENO), STDOUT_FILENO);
  {
    AccessLogConfig config;
    config.path = "-";
    std::string error;
    auto writer = AccessLogWriter::open(config, registry_, error);
    ASSERT_TRUE(writer) << error;
    writer->write("to stdout");
    writer->reopen();  // nothing to reopen
    writer->write("still stdout");
  }
  // The writer must not have closed standard output.
  const bool still_open = ::fcntl(STDOUT_FILENO, F_GETFD) != -1;
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  ::close(file);
  EXPECT_TRUE(still_open);
  EXPECT_EQ(readFile(path_), "to stdout\nstill stdout\n");
}

}  // namespace
}  // namespace switchyard::accesslog
