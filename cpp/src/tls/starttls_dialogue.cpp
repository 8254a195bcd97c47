#include "tls/starttls_dialogue.hpp"

#include <cctype>

namespace dnsscience::tls::detail {

namespace {

std::string uppercase(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

bool starts_with(const std::string& text, const char* prefix) {
  return text.compare(0, std::char_traits<char>::length(prefix), prefix) == 0;
}

// Returns true when `capability` appears as a whole space-separated word of `line`.
bool has_word(const std::string& line, const std::string& capability) {
  const std::string upper = uppercase(line);
  size_t start = 0;
  while (start < upper.size()) {
    size_t end = upper.find_first_of(" []", start);
    if (end == std::string::npos) end = upper.size();
    if (upper.compare(start, end - start, capability) == 0) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

std::optional<std::string> LineBuffer::next_line() {
  const size_t end = buffer_.find('\n');
  if (end == std::string::npos) return std::nullopt;
  std::string line = buffer_.substr(0, end);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  buffer_.erase(0, end + 1);
  return line;
}

std::string SmtpReply::text() const {
  std::string joined;
  for (const auto& line : lines) {
    if (!joined.empty()) joined += "\n";
    joined += line;
  }
  return joined;
}

SmtpReplyReader::State SmtpReplyReader::read(LineBuffer& lines) {
  while (auto line = lines.next_line()) {
    // RFC 5321 section 4.2: three digits, then '-' on every line but the last, which
    // has a space or nothing.
    const bool digits = line->size() >= 3 && std::isdigit(static_cast<unsigned char>((*line)[0])) &&
                        std::isdigit(static_cast<unsigned char>((*line)[1])) &&
                        std::isdigit(static_cast<unsigned char>((*line)[2]));
    const char separator = line->size() > 3 ? (*line)[3] : ' ';
    if (!digits || (separator != ' ' && separator != '-')) {
      reply_.lines.push_back(*line);
      return State::malformed;
    }
    const int code = std::stoi(line->substr(0, 3));
    if (!reply_.lines.empty() && code != reply_.code) {
      reply_.lines.push_back(*line);
      return State::malformed;
    }
    reply_.code = code;
    reply_.lines.push_back(*line);
    if (separator == ' ') return State::complete;
  }
  return State::incomplete;
}

StartTlsDialogue::StartTlsDialogue(StartTls protocol, std::string ehlo_name)
    : protocol_(protocol), ehlo_name_(std::move(ehlo_name)) {}

DialogueStep StartTlsDialogue::fail(const std::string& reason, const std::string& detail,
                                    bool transient) {
  phase_ = Phase::done;
  final_.kind = DialogueStep::Kind::failed;
  final_.error = ProbeError{"starttls", reason, detail, transient};
  final_.output.clear();
  return final_;
}

void StartTlsDialogue::set_banner(const std::string& text) {
  banner_ = text.substr(0, kMaxBannerBytes);
}

DialogueStep StartTlsDialogue::ready() {
  // Bytes after the go-ahead would be read as TLS records. A server that sends them
  // is broken or is being tampered with (the STARTTLS injection of RFC 3207 section 5).
  if (!lines_.rest().empty()) {
    return fail("protocol_error", "unexpected data after the STARTTLS go-ahead", false);
  }
  phase_ = Phase::done;
  final_.kind = DialogueStep::Kind::ready;
  final_.output.clear();
  return final_;
}

DialogueStep StartTlsDialogue::feed(std::string_view data) {
  if (phase_ == Phase::done) return final_;
  lines_.append(data);
  switch (protocol_) {
    case StartTls::smtp:
      return process_smtp();
    case StartTls::imap:
      return process_imap();
    case StartTls::pop3:
      return process_pop3();
    case StartTls::none:
      break;
  }
  return ready();
}

DialogueStep StartTlsDialogue::process_smtp() {
  DialogueStep step;
  for (;;) {
    const auto state = smtp_reply_.read(lines_);
    if (phase_ == Phase::greeting) set_banner(smtp_reply_.reply().text());
    if (state == SmtpReplyReader::State::incomplete) return step;
    const SmtpReply reply = smtp_reply_.reply();
    smtp_reply_.reset();
    if (state == SmtpReplyReader::State::malformed) {
      return fail("protocol_error", "malformed SMTP reply: " + reply.text(), false);
    }
    // RFC 5321 section 4.2.1: 4yz is a transient failure (421: service closing).
    if (reply.code >= 400 && reply.code < 500) {
      return fail("transient", reply.text(), true);
    }

    switch (phase_) {
      case Phase::greeting:
        if (reply.code != 220) return fail("starttls_rejected", reply.text(), false);
        phase_ = Phase::capabilities;
        step.output += "EHLO " + ehlo_name_ + "\r\n";
        break;
      case Phase::capabilities:
        // A 5xx to EHLO means no ESMTP, so no STARTTLS (RFC 3207 section 4).
        if (reply.code != 250) return fail("starttls_not_offered", reply.text(), false);
        for (size_t i = 1; i < reply.lines.size(); ++i) {
          if (reply.lines[i].size() > 4 && has_word(reply.lines[i].substr(4), "STARTTLS")) {
            offered_ = true;
          }
        }
        if (!offered_) return fail("starttls_not_offered", reply.text(), false);
        phase_ = Phase::starttls;
        step.output += "STARTTLS\r\n";
        break;
      case Phase::starttls:
        if (reply.code != 220) return fail("starttls_rejected", reply.text(), false);
        return ready();
      case Phase::done:
        return final_;
    }
  }
}

DialogueStep StartTlsDialogue::process_imap() {
  DialogueStep step;
  while (auto line = lines_.next_line()) {
    const std::string upper = uppercase(*line);
    switch (phase_) {
      case Phase::greeting:
        set_banner(*line);
        // RFC 3501 section 7.1.5: BYE at greeting is usually "too many connections".
        if (starts_with(upper, "* BYE")) return fail("transient", *line, true);
        if (starts_with(upper, "* PREAUTH")) {
          // STARTTLS is only valid in the not-authenticated state (RFC 3501 section 6.2.1).
          return fail("starttls_not_offered", *line, false);
        }
        if (!starts_with(upper, "* OK")) return fail("protocol_error", *line, false);
        phase_ = Phase::capabilities;
        step.output += "a0 CAPABILITY\r\n";
        break;
      case Phase::capabilities:
        if (starts_with(upper, "* CAPABILITY") && has_word(upper, "STARTTLS")) offered_ = true;
        if (starts_with(upper, "A0 ")) {
          if (!offered_) return fail("starttls_not_offered", *line, false);
          phase_ = Phase::starttls;
          step.output += "a1 STARTTLS\r\n";
        }
        break;
      case Phase::starttls:
        if (starts_with(upper, "* BYE")) return fail("transient", *line, true);
        if (starts_with(upper, "A1 OK")) return ready();
        if (starts_with(upper, "A1 ")) return fail("starttls_rejected", *line, false);
        break;
      case Phase::done:
        return final_;
    }
  }
  return step;
}

DialogueStep StartTlsDialogue::process_pop3() {
  DialogueStep step;
  while (auto line = lines_.next_line()) {
    switch (phase_) {
      case Phase::greeting:
        set_banner(*line);
        // A -ERR greeting is typically a connection limit; retrying later may work.
        if (starts_with(*line, "-ERR")) return fail("transient", *line, true);
        if (!starts_with(*line, "+OK")) return fail("protocol_error", *line, false);
        phase_ = Phase::capabilities;
        step.output += "CAPA\r\n";
        break;
      case Phase::capabilities:
        // RFC 2449 section 5: +OK, one capability per line, then a lone ".". A server
        // without CAPA replies -ERR, and STLS is then tried anyway.
        if (starts_with(*line, "-ERR") && !capabilities_failed_ && !offered_) {
          capabilities_failed_ = true;
          phase_ = Phase::starttls;
          step.output += "STLS\r\n";
        } else if (*line == ".") {
          if (!offered_) return fail("starttls_not_offered", "CAPA lists no STLS", false);
          phase_ = Phase::starttls;
          step.output += "STLS\r\n";
        } else if (has_word(*line, "STLS")) {
          offered_ = true;
        }
        break;
      case Phase::starttls:
        if (starts_with(*line, "+OK")) return ready();
        if (capabilities_failed_) return fail("starttls_not_offered", *line, false);
        return fail("starttls_rejected", *line, false);
      case Phase::done:
        return final_;
    }
  }
  return step;
}

}  // namespace dnsscience::tls::detail
