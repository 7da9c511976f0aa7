// libFuzzer target over webhook verification and push-event parsing
// (server/webhook.h), the first code an unauthenticated HTTP body reaches.
//
// Input layout: byte 0 picks the provider and the event header; the rest is
// the body. The body is parsed as it is, and again after a valid signature
// for it is computed, so VerifyWebhook's accept path runs too. Errors are
// expected; any crash, leak, UB or uncaught exception is a bug.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/crypto.h"
#include "server/webhook.h"

namespace {

using namespace stackctl::server;

constexpr char kSecret[] = "fuzz-webhook-secret";

struct Case {
  Provider provider;
  const char* event_header;
  const char* event;
  const char* signature_header;
};

constexpr Case kCases[] = {
    {Provider::kGitHub, "X-GitHub-Event", "push", "X-Hub-Signature-256"},
    {Provider::kGitHub, "X-GitHub-Event", "ping", "X-Hub-Signature-256"},
    {Provider::kGitLab, "X-Gitlab-Event", "Push Hook", "X-Gitlab-Token"},
    {Provider::kGitLab, "X-Gitlab-Event", "Tag Push Hook", "X-Gitlab-Token"},
    {Provider::kGitea, "X-Gitea-Event", "push", "X-Gitea-Signature"},
    {Provider::kGitea, "X-Forgejo-Event", "push", "X-Forgejo-Signature"},
    {Provider::kGeneric, "X-Event", "push", "X-Signature"},
    {Provider::kGeneric, "X-Event", "", "X-Signature"},
};

bool EqualsIgnoreCase(const std::string& a, const char* b) {
  size_t i = 0;
  for (; i < a.size() && b[i]; ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return i == a.size() && !b[i];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Case& c = kCases[data[0] % (sizeof kCases / sizeof kCases[0])];
  const bool body_as_signature = data[0] & 0x80;
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);

  // Unsigned or garbage-signed: must be rejected, and parsing must not crash.
  std::string signature = body_as_signature ? body : "sha256=00";
  HeaderFn raw = [&](const std::string& name) -> std::string {
    if (EqualsIgnoreCase(name, c.event_header)) return c.event;
    if (EqualsIgnoreCase(name, c.signature_header)) return signature;
    return "";
  };
  (void)VerifyWebhook(c.provider, kSecret, raw, body);
  (void)ParseWebhook(c.provider, raw, body);

  // Correctly signed: verification must accept, then the payload is parsed.
  const std::string mac = stackctl::HexEncode(stackctl::HmacSha256(kSecret, body));
  switch (c.provider) {
    case Provider::kGitHub:
    case Provider::kGeneric:
      signature = "sha256=" + mac;
      break;
    case Provider::kGitea:
      signature = mac;
      break;
    case Provider::kGitLab:
      signature = kSecret;
      break;
  }
  if (!VerifyWebhook(c.provider, kSecret, raw, body)) __builtin_trap();
  auto ev = ParseWebhook(c.provider, raw, body);
  if (ev.ok() && ev->kind == EventKind::kPush && (ev->ref.empty() || ev->repo_urls.empty()))
    __builtin_trap();
  return 0;
}
