#include "server/webhook.h"

#include <gtest/gtest.h>

#include <map>

namespace stackctl::server {
namespace {

// Signatures computed independently with `openssl dgst -sha256 -hmac SECRET`.
// The first is GitHub's documented example ("Validating webhook deliveries").
constexpr char kGitHubDocBody[] = "Hello, World!";
constexpr char kGitHubDocSecret[] = "It's a Secret to Everybody";
constexpr char kGitHubDocSig[] =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

constexpr char kGitHubPush[] =
    R"({"ref":"refs/heads/main","after":"1111111111111111111111111111111111111111","repository":{"clone_url":"https://github.com/acme/infra.git","ssh_url":"git@github.com:acme/infra.git"}})";
constexpr char kGitHubPushSig[] =
    "sha256=612f832af2103b2d0ae519db47c1414a0bae263c628e341e64c89b7130892302";
constexpr char kGiteaPush[] =
    R"({"ref":"refs/heads/main","after":"2222222222222222222222222222222222222222","repository":{"clone_url":"https://gitea.example.com/acme/infra.git"}})";
constexpr char kGiteaPushSig[] = "30d3c279157887aedfd16f76c34831331c426183adb3f216095a9034964bf880";
constexpr char kGenericPush[] =
    R"({"repository":"https://git.example.com/acme/infra.git","ref":"main","commit":"3333333333333333333333333333333333333333"})";
constexpr char kGenericPushSig[] =
    "sha256=abeab9ec1dc9f7ad1216e53272657a0cdd928ba27631c0d9dd9a91c667b2f65c";

HeaderFn Headers(std::map<std::string, std::string> h) {
  return [h](const std::string& name) {
    auto it = h.find(name);
    return it == h.end() ? std::string() : it->second;
  };
}

TEST(WebhookTest, GitHubSignature) {
  EXPECT_TRUE(VerifyWebhook(Provider::kGitHub, kGitHubDocSecret,
                            Headers({{"X-Hub-Signature-256", kGitHubDocSig}}), kGitHubDocBody));
  EXPECT_TRUE(VerifyWebhook(Provider::kGitHub, "gh-secret",
                            Headers({{"X-Hub-Signature-256", kGitHubPushSig}}), kGitHubPush));
  // Wrong secret, changed body, missing header, missing prefix, sha1 header only.
  EXPECT_FALSE(VerifyWebhook(Provider::kGitHub, "other",
                             Headers({{"X-Hub-Signature-256", kGitHubDocSig}}), kGitHubDocBody));
  EXPECT_FALSE(VerifyWebhook(Provider::kGitHub, kGitHubDocSecret,
                             Headers({{"X-Hub-Signature-256", kGitHubDocSig}}), "Hello, World?"));
  EXPECT_FALSE(VerifyWebhook(Provider::kGitHub, kGitHubDocSecret, Headers({}), kGitHubDocBody));
  EXPECT_FALSE(VerifyWebhook(Provider::kGitHub, kGitHubDocSecret,
                             Headers({{"X-Hub-Signature-256", std::string(kGitHubDocSig + 7)}}),
                             kGitHubDocBody));
  EXPECT_FALSE(VerifyWebhook(Provider::kGitHub, kGitHubDocSecret,
                             Headers({{"X-Hub-Signature", kGitHubDocSig}}), kGitHubDocBody));
  EXPECT_FALSE(VerifyWebhook(Provider::kGitHub, "", Headers({{"X-Hub-Signature-256", ""}}), ""));
}

TEST(WebhookTest, GitLabToken) {
  EXPECT_TRUE(VerifyWebhook(Provider::kGitLab, "gl-token", Headers({{"X-Gitlab-Token", "gl-token"}}),
                            "{}"));
  EXPECT_FALSE(VerifyWebhook(Provider::kGitLab, "gl-token",
                             Headers({{"X-Gitlab-Token", "gl-token2"}}), "{}"));
  EXPECT_FALSE(VerifyWebhook(Provider::kGitLab, "gl-token", Headers({}), "{}"));
}

TEST(WebhookTest, GiteaAndForgejoSignature) {
  EXPECT_TRUE(VerifyWebhook(Provider::kGitea, "gitea-secret",
                            Headers({{"X-Gitea-Signature", kGiteaPushSig}}), kGiteaPush));
  EXPECT_TRUE(VerifyWebhook(Provider::kGitea, "gitea-secret",
                            Headers({{"X-Forgejo-Signature", kGiteaPushSig}}), kGiteaPush));
  EXPECT_FALSE(VerifyWebhook(Provider::kGitea, "gitea-secret",
                             Headers({{"X-Gitea-Signature", std::string("sha256=") + kGiteaPushSig}}),
                             kGiteaPush));
  EXPECT_FALSE(VerifyWebhook(Provider::kGitea, "wrong",
                             Headers({{"X-Gitea-Signature", kGiteaPushSig}}), kGiteaPush));
}

TEST(WebhookTest, GenericSignature) {
  EXPECT_TRUE(VerifyWebhook(Provider::kGeneric, "generic-secret",
                            Headers({{"X-Signature", kGenericPushSig}}), kGenericPush));
  EXPECT_FALSE(VerifyWebhook(Provider::kGeneric, "generic-secret",
                             Headers({{"X-Signature", "sha256=zz"}}), kGenericPush));
}

TEST(WebhookTest, ParsesPushPayloads) {
  auto gh = ParseWebhook(Provider::kGitHub, Headers({{"X-GitHub-Event", "push"}}), kGitHubPush);
  ASSERT_TRUE(gh.ok()) << gh.status().ToString();
  EXPECT_EQ(gh->kind, EventKind::kPush);
  EXPECT_EQ(gh->repo_urls, (std::vector<std::string>{"https://github.com/acme/infra.git",
                                                     "git@github.com:acme/infra.git"}));
  EXPECT_EQ(gh->ref, "refs/heads/main");
  EXPECT_EQ(gh->commit, "1111111111111111111111111111111111111111");
  EXPECT_FALSE(gh->deleted);

  auto ping = ParseWebhook(Provider::kGitHub, Headers({{"X-GitHub-Event", "ping"}}), "{}");
  EXPECT_EQ(ping->kind, EventKind::kPing);
  auto issue = ParseWebhook(Provider::kGitHub, Headers({{"X-GitHub-Event", "issues"}}), "{}");
  EXPECT_EQ(issue->kind, EventKind::kOther);
  EXPECT_EQ(issue->event, "issues");

  auto gl = ParseWebhook(
      Provider::kGitLab, Headers({{"X-Gitlab-Event", "Push Hook"}}),
      R"({"ref":"refs/heads/main","after":"aa","checkout_sha":"bb","project":{"git_http_url":"https://gitlab.com/acme/infra.git","git_ssh_url":"git@gitlab.com:acme/infra.git"}})");
  ASSERT_TRUE(gl.ok()) << gl.status().ToString();
  EXPECT_EQ(gl->repo_urls, (std::vector<std::string>{"https://gitlab.com/acme/infra.git",
                                                     "git@gitlab.com:acme/infra.git"}));
  EXPECT_EQ(gl->commit, "bb");

  auto gitea = ParseWebhook(Provider::kGitea, Headers({{"X-Gitea-Event", "push"}}), kGiteaPush);
  EXPECT_EQ(gitea->repo_urls, (std::vector<std::string>{"https://gitea.example.com/acme/infra.git"}));
  EXPECT_EQ(gitea->commit, "2222222222222222222222222222222222222222");

  auto generic = ParseWebhook(Provider::kGeneric, Headers({}), kGenericPush);
  EXPECT_EQ(generic->kind, EventKind::kPush);
  EXPECT_EQ(generic->ref, "refs/heads/main");
  EXPECT_EQ(generic->commit, "3333333333333333333333333333333333333333");

  auto deleted = ParseWebhook(
      Provider::kGitHub, Headers({{"X-GitHub-Event", "push"}}),
      R"({"ref":"refs/heads/old","after":"0000000000000000000000000000000000000000","deleted":true,"repository":{"clone_url":"https://github.com/acme/infra.git"}})");
  EXPECT_TRUE(deleted->deleted);
  EXPECT_EQ(deleted->commit, "");
}

TEST(WebhookTest, BadPayloads) {
  auto h = Headers({{"X-GitHub-Event", "push"}});
  EXPECT_EQ(ParseWebhook(Provider::kGitHub, h, "[1]").status(),
            InvalidArgument("webhook payload: must be a JSON object"));
  EXPECT_EQ(ParseWebhook(Provider::kGitHub, h, R"({"ref":"refs/heads/main"})").status(),
            InvalidArgument("webhook payload: no repository URL"));
  EXPECT_EQ(ParseWebhook(Provider::kGitHub, h, R"({"repository":{"clone_url":"x"}})").status(),
            InvalidArgument("webhook payload: no ref"));
  EXPECT_EQ(ParseWebhook(Provider::kGitHub, h, "{").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace stackctl::server
