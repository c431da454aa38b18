// Server side of SASL DIGEST-MD5 (RFC 2831, auth qop only), as ZooKeeper's SaslServer runs it
// for clients with a JAAS Client section. Users come from a JAAS file's Server section
// (`user_NAME="password"`, DigestLoginModule).
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace conclave::zk {

enum class SaslResult { kContinue, kDone, kFailed };

/// Runs one step of the exchange. `step` and `nonce` carry the state between calls;
/// `random` supplies fresh bytes for the nonce. On kDone, `user` is the authenticated name.
SaslResult sasl_digest_md5_step(const std::map<std::string, std::string>& users, const std::string& realm,
                                std::string_view token, int* step, std::string* nonce,
                                const std::string& random, std::string* response, std::string* user);

/// Parses a JAAS configuration's `Server { ... }` section for user_NAME="password" entries.
bool parse_jaas_users(std::string_view jaas, std::map<std::string, std::string>* users);

/// Parses DIGEST-MD5 directives: a=b,c="d e". Exposed for tests.
std::map<std::string, std::string> parse_directives(std::string_view s);

}  // namespace conclave::zk
