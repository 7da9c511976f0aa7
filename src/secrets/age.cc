#include "secrets/age.h"

#include <charconv>
#include <optional>

#include "common/crypto.h"
#include "secrets/encoding.h"
#include "secrets/primitives.h"

namespace stackctl::secrets {
namespace {

using internal::Base64DecodeStrict;

constexpr size_t kChunkSize = 64 * 1024;
constexpr size_t kTagSize = 16;
constexpr size_t kFileKeySize = 16;
constexpr char kX25519Label[] = "age-encryption.org/v1/X25519";
constexpr char kScryptLabel[] = "age-encryption.org/v1/scrypt";

struct Stanza {
  std::vector<std::string> args;  // args[0] is the type
  std::string body;
};

struct Header {
  std::vector<Stanza> stanzas;
  std::string mac;             // 32 bytes
  std::string_view mac_input;  // header up to and including "---"
  size_t payload_offset = 0;
};

// Wipes a string when the scope ends (file keys, derived keys).
class Wiper {
 public:
  explicit Wiper(std::string* s) : s_(s) {}
  ~Wiper() { SecureWipe(s_); }
  Wiper(const Wiper&) = delete;
  Wiper& operator=(const Wiper&) = delete;

 private:
  std::string* s_;
};

bool IsVchar(char c) { return c >= 33 && c <= 126; }

// Reads the next '\n'-terminated line at *pos; false when none is complete.
bool NextLine(std::string_view in, size_t* pos, std::string_view* line) {
  size_t nl = in.find('\n', *pos);
  if (nl == std::string_view::npos) return false;
  *line = in.substr(*pos, nl - *pos);
  *pos = nl + 1;
  return true;
}

Status HeaderError(std::string what) { return InvalidArgument("invalid age header: " + what); }
Status Truncated(std::string what) { return InvalidArgument("truncated age file: " + what); }

Result<Header> ParseHeader(std::string_view in) {
  Header h;
  size_t pos = 0;
  std::string_view line;
  if (!NextLine(in, &pos, &line)) {
    if (!in.empty() && std::string_view(kAgeVersionLine).starts_with(in.substr(0, 21)))
      return Truncated("header ends early");
    return InvalidArgument("not an age file: missing 'age-encryption.org/v1' header");
  }
  if (line != kAgeVersionLine) {
    return InvalidArgument("not an age file: missing 'age-encryption.org/v1' header");
  }
  for (;;) {
    size_t line_start = pos;
    if (!NextLine(in, &pos, &line)) return Truncated("header ends early");
    if (line.starts_with("---")) {
      if (line.size() < 4 || line[3] != ' ') return HeaderError("malformed MAC line");
      if (!Base64DecodeStrict(line.substr(4), false, &h.mac) || h.mac.size() != 32)
        return HeaderError("malformed MAC line");
      h.mac_input = in.substr(0, line_start + 3);
      h.payload_offset = pos;
      break;
    }
    if (!line.starts_with("-> ")) return HeaderError("expected a stanza or the MAC line");
    Stanza st;
    std::string_view rest = line.substr(3);
    for (;;) {
      size_t sp = rest.find(' ');
      std::string_view arg = rest.substr(0, sp);
      if (arg.empty()) return HeaderError("empty stanza argument");
      for (char c : arg) {
        if (!IsVchar(c)) return HeaderError("invalid character in stanza argument");
      }
      st.args.emplace_back(arg);
      if (sp == std::string_view::npos) break;
      rest = rest.substr(sp + 1);
    }
    for (;;) {
      if (!NextLine(in, &pos, &line)) return Truncated("header ends early");
      if (line.size() > 64) return HeaderError("stanza body line longer than 64 columns");
      std::string chunk;
      if (!Base64DecodeStrict(line, false, &chunk))
        return HeaderError("stanza body is not canonical base64");
      st.body += chunk;
      if (line.size() < 64) break;
    }
    h.stanzas.push_back(std::move(st));
  }
  if (h.stanzas.empty()) return HeaderError("no recipient stanzas");
  return h;
}

// Unwraps the file key from an X25519 stanza; nullopt when it is not for us.
Result<std::optional<std::string>> UnwrapX25519(const Stanza& st, const AgeIdentity& id) {
  if (st.args.size() != 2) return HeaderError("X25519 stanza must have one argument");
  std::string share;
  if (!Base64DecodeStrict(st.args[1], false, &share) || share.size() != 32)
    return HeaderError("X25519 stanza has an invalid ephemeral share");
  if (st.body.size() != kFileKeySize + kTagSize)
    return HeaderError("X25519 stanza body has the wrong size");
  std::string pub, shared, wrap_key, file_key;
  Wiper w1(&shared), w2(&wrap_key);
  if (!internal::X25519Public(id.secret(), &pub)) return Internal("X25519 public key derivation");
  if (!internal::X25519(id.secret(), share, &shared)) return std::optional<std::string>();
  if (!internal::HkdfSha256(shared, share + pub, kX25519Label, 32, &wrap_key))
    return Internal("HKDF-SHA256 failed");
  static const std::string kZeroNonce(12, '\0');
  if (!internal::ChaChaPolyOpen(wrap_key, kZeroNonce, st.body, &file_key))
    return std::optional<std::string>();
  return std::optional<std::string>(std::move(file_key));
}

Result<std::optional<std::string>> UnwrapScrypt(const Stanza& st, const AgeIdentity& id) {
  if (st.args.size() != 3) return HeaderError("scrypt stanza must have two arguments");
  std::string salt;
  if (!Base64DecodeStrict(st.args[1], false, &salt) || salt.size() != 16)
    return HeaderError("scrypt stanza has an invalid salt");
  const std::string& wf = st.args[2];
  int log_n = 0;
  auto [ptr, ec] = std::from_chars(wf.data(), wf.data() + wf.size(), log_n);
  if (ec != std::errc() || ptr != wf.data() + wf.size() || wf[0] == '0' || log_n <= 0)
    return HeaderError("scrypt stanza has an invalid work factor");
  if (st.body.size() != kFileKeySize + kTagSize)
    return HeaderError("scrypt stanza body has the wrong size");
  if (log_n > id.max_work_factor()) {
    return InvalidArgument("scrypt work factor 2^" + std::to_string(log_n) +
                           " is above the limit 2^" + std::to_string(id.max_work_factor()));
  }
  std::string wrap_key, file_key;
  Wiper w(&wrap_key);
  if (!internal::Scrypt(id.secret(), std::string(kScryptLabel) + salt, log_n, 8, 1, 32, &wrap_key))
    return Internal("scrypt failed");
  static const std::string kZeroNonce(12, '\0');
  if (!internal::ChaChaPolyOpen(wrap_key, kZeroNonce, st.body, &file_key))
    return std::optional<std::string>();
  return std::optional<std::string>(std::move(file_key));
}

std::string ChunkNonce(uint64_t counter, bool last) {
  std::string n(12, '\0');
  for (int i = 0; i < 8; ++i) n[10 - i] = static_cast<char>((counter >> (8 * i)) & 0xff);
  n[11] = last ? 1 : 0;
  return n;
}

Result<std::string> DecryptPayload(std::string_view file_key, std::string_view payload) {
  if (payload.size() < 16) return Truncated("missing payload nonce");
  std::string key;
  Wiper wk(&key);
  if (!internal::HkdfSha256(file_key, payload.substr(0, 16), "payload", 32, &key))
    return Internal("HKDF-SHA256 failed");
  std::string_view rest = payload.substr(16);
  if (rest.empty()) return Truncated("missing payload");
  std::string out;
  uint64_t counter = 0;
  for (;;) {
    const bool last = rest.size() <= kChunkSize + kTagSize;
    std::string_view chunk = rest.substr(0, std::min(rest.size(), kChunkSize + kTagSize));
    std::string plain;
    if (chunk.size() < kTagSize) {
      SecureWipe(&out);
      return Truncated("payload chunk " + std::to_string(counter) + " is cut short");
    }
    if (!internal::ChaChaPolyOpen(key, ChunkNonce(counter, last), chunk, &plain)) {
      if (last && chunk.size() == kChunkSize + kTagSize &&
          internal::ChaChaPolyOpen(key, ChunkNonce(counter, false), chunk, &plain)) {
        SecureWipe(&plain);
        SecureWipe(&out);
        return Truncated("missing final chunk");
      }
      SecureWipe(&out);
      return InvalidArgument("payload chunk " + std::to_string(counter) +
                             ": authentication failed (tampered or truncated)");
    }
    if (last && plain.empty() && counter > 0) {
      SecureWipe(&out);
      return InvalidArgument("invalid age payload: empty final chunk");
    }
    out += plain;
    SecureWipe(&plain);
    if (last) break;
    rest = rest.substr(chunk.size());
    ++counter;
  }
  return out;
}

}  // namespace

AgeIdentity::~AgeIdentity() { SecureWipe(&secret_); }

Result<AgeIdentity> AgeIdentity::ParseX25519(std::string_view encoded) {
  std::string hrp, data;
  std::string err = internal::Bech32Decode(encoded, &hrp, &data);
  if (!err.empty()) {
    SecureWipe(&data);
    return InvalidArgument("malformed age identity: " + err);
  }
  if (hrp != "age-secret-key-") {
    SecureWipe(&data);
    return InvalidArgument("malformed age identity: not an AGE-SECRET-KEY-1 key");
  }
  if (data.size() != 32) {
    SecureWipe(&data);
    return InvalidArgument("malformed age identity: wrong key length");
  }
  std::string pub;
  if (!internal::X25519Public(data, &pub)) {
    SecureWipe(&data);
    return Internal("X25519 public key derivation");
  }
  return AgeIdentity(Kind::kX25519, std::move(data), internal::Bech32Encode("age", pub),
                     kDefaultMaxScryptWorkFactor);
}

AgeIdentity AgeIdentity::Passphrase(std::string_view passphrase, int max_work_factor) {
  return AgeIdentity(Kind::kScrypt, std::string(passphrase), "scrypt", max_work_factor);
}

Result<std::vector<AgeIdentity>> ParseAgeIdentities(std::string_view display_path,
                                                    std::string_view text) {
  std::vector<AgeIdentity> out;
  size_t pos = 0;
  int lineno = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++lineno;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = std::string(display_path) + ":" + std::to_string(lineno) + ": ";
    if (line.starts_with(kAgeArmorBegin) || line.starts_with(kAgeVersionLine)) {
      return InvalidArgument(where + "passphrase-encrypted identity files are not supported");
    }
    if (line.starts_with("AGE-PLUGIN-")) {
      return InvalidArgument(where + "age plugin identities are not supported");
    }
    if (!line.starts_with("AGE-SECRET-KEY-1")) {
      return InvalidArgument(where + "not an age identity (expected AGE-SECRET-KEY-1...)");
    }
    Result<AgeIdentity> id = AgeIdentity::ParseX25519(line);
    if (!id.ok()) return id.status().WithPrefix(where.substr(0, where.size() - 2));
    out.push_back(std::move(id).value());
  }
  if (out.empty()) return InvalidArgument(std::string(display_path) + ": no age identities found");
  return out;
}

