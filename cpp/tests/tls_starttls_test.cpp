#include <gtest/gtest.h>

#include "tls/starttls_dialogue.hpp"

namespace dnsscience::tls::detail {
namespace {

using Kind = DialogueStep::Kind;

TEST(StartTlsSmtp, FullDialogueInFragments) {
  StartTlsDialogue dialogue(StartTls::smtp, "probe.test");
  DialogueStep step = dialogue.feed("220-mx.example ESMTP\r\n22");
  EXPECT_EQ(step.kind, Kind::wait);
  EXPECT_EQ(step.output, "");
  step = dialogue.feed("0 ready\r\n");
  EXPECT_EQ(step.kind, Kind::wait);
  EXPECT_EQ(step.output, "EHLO probe.test\r\n");
  EXPECT_EQ(dialogue.banner(), "220-mx.example ESMTP\n220 ready");

  step = dialogue.feed("250-mx.example\r\n250-SIZE 1000\r\n250-starttls\r\n");
  EXPECT_EQ(step.kind, Kind::wait);
  EXPECT_EQ(step.output, "");
  step = dialogue.feed("250 8BITMIME\r\n");
  EXPECT_EQ(step.kind, Kind::wait);
  EXPECT_EQ(step.output, "STARTTLS\r\n");

  step = dialogue.feed("220 2.0.0 go ahead\r\n");
  EXPECT_EQ(step.kind, Kind::ready);
}

TEST(StartTlsSmtp, BareLfAccepted) {
  StartTlsDialogue dialogue(StartTls::smtp, "probe.test");
  EXPECT_EQ(dialogue.feed("220 hi\n").output, "EHLO probe.test\r\n");
  EXPECT_EQ(dialogue.feed("250-hi\n250 STARTTLS\n").output, "STARTTLS\r\n");
  EXPECT_EQ(dialogue.feed("220 go\n").kind, Kind::ready);
}

TEST(StartTlsSmtp, StartTlsInGreetingDoesNotCount) {
  StartTlsDialogue dialogue(StartTls::smtp, "probe.test");
  dialogue.feed("220 STARTTLS supported here\r\n");
  const DialogueStep step = dialogue.feed("250-mx\r\n250 PIPELINING\r\n");
  EXPECT_EQ(step.kind, Kind::failed);
  EXPECT_EQ(step.error.reason, "starttls_not_offered");
  EXPECT_EQ(step.error.stage, "starttls");
  EXPECT_FALSE(step.error.transient);
}

TEST(StartTlsSmtp, TransientReplies) {
  for (const char* greeting : {"421 4.3.2 shutting down\r\n", "450 try later\r\n"}) {
    StartTlsDialogue dialogue(StartTls::smtp, "probe.test");
    const DialogueStep step = dialogue.feed(greeting);
    EXPECT_EQ(step.kind, Kind::failed) << greeting;
    EXPECT_EQ(step.error.reason, "transient") << greeting;
    EXPECT_TRUE(step.error.transient) << greeting;
  }
  StartTlsDialogue dialogue(StartTls::smtp, "probe.test");
  dialogue.feed("220 hi\r\n");
  dialogue.feed("250-hi\r\n250 STARTTLS\r\n");
  const DialogueStep step = dialogue.feed("454 4.7.0 TLS not available now\r\n");
  EXPECT_EQ(step.error.reason, "transient");
  EXPECT_TRUE(step.error.transient);
}

TEST(StartTlsSmtp, PermanentRejections) {
  StartTlsDialogue greeting(StartTls::smtp, "probe.test");
  EXPECT_EQ(greeting.feed("554 no service\r\n").error.reason, "starttls_rejected");

  StartTlsDialogue ehlo(StartTls::smtp, "probe.test");
  ehlo.feed("220 hi\r\n");
  EXPECT_EQ(ehlo.feed("502 command not implemented\r\n").error.reason, "starttls_not_offered");

  StartTlsDialogue starttls(StartTls::smtp, "probe.test");
  starttls.feed("220 hi\r\n");
  starttls.feed("250-hi\r\n250 STARTTLS\r\n");
  EXPECT_EQ(starttls.feed("501 syntax error\r\n").error.reason, "starttls_rejected");
}

TEST(StartTlsSmtp, MalformedReplyIsProtocolError) {
  StartTlsDialogue not_digits(StartTls::smtp, "probe.test");
  EXPECT_EQ(not_digits.feed("HTTP/1.1 400 Bad Request\r\n").error.reason, "protocol_error");

  StartTlsDialogue mixed_codes(StartTls::smtp, "probe.test");
  EXPECT_EQ(mixed_codes.feed("220-hi\r\n250 there\r\n").error.reason, "protocol_error");
}

TEST(StartTlsSmtp, DataAfterGoAheadRejected) {
  StartTlsDialogue dialogue(StartTls::smtp, "probe.test");
  dialogue.feed("220 hi\r\n");
  dialogue.feed("250-hi\r\n250 STARTTLS\r\n");
  const DialogueStep step = dialogue.feed("220 go ahead\r\nextra");
  EXPECT_EQ(step.kind, Kind::failed);
  EXPECT_EQ(step.error.reason, "protocol_error");
}

TEST(StartTlsSmtp, FinalStepRepeats) {
  StartTlsDialogue dialogue(StartTls::smtp, "probe.test");
  dialogue.feed("421 bye\r\n");
  const DialogueStep again = dialogue.feed("220 hi\r\n");
  EXPECT_EQ(again.kind, Kind::failed);
  EXPECT_EQ(again.error.reason, "transient");
}

TEST(StartTlsSmtp, BannerIsCapped) {
  StartTlsDialogue dialogue(StartTls::smtp, "probe.test");
  std::string flood;
  for (int i = 0; i < 1000; ++i) flood += "220-line of greeting text\r\n";
  EXPECT_EQ(dialogue.feed(flood).kind, Kind::wait);
  EXPECT_EQ(dialogue.banner().size(), 4096u);
}

TEST(StartTlsImap, CapabilityThenStartTls) {
  StartTlsDialogue dialogue(StartTls::imap, "probe.test");
  DialogueStep step = dialogue.feed("* OK [CAPABILITY IMAP4rev1] ready\r\n");
  EXPECT_EQ(step.output, "a0 CAPABILITY\r\n");
  EXPECT_EQ(dialogue.banner(), "* OK [CAPABILITY IMAP4rev1] ready");
  step = dialogue.feed("* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN\r\na0 OK done\r\n");
  EXPECT_EQ(step.output, "a1 STARTTLS\r\n");
  step = dialogue.feed("a1 OK Begin TLS\r\n");
  EXPECT_EQ(step.kind, Kind::ready);
}

TEST(StartTlsImap, FailureReplies) {
  StartTlsDialogue bye(StartTls::imap, "probe.test");
  const DialogueStep bye_step = bye.feed("* BYE too many connections\r\n");
  EXPECT_EQ(bye_step.error.reason, "transient");
  EXPECT_TRUE(bye_step.error.transient);

  StartTlsDialogue preauth(StartTls::imap, "probe.test");
  EXPECT_EQ(preauth.feed("* PREAUTH welcome\r\n").error.reason, "starttls_not_offered");

  StartTlsDialogue rejected(StartTls::imap, "probe.test");
  rejected.feed("* OK hi\r\n");
  rejected.feed("* CAPABILITY IMAP4rev1 STARTTLS\r\na0 OK\r\n");
  EXPECT_EQ(rejected.feed("a1 NO not now\r\n").error.reason, "starttls_rejected");

  StartTlsDialogue missing(StartTls::imap, "probe.test");
  missing.feed("* OK hi\r\n");
  EXPECT_EQ(missing.feed("* CAPABILITY IMAP4rev1 XSTARTTLS\r\na0 OK\r\n").error.reason,
            "starttls_not_offered");
}

TEST(StartTlsPop3, CapaThenStls) {
  StartTlsDialogue dialogue(StartTls::pop3, "probe.test");
  EXPECT_EQ(dialogue.feed("+OK ready\r\n").output, "CAPA\r\n");
  EXPECT_EQ(dialogue.feed("+OK\r\nUSER\r\nSTLS\r\n.\r\n").output, "STLS\r\n");
  EXPECT_EQ(dialogue.feed("+OK go\r\n").kind, Kind::ready);
}

TEST(StartTlsPop3, WithoutCapaTriesStls) {
  StartTlsDialogue dialogue(StartTls::pop3, "probe.test");
  dialogue.feed("+OK ready\r\n");
  EXPECT_EQ(dialogue.feed("-ERR unknown command\r\n").output, "STLS\r\n");
  const DialogueStep step = dialogue.feed("-ERR unknown command\r\n");
  EXPECT_EQ(step.kind, Kind::failed);
  EXPECT_EQ(step.error.reason, "starttls_not_offered");
}

TEST(StartTlsPop3, FailureReplies) {
  StartTlsDialogue busy(StartTls::pop3, "probe.test");
  EXPECT_TRUE(busy.feed("-ERR [IN-USE] busy\r\n").error.transient);

  StartTlsDialogue not_listed(StartTls::pop3, "probe.test");
  not_listed.feed("+OK ready\r\n");
  EXPECT_EQ(not_listed.feed("+OK\r\nUSER\r\n.\r\n").error.reason, "starttls_not_offered");

  StartTlsDialogue rejected(StartTls::pop3, "probe.test");
  rejected.feed("+OK ready\r\n");
  rejected.feed("+OK\r\nSTLS\r\n.\r\n");
  EXPECT_EQ(rejected.feed("-ERR no\r\n").error.reason, "starttls_rejected");
}

TEST(SmtpReplyReaderTest, MultiLineReply) {
  LineBuffer lines;
  SmtpReplyReader reader;
  lines.append("250-first\r\n250-second\r\n");
  EXPECT_EQ(reader.read(lines), SmtpReplyReader::State::incomplete);
  lines.append("250\r\n");
  EXPECT_EQ(reader.read(lines), SmtpReplyReader::State::complete);
  EXPECT_EQ(reader.reply().code, 250);
  EXPECT_EQ(reader.reply().text(), "250-first\n250-second\n250");
}

}  // namespace
}  // namespace dnsscience::tls::detail
