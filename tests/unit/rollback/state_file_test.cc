#include "proxy/rollback/state_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>

#include "tests/unit/rollback/temp_dir.h"

namespace switchyard::rollback {
namespace {

TEST(StateFileTest, AtomicWriteReplacesTheFileAndLeavesNoTemporary) {
  test::TempDir dir;
  const std::string path = dir.path() + "/rollback.json";
  ASSERT_EQ(writeFileAtomically(path, "{\"a\":1}"), "");
  ASSERT_EQ(writeFileAtomically(path, "{\"a\":2}"), "");
  std::string text;
  std::string error;
  ASSERT_EQ(readWholeFile(path, text, error), ReadResult::Ok);
  EXPECT_EQ(text, "{\"a\":2}");
  EXPECT_EQ(dir.entries(), std::set<std::string>{"rollback.json"});
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(StateFileTest, FailedWriteLeavesTheOldFile) {
  test::TempDir dir;
  EXPECT_NE(writeFileAtomically(dir.path() + "/missing/rollback.json", "x"), "");
  // Renaming a file over a directory fails after the temporary file was written.
  const std::string path = dir.path() + "/taken";
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  std::string error = writeFileAtomically(path, "x");
  EXPECT_NE(error.find("rename"), std::string::npos) << error;
  EXPECT_EQ(dir.entries(), std::set<std::string>{"taken"});
}

TEST(StateFileTest, ReadReportsMissingAndUnreadable) {
  test::TempDir dir;
  std::string text;
  std::string error;
  EXPECT_EQ(readWholeFile(dir.path() + "/none", text, error), ReadResult::Missing);
  EXPECT_EQ(readWholeFile(dir.path(), text, error), ReadResult::Failed);  // a directory
  EXPECT_FALSE(error.empty());
}

TEST(StateFileTest, MoveAsideKeepsEveryBadFile) {
  test::TempDir dir;
  const std::string path = dir.path() + "/rollback.json";
  const common::SystemTime t{std::chrono::seconds(1787392800)};  // 2026-08-22T10:00:00Z
  std::string error;
  ASSERT_EQ(writeFileAtomically(path, "bad 1"), "");
  EXPECT_EQ(moveAside(path, t, error), path + ".corrupt-20260822T100000Z");
  ASSERT_EQ(writeFileAtomically(path, "bad 2"), "");
  EXPECT_EQ(moveAside(path, t, error), path + ".corrupt-20260822T100000Z-1");
  EXPECT_EQ(moveAside(path, t, error), "");
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(dir.entries(), (std::set<std::string>{"rollback.json.corrupt-20260822T100000Z",
                                                  "rollback.json.corrupt-20260822T100000Z-1"}));
}

}  // namespace
}  // namespace switchyard::rollback
