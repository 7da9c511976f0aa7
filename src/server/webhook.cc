#include "server/webhook.h"

#include <algorithm>
#include <cctype>

#include "common/crypto.h"

namespace stackctl::server {
namespace {

void AddString(const Json& obj, const char* key, std::vector<std::string>* out) {
  if (!obj.is_object()) return;
  auto it = obj.find(key);
  if (it != obj.end() && it->is_string() && !it->get<std::string>().empty()) {
    const std::string v = it->get<std::string>();
    if (std::find(out->begin(), out->end(), v) == out->end()) out->push_back(v);
  }
}

std::string StringAt(const Json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

bool AllZero(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

}  // namespace

bool ParseProvider(const std::string& name, Provider* out) {
  if (name == "github") *out = Provider::kGitHub;
  else if (name == "gitlab") *out = Provider::kGitLab;
  else if (name == "gitea") *out = Provider::kGitea;
  else if (name == "generic") *out = Provider::kGeneric;
  else return false;
  return true;
}

const char* ProviderName(Provider p) {
  switch (p) {
    case Provider::kGitHub: return "github";
    case Provider::kGitLab: return "gitlab";
    case Provider::kGitea: return "gitea";
    case Provider::kGeneric: return "generic";
  }
  return "unknown";
}

bool VerifyWebhook(Provider p, const std::string& secret, const HeaderFn& header,
                   const std::string& body) {
  if (secret.empty()) return false;
  switch (p) {
    case Provider::kGitHub:
      return VerifyHexHmacSha256(secret, header("X-Hub-Signature-256"), "sha256=", body);
    case Provider::kGitLab: {
      // Hash both sides so the comparison time does not depend on lengths either.
      const std::string got = header("X-Gitlab-Token");
      if (got.empty()) return false;
      return ConstantTimeEquals(Sha256Hex(got), Sha256Hex(secret));
    }
    case Provider::kGitea: {
      std::string got = header("X-Gitea-Signature");
      if (got.empty()) got = header("X-Forgejo-Signature");
      return VerifyHexHmacSha256(secret, got, "", body);
    }
    case Provider::kGeneric:
      return VerifyBodySignature(secret, header(kBodySignatureHeader), body);
  }
  return false;
}

Result<PushEvent> ParseWebhook(Provider p, const HeaderFn& header, const std::string& body) {
  PushEvent ev;
  switch (p) {
    case Provider::kGitHub:
      ev.event = header("X-GitHub-Event");
      ev.kind = ev.event == "push" ? EventKind::kPush
                : ev.event == "ping" ? EventKind::kPing
                                     : EventKind::kOther;
      break;
    case Provider::kGitLab:
      ev.event = header("X-Gitlab-Event");
      ev.kind = ev.event == "Push Hook" || ev.event == "Tag Push Hook" ? EventKind::kPush
                                                                       : EventKind::kOther;
      break;
    case Provider::kGitea:
      ev.event = header("X-Gitea-Event");
      if (ev.event.empty()) ev.event = header("X-Forgejo-Event");
      ev.kind = ev.event == "push" ? EventKind::kPush : EventKind::kOther;
      break;
    case Provider::kGeneric:
      ev.event = header("X-Event");
      if (ev.event.empty()) ev.event = "push";
      ev.kind = ev.event == "push" ? EventKind::kPush
                : ev.event == "ping" ? EventKind::kPing
                                     : EventKind::kOther;
      break;
  }
  if (ev.kind != EventKind::kPush) return ev;
  ASSIGN_OR_RETURN(Json j, ParseJson(body, "webhook payload"));
  if (!j.is_object()) return InvalidArgument("webhook payload: must be a JSON object");
  ev.ref = StringAt(j, "ref");
  switch (p) {
    case Provider::kGitHub:
    case Provider::kGitea:
      if (j.contains("repository")) {
        const Json& r = j["repository"];
        for (const char* k : {"clone_url", "ssh_url", "git_url", "html_url", "url"}) {
          AddString(r, k, &ev.repo_urls);
        }
      }
      ev.commit = StringAt(j, "after");
      ev.deleted = (j.contains("deleted") && j["deleted"].is_boolean() && j["deleted"].get<bool>()) ||
                   AllZero(ev.commit);
      break;
    case Provider::kGitLab:
      for (const char* obj : {"project", "repository"}) {
        if (!j.contains(obj)) continue;
        for (const char* k : {"git_http_url", "git_ssh_url", "web_url", "homepage", "url"}) {
          AddString(j[obj], k, &ev.repo_urls);
        }
      }
      ev.commit = StringAt(j, "checkout_sha");
      if (ev.commit.empty()) ev.commit = StringAt(j, "after");
      ev.deleted = AllZero(StringAt(j, "after"));
      break;
    case Provider::kGeneric: {
      const Json& r = j.contains("repository") ? j["repository"] : Json();
      if (r.is_string()) {
        ev.repo_urls.push_back(r.get<std::string>());
      } else {
        AddString(r, "url", &ev.repo_urls);
      }
      ev.commit = StringAt(j, "commit");
      if (!ev.ref.empty() && ev.ref.rfind("refs/", 0) != 0) ev.ref = "refs/heads/" + ev.ref;
      break;
    }
  }
  if (AllZero(ev.commit)) ev.commit.clear();
  if (ev.repo_urls.empty()) return InvalidArgument("webhook payload: no repository URL");
  if (ev.ref.empty()) return InvalidArgument("webhook payload: no ref");
  return ev;
}

}  // namespace stackctl::server
