#include <gtest/gtest.h>

#include "common/testing/temp_dir.h"
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "storage/object_store.h"

namespace quarry {
namespace {

namespace fs = std::filesystem;

class LocalObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_ / "root";
    outside_ = dir_ / "outside";
    fs::create_directories(outside_);
    auto store = OpenLocalObjectStore(root_.string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
  }

  static void WriteFile(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << text;
  }

  // Every file name under the root (to check that no temporary files are left behind).
  std::vector<std::string> FilesOnDisk() {
    std::vector<std::string> names;
    for (const auto& entry : fs::recursive_directory_iterator(root_)) {
      if (!entry.is_directory()) names.push_back(entry.path().filename().string());
    }
    return names;
  }

  std::vector<std::string> List(const std::string& prefix, std::size_t limit = 1000) {
    auto keys = store_->List(prefix, limit);
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    return keys.ok() ? *keys : std::vector<std::string>{};
  }

  testing::TempDir temp_{"storage"};
  const std::filesystem::path dir_ = temp_.path();
  fs::path root_;
  fs::path outside_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(LocalObjectStoreTest, PutGetExistsDeleteRoundTrip) {
  const std::string key = "tenants/ten_x/datasets/ds_y/v1/part-0.parquet";
  auto before = store_->Exists(key);
  ASSERT_TRUE(before.ok());
  EXPECT_FALSE(*before);

  ASSERT_TRUE(store_->Put(key, "hello").ok());
  auto exists = store_->Exists(key);
  ASSERT_TRUE(exists.ok());
  EXPECT_TRUE(*exists);
  auto got = store_->Get(key);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "hello");
  EXPECT_TRUE(fs::is_regular_file(root_ / key));

  ASSERT_TRUE(store_->Delete(key).ok());
  exists = store_->Exists(key);
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(*exists);
  auto gone = store_->Get(key);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().category(), ErrorCode::kNotFound);
  EXPECT_EQ(gone.status().code(), "object_not_found");
}

TEST_F(LocalObjectStoreTest, PutOverwritesAtomicallyAndLeavesNoTemporaryFiles) {
  ASSERT_TRUE(store_->Put("a/b", "first version").ok());
  ASSERT_TRUE(store_->Put("a/b", "v2").ok());
  auto got = store_->Get("a/b");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "v2");
  EXPECT_EQ(FilesOnDisk(), (std::vector<std::string>{"b"}));
}

TEST_F(LocalObjectStoreTest, BinaryAndEmptyContent) {
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  binary += std::string("\0\0\r\n\0", 5);
  ASSERT_TRUE(store_->Put("bin", binary).ok());
  auto got = store_->Get("bin");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, binary);

  ASSERT_TRUE(store_->Put("empty", "").ok());
  auto empty = store_->Get("empty");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
  auto exists = store_->Exists("empty");
  ASSERT_TRUE(exists.ok());
  EXPECT_TRUE(*exists);
}

TEST_F(LocalObjectStoreTest, MissingObjects) {
  auto got = store_->Get("no/such/key");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), "object_not_found");
  // Errors name the key, never the host path.
  EXPECT_NE(got.status().message().find("no/such/key"), std::string::npos);
  EXPECT_EQ(got.status().message().find(root_.string()), std::string::npos);
  // Deleting a missing key is fine.
  EXPECT_TRUE(store_->Delete("no/such/key").ok());
  EXPECT_TRUE(store_->Delete("nothing").ok());
  // A missing parent is not an error for Exists.
  ASSERT_TRUE(store_->Put("file", "x").ok());
  auto under_file = store_->Exists("file/child");
  ASSERT_TRUE(under_file.ok()) << under_file.status().ToString();
  EXPECT_FALSE(*under_file);
}

TEST_F(LocalObjectStoreTest, DirectoryIsNotAnObject) {
  ASSERT_TRUE(store_->Put("dir/object", "x").ok());
  auto exists = store_->Exists("dir");
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(*exists);
  auto got = store_->Get("dir");
  EXPECT_FALSE(got.ok()) << "a directory read as an object: '" << (got.ok() ? *got : "") << "'";
  EXPECT_EQ(got.status().code(), "object_not_found");
  EXPECT_EQ(List(""), (std::vector<std::string>{"dir/object"}));
}