bool LooksLikeAge(std::string_view content) {
  if (content.starts_with(std::string(kAgeVersionLine) + "\n")) return true;
  size_t i = 0;
  while (i < content.size() &&
         (content[i] == ' ' || content[i] == '\t' || content[i] == '\r' || content[i] == '\n'))
    ++i;
  return content.substr(i).starts_with(kAgeArmorBegin);
}

Result<std::string> AgeDearmor(std::string_view armored) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!armored.empty() && is_space(armored.front())) armored.remove_prefix(1);
  while (!armored.empty() && is_space(armored.back())) armored.remove_suffix(1);
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos <= armored.size()) {
    size_t nl = armored.find('\n', pos);
    std::string_view line =
        armored.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  if (lines.empty() || lines.front() != kAgeArmorBegin)
    return InvalidArgument("invalid armor: missing BEGIN AGE ENCRYPTED FILE line");
  if (lines.size() < 3 || lines.back() != kAgeArmorEnd)
    return InvalidArgument("invalid armor: missing END AGE ENCRYPTED FILE line");
  std::string out;
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    std::string_view l = lines[i];
    const bool final_line = i + 2 == lines.size();
    if (l.size() > 64 || (!final_line && l.size() != 64) || l.empty())
      return InvalidArgument("invalid armor: line " + std::to_string(i + 1) +
                             " is not a 64-column base64 line");
    std::string part;
    if (!Base64DecodeStrict(l, true, &part))
      return InvalidArgument("invalid armor: line " + std::to_string(i + 1) +
                             " is not canonical base64");
    if (!final_line && part.size() != 48)
      return InvalidArgument("invalid armor: padding before the last line");
    out += part;
  }
  return out;
}

