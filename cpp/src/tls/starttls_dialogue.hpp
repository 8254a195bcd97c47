#pragma once

// The plaintext part of SMTP, IMAP and POP3 up to the point where the client starts
// the TLS handshake. Pure state machines without I/O: the prober feeds them bytes and
// sends what they return.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dnsscience/tls/probe_result.hpp"

namespace dnsscience::tls::detail {

/// Splits a byte stream into lines ending in LF; a CR before the LF is dropped.
class LineBuffer {
 public:
  void append(std::string_view data) { buffer_.append(data.data(), data.size()); }
  /// Removes and returns the next complete line, or std::nullopt when none is complete.
  std::optional<std::string> next_line();
  /// Bytes received after the last complete line.
  const std::string& rest() const { return buffer_; }

 private:
  std::string buffer_;
};

/// One SMTP reply (RFC 5321 section 4.2): a code and its lines, with the code kept.
struct SmtpReply {
  int code = 0;
  std::vector<std::string> lines;

  std::string text() const;  ///< the lines joined with "\n"
};

/// Collects the lines of one multi-line SMTP reply.
class SmtpReplyReader {
 public:
  enum class State { incomplete, complete, malformed };
  /// Consumes lines from `lines` until the reply is complete or malformed.
  State read(LineBuffer& lines);
  const SmtpReply& reply() const { return reply_; }
  void reset() { reply_ = SmtpReply(); }

 private:
  SmtpReply reply_;
};

/// The next action of the prober in a STARTTLS dialogue.
struct DialogueStep {
  enum class Kind {
    wait,    ///< send `output` (may be empty), then feed more bytes
    ready,   ///< send nothing more in plaintext: start the TLS handshake now
    failed,  ///< the dialogue failed with `error`
  };
  Kind kind = Kind::wait;
  std::string output;
  ProbeError error;  ///< stage "starttls"
};

/// The client side of a STARTTLS dialogue: the server greeting, capability
/// discovery and the STARTTLS (or STLS) command.
class StartTlsDialogue {
 public:
  /// `ehlo_name` is the SMTP EHLO argument (RFC 5321 section 4.1.1.1).
  StartTlsDialogue(StartTls protocol, std::string ehlo_name);

  /// Feeds bytes received from the server and returns the next step. After `ready`
  /// or `failed`, further calls return the same step.
  DialogueStep feed(std::string_view data);

  /// The greeting of the server (SMTP 220 lines, IMAP or POP3 greeting line), as
  /// received so far, cut at kMaxBannerBytes.
  const std::string& banner() const { return banner_; }

 private:
  enum class Phase { greeting, capabilities, starttls, done };

  DialogueStep process_smtp();
  DialogueStep process_imap();
  DialogueStep process_pop3();
  DialogueStep fail(const std::string& reason, const std::string& detail, bool transient);
  DialogueStep ready();
  void set_banner(const std::string& text);

  static constexpr size_t kMaxBannerBytes = 4096;

  StartTls protocol_;
  std::string ehlo_name_;
  Phase phase_ = Phase::greeting;
  LineBuffer lines_;
  SmtpReplyReader smtp_reply_;
  bool offered_ = false;
  bool capabilities_failed_ = false;
  std::string banner_;
  DialogueStep final_;
};

}  // namespace dnsscience::tls::detail