TEST_F(LocalObjectStoreTest, ListIsSortedRecursiveAndLimited) {
  for (const std::string key : {"b/2", "a/3", "c", "a/1", "a/sub/0", "ab/x"}) {
    ASSERT_TRUE(store_->Put(key, key).ok()) << key;
  }
  EXPECT_EQ(List(""), (std::vector<std::string>{"a/1", "a/3", "a/sub/0", "ab/x", "b/2", "c"}));
  EXPECT_EQ(List("a/"), (std::vector<std::string>{"a/1", "a/3", "a/sub/0"}));  // not "ab/x"
  EXPECT_EQ(List("a/sub/"), (std::vector<std::string>{"a/sub/0"}));
  EXPECT_EQ(List("", 2), (std::vector<std::string>{"a/1", "a/3"}));
  EXPECT_EQ(List("a/", 1), (std::vector<std::string>{"a/1"}));
  EXPECT_TRUE(List("", 0).empty());
  EXPECT_TRUE(List("nothing/here/").empty());
}

TEST_F(LocalObjectStoreTest, ListSkipsTemporaryFiles) {
  ASSERT_TRUE(store_->Put("d/real", "x").ok());
  WriteFile(root_ / "d" / ".tmp-abc123", "partial");
  WriteFile(root_ / ".tmp-top", "partial");
  EXPECT_EQ(List(""), (std::vector<std::string>{"d/real"}));
  EXPECT_EQ(List("d/"), (std::vector<std::string>{"d/real"}));
}

TEST_F(LocalObjectStoreTest, ListRejectsInvalidPrefixes) {
  for (const std::string prefix : {"a", "../", "/", "a//", "./", "/a/"}) {
    auto keys = store_->List(prefix, 10);
    ASSERT_FALSE(keys.ok()) << "'" << prefix << "'";
    EXPECT_EQ(keys.status().code(), "invalid_object_key");
  }
}

