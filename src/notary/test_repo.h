// Test helper: builds and signs a small Notary-style TUF repository in memory
// (fresh ECDSA/Ed25519/RSA keys, a self-signed root certificate with CN = GUN)
// and publishes it into a testing::SampleSource with the server's file names,
// so tests can cover what the test bed's notary metadata cannot (delegation
// expiry and thresholds, RSA-PSS, key-ID mismatches). Tests and fuzzer only.
//
// Thread safety: none.
#pragma once

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "notary/test_support.h"
#include "notary/tuf_json.h"
#include "notary/tuf_keys.h"

namespace stackctl::notary::testing {

class TestKey {
 public:
  enum class Kind { kEcdsa, kEd25519, kRsa };
  explicit TestKey(Kind kind = Kind::kEcdsa) : kind_(kind) {
    EVP_PKEY* k = nullptr;
    if (kind == Kind::kEcdsa) {
      k = EVP_EC_gen("P-256");
    } else if (kind == Kind::kEd25519) {
      k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    } else {
      k = EVP_RSA_gen(2048);
    }
    key_.reset(k);
    if (kind == Kind::kEd25519) {
      size_t len = 32;
      pub_.type = "ed25519";
      pub_.public_bytes.resize(32);
      EVP_PKEY_get_raw_public_key(k, reinterpret_cast<unsigned char*>(pub_.public_bytes.data()),
                                  &len);
    } else {
      unsigned char* der = nullptr;
      int n = i2d_PUBKEY(k, &der);
      pub_.type = kind == Kind::kEcdsa ? "ecdsa" : "rsa";
      pub_.public_bytes.assign(reinterpret_cast<char*>(der), n);
      OPENSSL_free(der);
    }
  }

  const PublicKey& pub() const { return pub_; }
  std::string id() const { return KeyId(pub_); }
  std::string method() const {
    return kind_ == Kind::kEcdsa ? "ecdsa" : kind_ == Kind::kEd25519 ? "eddsa" : "rsapss";
  }

  // A self-signed "ecdsa-x509" root key for `cn`, valid [from, to].
  PublicKey Certificate(const std::string& cn, Clock::TimePoint from, Clock::TimePoint to) const {
    X509* x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
    ASN1_TIME_set(X509_getm_notBefore(x), std::chrono::system_clock::to_time_t(from));
    ASN1_TIME_set(X509_getm_notAfter(x), std::chrono::system_clock::to_time_t(to));
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key_.get());
    X509_sign(x, key_.get(), EVP_sha256());
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    PublicKey out{kind_ == Kind::kRsa ? "rsa-x509" : "ecdsa-x509", std::string(data, n)};
    BIO_free(bio);
    X509_free(x);
    return out;
  }

  // A TUF signature value (raw r||s for ECDSA).
  std::string Sign(std::string_view msg) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    EVP_DigestSignInit(ctx, &pctx, kind_ == Kind::kEd25519 ? nullptr : EVP_sha256(), nullptr,
                       key_.get());
    if (kind_ == Kind::kRsa) {
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32);
    }
    size_t len = 0;
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(msg.data()),
                   msg.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    if (kind_ != Kind::kEcdsa) return sig;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    return raw;
  }

 private:
  struct Free {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  };
  Kind kind_;
  std::unique_ptr<EVP_PKEY, Free> key_;
  PublicKey pub_;
};

inline Json KeyJson(const PublicKey& k) {
  return {{"keytype", k.type},
          {"keyval", {{"private", nullptr}, {"public", Base64Encode(k.public_bytes)}}}};
}

// Signs `signed_part` with `signers` (key ID as listed -> key).
inline std::string Envelope(const Json& signed_part,
                            const std::vector<std::pair<std::string, const TestKey*>>& signers) {
  std::string msg = *TufCanonical(signed_part);
  Json sigs = Json::array();
  for (const auto& [id, key] : signers) {
    sigs.push_back(
        {{"keyid", id}, {"method", key->method()}, {"sig", Base64Encode(key->Sign(msg))}});
  }
  return *TufCanonical(Json{{"signed", signed_part}, {"signatures", sigs}});
}

inline Json FileMetaJson(const std::string& raw) {
  Bytes d = Sha256(raw);
  return {{"hashes", {{"sha256", Base64Encode(std::string(d.begin(), d.end()))}}},
          {"length", raw.size()}};
}

