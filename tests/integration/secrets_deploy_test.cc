// Encrypted secrets end to end: an age-encrypted file (made by the real `age`
// CLI) deployed by the real `stackctl` binary is mounted in a running task
// with its plaintext; a new value rotates the Swarm secret; no plaintext ever
// appears in stackctl's output, even at debug log level.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "integration/testbed.h"

namespace stackctl::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(SecretsDeploy, AgeEncryptedSecretIsMountedRotatedAndNeverPrinted) {
  Testbed tb;
  REQUIRE_TESTBED(tb);
  fs::path dir = fs::temp_directory_path() / ("stackctl-secrets-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string stack = "sec" + std::to_string(getpid() % 100000);
  std::string out;
  ASSERT_EQ(RunCommand("cd " + dir.string() + " && age-keygen -o key.txt 2>/dev/null && "
                       "grep -o 'age1[a-z0-9]*' key.txt > recipient",
                       &out),
            0)
      << out;
  auto encrypt = [&](const std::string& value) {
    std::string o;
    ASSERT_EQ(RunCommand("cd " + dir.string() + " && printf '%s' '" + value +
                             "' | age -a -R recipient > db.age",
                         &o),
              0)
        << o;
  };
  std::ofstream(dir / "docker-compose.yml")
      << "version: \"3.8\"\nservices:\n  reader:\n    image: " << tb.image
      << "\n    command: [\"sh\", \"-c\", \"echo value=$$(cat /run/secrets/db); exec sleep 3600\"]\n"
         "    secrets: [db]\nsecrets:\n  db:\n    file: ./db.age\n";
  std::string deploy = "cd " + dir.string() + " && DOCKER_HOST=" + tb.docker_host + " " + tb.bin_dir +
                       "/stackctl --log-level debug deploy --secret-retention 0 --age-identity key.txt -c "
                       "docker-compose.yml " + stack;
  auto logs_contain = [&](const std::string& want) {
    for (int i = 0; i < 300; ++i) {
      std::string logs;
      RunCommand(tb.docker_cli + " -H " + tb.docker_host + " service logs --raw " + stack + "_reader", &logs);
      if (logs.find(want) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
  };

  encrypt("first-plaintext-71");
  std::string log1;
  ASSERT_EQ(RunCommand(deploy, &log1), 0) << log1;
  EXPECT_TRUE(logs_contain("value=first-plaintext-71"));
  std::string name1 = tb.Docker("service inspect " + stack +
                                "_reader --format '{{(index .Spec.TaskTemplate.ContainerSpec.Secrets 0).SecretName}}'");
  EXPECT_THAT(name1, HasSubstr(stack + "_db-"));

  encrypt("second-plaintext-72");
  std::string log2;
  ASSERT_EQ(RunCommand(deploy, &log2), 0) << log2;
  EXPECT_TRUE(logs_contain("value=second-plaintext-72"));
  std::string name2 = tb.Docker("service inspect " + stack +
                                "_reader --format '{{(index .Spec.TaskTemplate.ContainerSpec.Secrets 0).SecretName}}'");
  EXPECT_NE(name2, name1);
  std::string secrets = tb.Docker("secret ls --format '{{.Name}}'");
  EXPECT_THAT(secrets, HasSubstr(name2.substr(0, name2.size() - 1)));
  EXPECT_THAT(secrets, ::testing::Not(HasSubstr(name1.substr(0, name1.size() - 1))));

  // Wrong identity: a clear error and nothing changes.
  ASSERT_EQ(RunCommand("cd " + dir.string() + " && age-keygen -o other.txt 2>/dev/null", &out), 0);
  std::string log3;
  std::string wrong = deploy;
  wrong.replace(wrong.find("key.txt"), 7, "other.txt");
  EXPECT_EQ(RunCommand(wrong, &log3), 1) << log3;
  EXPECT_THAT(log3, HasSubstr("no identity matched any of the file's recipients"));

  for (const auto& l : {log1, log2, log3}) {
    EXPECT_THAT(l, ::testing::Not(HasSubstr("plaintext-7")));
  }
  RunCommand("DOCKER_HOST=" + tb.docker_host + " " + tb.bin_dir + "/stackctl rm " + stack, &out);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace stackctl::testing
