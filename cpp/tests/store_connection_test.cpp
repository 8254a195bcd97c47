#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "dnsscience/error.hpp"
#include "dnsscience/store/connection.hpp"

namespace dnsscience {
namespace {

// Returns a loopback TCP port with no listener: bound, then released.
int unused_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

TEST(StoreConnection, UnreachableServerIsRetryableDatabaseError) {
  const std::string url = "postgresql://app:s3cret-pw@127.0.0.1:" +
                          std::to_string(unused_loopback_port()) + "/db?connect_timeout=2";
  try {
    Connection connection(url);
    FAIL() << "connected to a port with no server";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::database);
    EXPECT_TRUE(error.retryable());
    EXPECT_EQ(std::string(error.what()).find("s3cret-pw"), std::string::npos) << error.what();
  }
}

TEST(StoreConnection, MalformedKeywordStringIsConfigurationError) {
  try {
    Connection connection("host=127.0.0.1 password='hunter22 port");
    FAIL() << "accepted an unterminated quoted value";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::configuration);
    EXPECT_EQ(std::string(error.what()).find("hunter22"), std::string::npos) << error.what();
  }
}

TEST(StoreConnection, UnknownOptionIsConfigurationErrorWithoutPassword) {
  try {
    Connection connection("host=127.0.0.1 password=topsecret7 no_such_option=1");
    FAIL() << "accepted an unknown connection option";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::configuration);
    EXPECT_NE(std::string(error.what()).find("no_such_option"), std::string::npos);
    EXPECT_EQ(std::string(error.what()).find("topsecret7"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace dnsscience
