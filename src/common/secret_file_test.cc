#include "common/secret_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace stackctl {
namespace {

TEST(ReadSecretFile, DropsTrailingWhitespaceAndRejectsEmptyOrMissingFiles) {
  const std::string path = ::testing::TempDir() + "/stackctl_secret_file_test";
  std::ofstream(path) << "s3cret \n\n";
  EXPECT_EQ(*ReadSecretFile(path), "s3cret");
  std::ofstream(path) << " \n";
  EXPECT_EQ(ReadSecretFile(path).status(), FailedPrecondition(path + ": secret file is empty"));
  std::filesystem::remove(path);
  EXPECT_EQ(ReadSecretFile(path).status(), FailedPrecondition(path + ": cannot read secret file"));
}

}  // namespace
}  // namespace stackctl