// A repository: root (x509 root key), targets, snapshot, timestamp, and
// delegations whose signed parts tests edit before Publish().
struct TestRepo {
  std::string gun;
  Clock::TimePoint now;
  TestKey root_key, targets_key, snapshot_key, timestamp_key;
  PublicKey root_cert;
  Json targets;                             // signed part of targets
  std::map<std::string, Json> delegations;  // name -> signed part
  std::map<std::string, std::vector<std::pair<std::string, const TestKey*>>> delegation_signers;
  std::string expires;  // default expiry (RFC 3339)

  TestRepo(std::string g, Clock::TimePoint t, TestKey::Kind targets_kind = TestKey::Kind::kEcdsa)
      : gun(std::move(g)),
        now(t),
        targets_key(targets_kind),
        timestamp_key(TestKey::Kind::kEd25519) {
    root_cert =
        root_key.Certificate(gun, now - std::chrono::hours(24), now + std::chrono::hours(24 * 365));
    expires = FormatRfc3339(now + std::chrono::hours(24 * 30));
    targets = {{"_type", "Targets"},
               {"version", 1},
               {"expires", expires},
               {"targets", Json::object()},
               {"delegations", {{"keys", Json::object()}, {"roles", Json::array()}}}};
  }

  static Json Target(const std::string& digest_hex) {
    Bytes d;
    HexDecode(digest_hex, &d);
    return {{"hashes", {{"sha256", Base64Encode(std::string(d.begin(), d.end()))}}},
            {"length", 527}};
  }

  // Adds delegation `name` (child of `parent`) signed by `key`.
  void Delegate(const std::string& parent, const std::string& name, const TestKey& key,
                int threshold = 1) {
    Json& p = parent == "targets" ? targets : delegations[parent];
    p["delegations"]["keys"][key.id()] = KeyJson(key.pub());
    p["delegations"]["roles"].push_back(
        {{"name", name}, {"keyids", {key.id()}}, {"threshold", threshold}, {"paths", {""}}});
    delegations[name] = {{"_type", "Targets"},
                         {"version", 1},
                         {"expires", expires},
                         {"targets", Json::object()},
                         {"delegations", {{"keys", Json::object()}, {"roles", Json::array()}}}};
    delegation_signers[name] = {{key.id(), &key}};
  }

  std::string RootRaw() const {
    std::string rid = KeyId(root_cert);
    Json s = {{"_type", "Root"},
              {"consistent_snapshot", false},
              {"version", 1},
              {"expires", FormatRfc3339(now + std::chrono::hours(24 * 365))},
              {"keys",
               {{rid, KeyJson(root_cert)},
                {targets_key.id(), KeyJson(targets_key.pub())},
                {snapshot_key.id(), KeyJson(snapshot_key.pub())},
                {timestamp_key.id(), KeyJson(timestamp_key.pub())}}},
              {"roles",
               {{"root", {{"keyids", {rid}}, {"threshold", 1}}},
                {"targets", {{"keyids", {targets_key.id()}}, {"threshold", 1}}},
                {"snapshot", {{"keyids", {snapshot_key.id()}}, {"threshold", 1}}},
                {"timestamp", {{"keyids", {timestamp_key.id()}}, {"threshold", 1}}}}}};
    return Envelope(s, {{rid, &root_key}});
  }

  // Signs everything and stores it in `src` under the server's names.
  void Publish(SampleSource& src,
               std::vector<std::pair<std::string, const TestKey*>> targets_signers = {}) const {
    if (targets_signers.empty()) targets_signers = {{targets_key.id(), &targets_key}};
    std::string root = RootRaw();
    std::string tg = Envelope(targets, targets_signers);
    Json meta = {{"root", FileMetaJson(root)}, {"targets", FileMetaJson(tg)}};
    auto put = [&](const std::string& role, const std::string& raw) {
      src.Replace(gun, role, raw);
      src.Replace(gun, role + "." + Sha256Hex(raw), raw);
    };
    put("targets", tg);
    for (const auto& [name, s] : delegations) {
      std::string raw = Envelope(s, delegation_signers.at(name));
      meta[name] = FileMetaJson(raw);
      put(name, raw);
    }
    src.Replace(gun, "root", root);
    std::string sn =
        Envelope({{"_type", "Snapshot"}, {"version", 1}, {"expires", expires}, {"meta", meta}},
                 {{snapshot_key.id(), &snapshot_key}});
    put("snapshot", sn);
    std::string ts = Envelope({{"_type", "Timestamp"},
                               {"version", 1},
                               {"expires", expires},
                               {"meta", {{"snapshot", FileMetaJson(sn)}}}},
                              {{timestamp_key.id(), &timestamp_key}});
    src.Replace(gun, "timestamp", ts);
  }
};

}  // namespace stackctl::notary::testing