TEST_F(LocalObjectStoreTest, ValidateObjectKey) {
  struct Case {
    std::string what;
    std::string key;
    bool valid;
  };
  const std::vector<Case> cases = {
      {"simple", "a", true},
      {"nested", "tenants/ten_x/ds/v1/part-0.parquet", true},
      {"dot file", ".hidden", true},
      {"dots inside a name", "a..b/..c/d..", true},
      {"space and unicode", "a b/caf\xc3\xa9", true},
      {"1024 bytes", std::string(1024, 'k'), true},
      {"empty", "", false},
      {"1025 bytes", std::string(1025, 'k'), false},
      {"dot-dot", "..", false},
      {"dot-dot segment", "a/../b", false},
      {"leading dot-dot", "../etc/passwd", false},
      {"trailing dot-dot", "a/..", false},
      {"dot", ".", false},
      {"dot segment", "a/./b", false},
      {"empty segment", "a//b", false},
      {"trailing slash", "a/", false},
      {"leading slash", "/a", false},
      {"only a slash", "/", false},
      {"backslash", "a\\b", false},
      {"backslash dot-dot", "..\\x", false},
      {"NUL", std::string("a\0b", 3), false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    Status s = ValidateObjectKey(c.key);
    EXPECT_EQ(s.ok(), c.valid) << s.ToString();
    if (!c.valid) {
      EXPECT_EQ(s.code(), "invalid_object_key");
      EXPECT_EQ(s.category(), ErrorCode::kInvalidArgument);
      // Every operation refuses the key the same way.
      EXPECT_EQ(store_->Put(c.key, "x").code(), "invalid_object_key");
      EXPECT_EQ(store_->Get(c.key).status().code(), "invalid_object_key");
      EXPECT_EQ(store_->Exists(c.key).status().code(), "invalid_object_key");
      EXPECT_EQ(store_->Delete(c.key).code(), "invalid_object_key");
    }
  }
  // Nothing escaped the root.
  EXPECT_TRUE(fs::is_empty(outside_));
  EXPECT_FALSE(fs::exists(dir_ / "b"));
}

TEST_F(LocalObjectStoreTest, SymlinkToOutsideFileIsNeitherListedNorExists) {
  WriteFile(outside_ / "secret", "top secret");
  ASSERT_TRUE(store_->Put("data/real", "x").ok());
  fs::create_symlink(outside_ / "secret", root_ / "data" / "link");

  EXPECT_EQ(List(""), (std::vector<std::string>{"data/real"}));
  EXPECT_EQ(List("data/"), (std::vector<std::string>{"data/real"}));
  auto exists = store_->Exists("data/link");
  ASSERT_TRUE(exists.ok()) << exists.status().ToString();
  EXPECT_FALSE(*exists);
  auto got = store_->Get("data/link");
  EXPECT_FALSE(got.ok()) << "read through a symlink: '" << (got.ok() ? *got : "") << "'";
  EXPECT_EQ(got.status().code(), "object_not_found");
}

TEST_F(LocalObjectStoreTest, SymlinkToOutsideDirectoryIsNeitherListedNorExists) {
  WriteFile(outside_ / "secret", "top secret");
  ASSERT_TRUE(store_->Put("data/real", "x").ok());
  fs::create_symlink(outside_, root_ / "data" / "linkdir");

  EXPECT_EQ(List(""), (std::vector<std::string>{"data/real"}));
  EXPECT_EQ(List("data/"), (std::vector<std::string>{"data/real"}));
  for (const std::string key : {"data/linkdir", "data/linkdir/secret"}) {
    SCOPED_TRACE(key);
    auto exists = store_->Exists(key);
    ASSERT_TRUE(exists.ok()) << exists.status().ToString();
    EXPECT_FALSE(*exists);
  }
  for (const std::string key : {"data/linkdir", "data/linkdir/secret"}) {
    SCOPED_TRACE(key);
    auto got = store_->Get(key);
    EXPECT_FALSE(got.ok()) << "read through a symlink: '" << (got.ok() ? *got : "") << "'";
    EXPECT_EQ(got.status().code(), "object_not_found");
  }
}

TEST_F(LocalObjectStoreTest, ListingUnderASymlinkedDirectoryShowsNothing) {
  WriteFile(outside_ / "secret", "top secret");
  WriteFile(outside_ / "deeper" / "secret2", "top secret");
  ASSERT_TRUE(store_->Put("data/real", "x").ok());
  fs::create_symlink(outside_, root_ / "data" / "linkdir");
  EXPECT_TRUE(List("data/linkdir/").empty());
  EXPECT_TRUE(List("data/linkdir/deeper/").empty());
  EXPECT_EQ(List("data/"), (std::vector<std::string>{"data/real"}));
}

TEST_F(LocalObjectStoreTest, WritesAndDeletesNeverGoThroughASymlink) {
  WriteFile(outside_ / "secret", "top secret");
  fs::create_directories(root_ / "data");
  fs::create_symlink(outside_, root_ / "data" / "linkdir");
  fs::create_symlink(outside_ / "secret", root_ / "data" / "link");

  Status put = store_->Put("data/linkdir/planted", "x");
  EXPECT_FALSE(put.ok());
  EXPECT_EQ(put.code(), "storage_io_error");
  EXPECT_EQ(put.message().find(outside_.string()), std::string::npos) << put.message();
  EXPECT_FALSE(store_->Put("data/linkdir/new/deeper", "x").ok());

  // Deleting through the link, or the link itself, leaves the outside file alone.
  EXPECT_TRUE(store_->Delete("data/linkdir/secret").ok());
  EXPECT_TRUE(store_->Delete("data/link").ok());

  EXPECT_TRUE(fs::exists(outside_ / "secret"));
  EXPECT_FALSE(fs::exists(outside_ / "planted"));
  EXPECT_FALSE(fs::exists(outside_ / "new"));
  std::ifstream in(outside_ / "secret");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "top secret");

  // Replacing the symlink itself by an object (same key) is an ordinary write inside the root.
  ASSERT_TRUE(store_->Put("data/link", "mine").ok());
  auto got = store_->Get("data/link");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "mine");
  EXPECT_TRUE(fs::exists(outside_ / "secret"));
}

TEST_F(LocalObjectStoreTest, DeletingADirectoryKeyDeletesNothing) {
  ASSERT_TRUE(store_->Put("dir/object", "x").ok());
  EXPECT_TRUE(store_->Delete("dir").ok());
  auto exists = store_->Exists("dir/object");
  ASSERT_TRUE(exists.ok());
  EXPECT_TRUE(*exists);
}

TEST_F(LocalObjectStoreTest, PutFileMovesALocalFileIntoPlace) {
  const fs::path local = dir_ / "scratch" / "part.parquet";
  WriteFile(local, "PAR1...PAR1");
  ASSERT_TRUE(store_->PutFile("tenants/t/datasets/d/v1/data.parquet", local.string()).ok());
  EXPECT_FALSE(fs::exists(local)) << "moved, not copied";
  EXPECT_EQ(store_->Get("tenants/t/datasets/d/v1/data.parquet").value(), "PAR1...PAR1");
  auto location = store_->ReadLocation("tenants/t/datasets/d/v1/data.parquet");
  ASSERT_TRUE(location.ok());
  EXPECT_EQ(fs::path(*location), root_ / "tenants/t/datasets/d/v1/data.parquet");
  EXPECT_EQ(store_->ReadLocation("tenants/t/none").status().code(), "object_not_found");
  EXPECT_EQ(store_->PutFile("../escape", local.string()).code(), "invalid_object_key");
}

