#pragma once

// Public keys generated once with the openssl command line for the DKIM tests:
//   openssl genrsa 1024 | openssl rsa -pubout -outform DER | base64 -w0
//   openssl genrsa 2048 | openssl rsa -pubout -outform DER | base64 -w0
//   openssl genpkey -algorithm ed25519 | openssl pkey -pubout -outform DER | tail -c 32 | base64

namespace dnsscience::testing {

inline constexpr const char* kRsa1024PublicKey =
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQClemwb3uFnP12lPZeiVuhS2IHuzTyAIIv1YxiV9AaBAqWBo71jmWwDTFVGTgeFvT6Cjlb7n8i7MdwKim7HfBWdeSZIKUWKobqckTd+nOHBJs8rbYj1EC+Jgl1dI5Qzsv4O9rs+sOAIqW2Nj30Q6UqQoKg2yAASt0ySC91diN8DbQIDAQAB";

inline constexpr const char* kRsa2048PublicKey =
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA25bVTdZEctRsdEO8wmPSi9LoYvkFA+KMZYtXwgnheepraLW5VD8Q7fj/R9CK9UozCVwOcs2neKkbwYU7j6iEnzQ3LNT5sFiTcEeFSzsHv4nrbvi0nOKmZmjtWzML/OtxaIvWESCYYo/UenJX0C9/cg81Jftuo4/wydaOIR23gAa+yPqJuLCX4v3BcyjhJNOXAmc79nwsB2EgHy9HhX7riH8kZ4TNH3Jj+iELKLEq2PZqJCyNv2UpS/TVWeexXM+JxAYJcU5dWiB++oTfz0jsmxTAfDmRmODXucePxf6SJCIF+Tp2n1RB9pd78Gt5tugZPQEYUOCpl7hFGxbXBiIedQIDAQAB";

/// The raw 32-byte key, as RFC 8463 section 4.2 publishes Ed25519 keys.
inline constexpr const char* kEd25519PublicKey = "+aQzbWGeSFf+YnXwGhXB20bigQw+29+5afNs02FFcwE=";

}  // namespace dnsscience::testing
