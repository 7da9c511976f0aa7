// Writes to a test registry over the Docker Registry HTTP API v2 the way a
// client such as `docker push` or `cosign sign --key` does, going around
// stackctl on purpose: blobs, manifests, small images, cosign signatures
// (notary/cosign_test_signer.h), and copies of an image into another
// repository. For integration tests against the bed's registry (and a TLS
// registry a test starts itself). A failed request fails the test (EXPECT).
//
// Thread safety: none needed; each call is one or a few curl requests.
#pragma once

#include <string>
#include <vector>

#include "notary/cosign_test_signer.h"

namespace stackctl::testing {

struct HttpReply {
  long status = 0;  // 0: no answer
  std::string body, location, content_type;
};

// One HTTP request (libcurl); `ca` is a CA bundle for https.
HttpReply RegistryHttp(const std::string& method, const std::string& url,
                       const std::string& body = "", const std::string& content_type = "",
                       const std::string& ca = "", const std::string& accept = "");

struct Pusher {
  std::string base;  // "http://127.0.0.1:5000"
  std::string ca;

  // Uploads `bytes` as a blob of `repo`; its digest.
  std::string Blob(const std::string& repo, const std::string& bytes) const;
  // Puts a manifest under repo:ref; its digest.
  std::string Manifest(
      const std::string& repo, const std::string& ref, const std::string& body,
      const std::string& media_type = "application/vnd.oci.image.manifest.v1+json") const;
  // A small image (config blob, no layers) under repo:tag; its digest. Not runnable.
  std::string Image(const std::string& repo, const std::string& tag) const;
  // The image from_repo:ref copied to to_repo:tag, byte for byte (blobs
  // mounted across repositories), so it keeps its digest, which is returned.
  std::string Copy(const std::string& from_repo, const std::string& ref, const std::string& to_repo,
                   const std::string& tag) const;
  // The signatures of repo@digest: every layer's payload blob, the config
  // blob, the manifest under sha256-<hex>.sig (replacing earlier ones, as a
  // cosign that adds a signature re-pushes the manifest with one more layer).
  void Sign(const std::string& repo, const std::string& digest,
            const std::vector<notary::testing::SignatureLayer>& layers) const;
};

}  // namespace stackctl::testing