TEST_F(LocalObjectStoreTest, DeletePrefixRemovesEverythingBelowAndNothingElse) {
  ASSERT_TRUE(store_->Put("tenants/t/datasets/d/v1/a", "1").ok());
  ASSERT_TRUE(store_->Put("tenants/t/datasets/d/v2/b", "2").ok());
  ASSERT_TRUE(store_->Put("tenants/t/datasets/e/v1/c", "3").ok());
  ASSERT_TRUE(store_->DeletePrefix("tenants/t/datasets/d/").ok());
  EXPECT_EQ(store_->List("", 100).value(), (std::vector<std::string>{"tenants/t/datasets/e/v1/c"}));
  EXPECT_TRUE(store_->DeletePrefix("tenants/t/datasets/missing/").ok());
  EXPECT_EQ(store_->DeletePrefix("tenants/t").code(), "invalid_object_key");
  EXPECT_EQ(store_->DeletePrefix("../").code(), "invalid_object_key");
  // A symbolic link planted in the tree is removed, never followed.
  WriteFile(outside_ / "keep", "x");
  fs::create_directories(root_ / "tenants/t/datasets/f");
  fs::create_directory_symlink(outside_, root_ / "tenants/t/datasets/f/v1");
  ASSERT_TRUE(store_->DeletePrefix("tenants/t/datasets/f/").ok());
  EXPECT_TRUE(fs::exists(outside_ / "keep"));
}

TEST_F(LocalObjectStoreTest, CheckWritable) {
  ASSERT_TRUE(store_->CheckWritable().ok());
  // The probe is cleaned up and never shows as an object.
  EXPECT_TRUE(List("").empty());
  auto probe = store_->Exists(".readyz/probe");
  ASSERT_TRUE(probe.ok());
  EXPECT_FALSE(*probe);
  // Repeatable.
  EXPECT_TRUE(store_->CheckWritable().ok());
}

TEST_F(LocalObjectStoreTest, CheckWritableFailsWhenTheRootIsGone) {
  // Replace the root directory by a regular file: nothing can be created under it (even as root).
  fs::remove_all(root_);
  WriteFile(root_, "not a directory");
  Status s = store_->CheckWritable();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.category(), ErrorCode::kUnavailable);
  EXPECT_EQ(s.code(), "storage_io_error");
  EXPECT_EQ(s.message().find(root_.string()), std::string::npos) << s.message();
}

TEST_F(LocalObjectStoreTest, OpenFailsWhenTheRootCannotBeCreated) {
  WriteFile(dir_ / "plain-file", "x");
  auto store = OpenLocalObjectStore((dir_ / "plain-file" / "root").string());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().category(), ErrorCode::kUnavailable);
  EXPECT_EQ(store.status().code(), "storage_unavailable");
}

TEST_F(LocalObjectStoreTest, OpenCreatesTheRoot) {
  const fs::path nested = dir_ / "a" / "b" / "c";
  auto store = OpenLocalObjectStore(nested.string());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_TRUE(fs::is_directory(nested));
  ASSERT_TRUE((*store)->Put("k", "v").ok());
  EXPECT_TRUE(fs::is_regular_file(nested / "k"));
}

TEST_F(LocalObjectStoreTest, VersionDataIsEveryParquetFileDirectlyUnderThePrefixInKeyOrder) {
  const std::string prefix = "tenants/t/datasets/d/v1/";
  EXPECT_EQ(VersionDataLocations(*store_, prefix).status().code(), "object_not_found");
  ASSERT_TRUE(store_->Put(VersionPartKey(prefix, 1), "b").ok());
  ASSERT_TRUE(store_->Put(VersionPartKey(prefix, 0), "a").ok());
  ASSERT_TRUE(store_->Put(prefix + "schema.json", "{}").ok());
  ASSERT_TRUE(store_->Put(prefix + "nested/part-00002.parquet", "c").ok());
  auto files = VersionDataLocations(*store_, prefix);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_TRUE((*files)[0].ends_with("/v1/part-00000.parquet"));
  EXPECT_TRUE((*files)[1].ends_with("/v1/part-00001.parquet"));
  // Versions written before parts existed: one data.parquet.
  ASSERT_TRUE(store_->Put("tenants/t/datasets/d/v0/data.parquet", "x").ok());
  EXPECT_EQ(VersionDataLocations(*store_, "tenants/t/datasets/d/v0/")->size(), 1u);
}

}  // namespace
}  // namespace quarry
