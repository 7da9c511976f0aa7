// Status and Result<T>: errors as values.
//
// A Status carries a canonical code chosen by what the *caller* should do
// (abseil's convention), and a human message that already names its path
// ("services.web.deploy.replicas: must be an integer").
//   kUnavailable        retry the same call later (engine/git/notary down)
//   kAborted            redo the whole read-modify-write (stale version index)
//   kInvalidArgument,
//   kFailedPrecondition do not retry until the input changes
//   kNotFound, kAlreadyExists, kPermissionDenied, kUnauthenticated,
//   kDeadlineExceeded, kInternal, kUnknown: as in abseil.
// Result<T> holds either a value or a non-OK Status.
//
// Thread safety: plain values; safe to copy between threads.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace stackctl {

enum class Code {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kAborted,
  kUnavailable,
  kFailedPrecondition,
  kPermissionDenied,
  kUnauthenticated,
  kDeadlineExceeded,
  kInternal,
  kUnknown,
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NOT_FOUND: service web: no such service"
  std::string ToString() const;
  // Returns a copy whose message is "prefix: message" (path qualification).
  Status WithPrefix(std::string_view prefix) const;
  // True when retrying the same call later may succeed.
  bool IsRetryable() const {
    return code_ == Code::kUnavailable || code_ == Code::kAborted ||
           code_ == Code::kDeadlineExceeded;
  }

  bool operator==(const Status&) const = default;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status Aborted(std::string m) { return {Code::kAborted, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {Code::kFailedPrecondition, std::move(m)};
}
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
inline Status Unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result constructed from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace stackctl

// Early-return helpers for functions returning Status or Result<U>.
#define STACKCTL_CONCAT_INNER(a, b) a##b
#define STACKCTL_CONCAT(a, b) STACKCTL_CONCAT_INNER(a, b)
#define RETURN_IF_ERROR(expr)                     \
  do {                                            \
    ::stackctl::Status _st = (expr);              \
    if (!_st.ok()) return _st;                    \
  } while (0)
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(STACKCTL_CONCAT(_res_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
