#include <gtest/gtest.h>

#include "state/path.h"

using conclave::state::valid_path;

TEST(Path, MatchesZooKeeperValidatePath) {
  struct Case {
    const char* path;
    bool sequential;
    bool valid;
  } cases[] = {
      {"/", false, true},
      {"/a", false, true},
      {"/a/b/c", false, true},
      {"", false, false},
      {"a", false, false},
      {"/a/", false, false},
      {"/a/", true, true},  // sequential prefix: validated as "/a/1"
      {"//", false, false},
      {"/a//b", false, false},
      {"/.", false, false},
      {"/..", false, false},
      {"/a/./b", false, false},
      {"/a/../b", false, false},
      {"/a.b", false, true},
      {"/..a", false, true},
      {"/a..", false, true},
      {"/.zookeeper", false, true},
      {"/a\x01", false, false},
      {"/a\x7f", false, false},
      {"/caf\xc3\xa9", false, true},          // é is fine
      {"/\xc2\x80", false, false},            // U+0080 is a control character
      {"/\xef\xbf\xb0", false, false},        // U+FFF0
      {"/\xf0\x9f\x98\x80", false, false},    // emoji: a surrogate pair in Java
      {"/\xff", false, false},                // malformed UTF-8
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    EXPECT_EQ(valid_path(c.path, c.sequential), c.valid);
  }
  EXPECT_FALSE(valid_path(std::string("/a\0b", 4)));
}

TEST(Path, Helpers) {
  using namespace conclave::state;
  EXPECT_EQ(parent_of("/a/b"), "/a");
  EXPECT_EQ(parent_of("/a"), "/");
  EXPECT_EQ(parent_of("/"), "");
  EXPECT_EQ(basename_of("/a/b"), "b");
  EXPECT_EQ(child_path("/", "x"), "/x");
  EXPECT_EQ(child_path("/a", "x"), "/a/x");
}