Result<std::string> AgeDecrypt(std::string_view content,
                               const std::vector<AgeIdentity>& identities) {
  std::string dearmored;
  size_t lead = 0;
  while (lead < content.size() && (content[lead] == ' ' || content[lead] == '\t' ||
                                   content[lead] == '\r' || content[lead] == '\n'))
    ++lead;
  if (content.substr(lead).starts_with(kAgeArmorBegin)) {
    ASSIGN_OR_RETURN(dearmored, AgeDearmor(content));
    content = dearmored;
  }
  ASSIGN_OR_RETURN(Header h, ParseHeader(content));
  bool has_scrypt = false;
  for (const Stanza& st : h.stanzas) has_scrypt = has_scrypt || st.args[0] == "scrypt";
  if (has_scrypt && h.stanzas.size() != 1)
    return HeaderError("an scrypt stanza must be the only stanza");

  std::string file_key;
  Wiper wf(&file_key);
  bool found = false;
  bool tried_passphrase = false;
  for (const AgeIdentity& id : identities) {
    for (const Stanza& st : h.stanzas) {
      Result<std::optional<std::string>> r = std::optional<std::string>();
      if (id.kind() == AgeIdentity::Kind::kX25519 && st.args[0] == "X25519") {
        r = UnwrapX25519(st, id);
      } else if (id.kind() == AgeIdentity::Kind::kScrypt && st.args[0] == "scrypt") {
        tried_passphrase = true;
        r = UnwrapScrypt(st, id);
      } else {
        continue;
      }
      if (!r.ok()) return r.status();
      if (r->has_value()) {
        file_key = std::move(**r);
        found = true;
        break;
      }
    }
    if (found) break;
  }
  if (!found) {
    if (has_scrypt && !tried_passphrase)
      return InvalidArgument("file is passphrase-encrypted and no passphrase was given");
    if (has_scrypt) return InvalidArgument("incorrect passphrase");
    return InvalidArgument("no identity matched any of the file's recipients");
  }
  if (file_key.size() != kFileKeySize) return HeaderError("file key has the wrong size");
  std::string mac_key;
  Wiper wm(&mac_key);
  if (!internal::HkdfSha256(file_key, "", "header", 32, &mac_key))
    return Internal("HKDF-SHA256 failed");
  if (!ConstantTimeEquals(internal::HmacSha256(mac_key, h.mac_input), h.mac))
    return InvalidArgument("bad header MAC");
  return DecryptPayload(file_key, content.substr(h.payload_offset));
}

}  // namespace stackctl::secrets
