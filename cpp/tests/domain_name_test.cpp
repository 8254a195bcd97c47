#include "dnsscience/domain_name.hpp"

#include <gtest/gtest.h>

#include "dnsscience/error.hpp"

namespace dnsscience {
namespace {

std::string rejection_message(const std::string& input) {
  try {
    normalize_domain(input);
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::invalid_argument);
    return error.what();
  }
  ADD_FAILURE() << "'" << input << "' was accepted";
  return "";
}

TEST(DomainName, FoldsCaseAndDropsTrailingDot) {
  EXPECT_EQ(normalize_domain("Example.COM."), "example.com");
  EXPECT_EQ(normalize_domain("example.com"), "example.com");
  EXPECT_EQ(normalize_domain("_dmarc.Example.com"), "_dmarc.example.com");
  EXPECT_EQ(normalize_domain("-edge-.example"), "-edge-.example");
  EXPECT_EQ(normalize_domain("localhost"), "localhost");
}

TEST(DomainName, ConvertsUnicodeToALabels) {
  EXPECT_EQ(normalize_domain("bücher.example"), "xn--bcher-kva.example");
  EXPECT_EQ(normalize_domain("BÜCHER.example."), "xn--bcher-kva.example");
  // Nontransitional processing keeps the sharp s instead of mapping it to "ss".
  EXPECT_EQ(normalize_domain("faß.de"), "xn--fa-hia.de");
  EXPECT_EQ(normalize_domain("_dmarc.bücher.example"), "_dmarc.xn--bcher-kva.example");
}

TEST(DomainName, RejectsEmptyAndEmptyLabels) {
  EXPECT_NE(rejection_message("").find("empty"), std::string::npos);
  EXPECT_NE(rejection_message(".").find("empty"), std::string::npos);
  EXPECT_NE(rejection_message("a..b").find("empty label"), std::string::npos);
  EXPECT_NE(rejection_message(".example.com").find("empty label"), std::string::npos);
}

TEST(DomainName, RejectsTooLong) {
  const std::string label63(63, 'a');
  EXPECT_EQ(normalize_domain(label63 + ".com"), label63 + ".com");
  EXPECT_NE(rejection_message(std::string(64, 'a') + ".com").find("maximum of 63"), std::string::npos);

  // 4 labels of 63 plus 3 dots = 255 octets; 253 is the limit.
  const std::string name255 = label63 + "." + label63 + "." + label63 + "." + label63;
  EXPECT_NE(rejection_message(name255).find("maximum of 253"), std::string::npos);
  const std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  EXPECT_EQ(normalize_domain(name253), name253);
}

TEST(DomainName, RejectsBadCharacters) {
  EXPECT_NE(rejection_message("exa mple.com").find("byte 32"), std::string::npos);
  EXPECT_NE(rejection_message("example.com/").find("'/'"), std::string::npos);
  EXPECT_NE(rejection_message("user@example.com").find("'@'"), std::string::npos);
}

TEST(DomainName, MessageNamesValueAndFix) {
  const std::string message = rejection_message("bad!name.com");
  EXPECT_NE(message.find("invalid domain name 'bad!name.com'"), std::string::npos) << message;
  EXPECT_NE(message.find("pass a name such as example.com"), std::string::npos) << message;
}

TEST(DomainName, RejectsInvalidUnicode) {
  // U+2764 HEAVY BLACK HEART is disallowed by IDNA 2008.
  EXPECT_NE(rejection_message("\xe2\x9d\xa4.example").find("internationalized"), std::string::npos);
  // A lone continuation byte is not UTF-8.
  EXPECT_FALSE(rejection_message("\x80.example").empty());
}

}  // namespace
}  // namespace dnsscience
