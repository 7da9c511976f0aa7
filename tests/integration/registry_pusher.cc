#include "integration/registry_pusher.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <strings.h>

#include "common/crypto.h"
#include "common/http.h"
#include "common/json.h"

namespace stackctl::testing {
namespace {

constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";

// The two headers a push needs: where to upload, what a manifest is.
size_t OnHeader(char* p, size_t s, size_t n, void* out) {
  auto* r = static_cast<HttpReply*>(out);
  std::string line(p, s * n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  auto value = [&](const char* name) {
    size_t len = strlen(name);
    if (line.size() < len || strncasecmp(line.c_str(), name, len) != 0) return false;
    std::string v = line.substr(len);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    (std::string(name) == "location:" ? r->location : r->content_type) = v;
    return true;
  };
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or 100 Continue)
    r->location.clear();
    r->content_type.clear();
  }
  value("location:") || value("content-type:");
  return s * n;
}

}  // namespace

HttpReply RegistryHttp(const std::string& method, const std::string& url, const std::string& body,
                       const std::string& content_type, const std::string& ca,
                       const std::string& accept) {
  HttpReply r;
  CURL* c = curl_easy_init();
  curl_slist* h = nullptr;
  if (!content_type.empty()) h = curl_slist_append(h, ("Content-Type: " + content_type).c_str());
  if (!accept.empty()) h = curl_slist_append(h, ("Accept: " + accept).c_str());
  BodySink sink{&r.body, 64 << 20};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "PUT" || method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (h) curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  if (!ca.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendToBodySink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return r;
}

std::string Pusher::Blob(const std::string& repo, const std::string& bytes) const {
  const std::string digest = "sha256:" + Sha256Hex(bytes);
  HttpReply start = RegistryHttp("POST", base + "/v2/" + repo + "/blobs/uploads/", "", "", ca);
  EXPECT_EQ(start.status, 202) << start.body;
  std::string url = start.location.rfind("http", 0) == 0 ? start.location : base + start.location;
  url += (url.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + digest;
  HttpReply put = RegistryHttp("PUT", url, bytes, "application/octet-stream", ca);
  EXPECT_EQ(put.status, 201) << put.body;
  return digest;
}

std::string Pusher::Manifest(const std::string& repo, const std::string& ref,
                             const std::string& body, const std::string& media_type) const {
  HttpReply put =
      RegistryHttp("PUT", base + "/v2/" + repo + "/manifests/" + ref, body, media_type, ca);
  EXPECT_EQ(put.status, 201) << put.body;
  return "sha256:" + Sha256Hex(body);
}

std::string Pusher::Image(const std::string& repo, const std::string& tag) const {
  const std::string config =
      R"({"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]},"comment":")" +
      repo + ":" + tag + "\"}";
  Json m = {{"schemaVersion", 2},
            {"mediaType", kOciManifest},
            {"config",
             {{"mediaType", "application/vnd.oci.image.config.v1+json"},
              {"size", config.size()},
              {"digest", Blob(repo, config)}}},
            {"layers", Json::array()}};
  return Manifest(repo, tag, m.dump());
}

std::string Pusher::Copy(const std::string& from_repo, const std::string& ref,
                         const std::string& to_repo, const std::string& tag) const {
  HttpReply m = RegistryHttp(
      "GET", base + "/v2/" + from_repo + "/manifests/" + ref, "", "", ca,
      "application/vnd.docker.distribution.manifest.v2+json, " + std::string(kOciManifest));
  EXPECT_EQ(m.status, 200) << m.body;
  if (m.status != 200) return "";
  Json doc = Json::parse(m.body);
  std::vector<std::string> blobs = {doc["config"]["digest"].get<std::string>()};
  for (const auto& l : doc["layers"]) blobs.push_back(l["digest"].get<std::string>());
  for (const std::string& d : blobs) {
    HttpReply mount =
        RegistryHttp("POST",
                     base + "/v2/" + to_repo + "/blobs/uploads/?mount=" + PercentEncode(d) +
                         "&from=" + PercentEncode(from_repo),
                     "", "", ca);
    EXPECT_EQ(mount.status, 201) << d << ": " << mount.body;
  }
  return Manifest(to_repo, tag, m.body, m.content_type);
}

void Pusher::Sign(const std::string& repo, const std::string& digest,
                  const std::vector<notary::testing::SignatureLayer>& layers) const {
  for (const auto& l : layers) Blob(repo, l.payload);
  Blob(repo, notary::testing::kCosignConfigBlob);
  Manifest(repo, "sha256-" + digest.substr(7) + ".sig", notary::testing::SignatureManifest(layers));
}

}  // namespace stackctl::testing
