// SOPS document decryption for documents whose data key is wrapped with age
// (sops.age[].enc, or a single key group's age entries).
//
// Formats: YAML, JSON, dotenv and binary (a JSON document whose only value
// is "data"), as written by getsops/sops 3.x. Values
// ENC[AES256_GCM,data:...,iv:...,tag:...,type:...] are opened with AES-256-GCM
// (32-byte IV) using the data key and, as additional data, the path of keys
// joined with ':' plus a trailing ':' ("stringData:key:"; list items add no
// path element). Which values are encrypted follows the metadata
// (unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex;
// regexes are evaluated with std::regex ECMAScript search, which agrees with
// Go's RE2 on the patterns sops users write). The MAC (SHA-512 over the
// plaintext values in document order, upper-case hex, encrypted with the
// lastmodified string as additional data; mac_only_encrypted honoured) is
// always checked. Not supported, with a clear error: other key services only
// (kms, pgp, vault, ...), Shamir key groups, comment regexes, multi-document
// YAML.
//
// Ownership: returned plaintext belongs to the caller (SecureWipe it);
// intermediate plaintext is wiped here. Errors never contain values: they
// name the path ("stringData.key: value could not be decrypted ...").
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"
#include "secrets/age.h"

namespace stackctl::secrets {

enum class SopsFormat { kYaml, kJson, kDotenv, kBinary };

// "yaml", "json", "dotenv", "binary".
std::string_view SopsFormatName(SopsFormat f);
Result<SopsFormat> ParseSopsFormat(std::string_view name);

// Which part of a SOPS document to use, from a compose extension field
// (see docs/secrets.md):  x-sops: { key: '["db"]["password"]', format: yaml }
struct SopsSelector {
  // sops --extract syntax: ["name"] or [index] steps; "" = whole document.
  std::string key;
  // Overrides format detection (extension, then content).
  std::optional<SopsFormat> format;
};

// One parsed step of SopsSelector::key.
using SopsKeyStep = std::variant<std::string, size_t>;
Result<std::vector<SopsKeyStep>> ParseSopsKey(std::string_view key);

// True when `content` carries SOPS metadata (a top-level "sops" key or
// "sops_mac=" line, and an ENC[AES256_GCM,...] value). Cheap, no parsing.
bool LooksLikeSops(std::string_view content);

// Chooses the format from `display_path`'s extension (.yaml/.yml, .json,
// .env), else from content: dotenv when a line starts with "sops_", JSON when
// it starts with '{' (binary when its only keys are "data" and "sops"), YAML
// otherwise.
SopsFormat DetectSopsFormat(std::string_view display_path, std::string_view content);

// Decrypts the document and returns the selected value: a scalar's text
// (booleans "true"/"false"), a subtree as JSON; without a key the whole
// document re-emitted in its format (binary: the raw data; dotenv: KEY=VALUE
// lines; JSON: 2-space indented; YAML: block style, strings double-quoted),
// without the sops metadata.
Result<std::string> SopsDecrypt(std::string_view display_path, std::string_view content,
                                const SopsSelector* selector,
                                const std::vector<AgeIdentity>& identities);

}  // namespace stackctl::secrets
