#include "zk/sasl.h"

#include <cctype>

#include "common/digest.h"

namespace conclave::zk {

std::map<std::string, std::string> parse_directives(std::string_view s) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ',' || std::isspace(static_cast<unsigned char>(s[i])))) ++i;
    size_t eq = s.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string key(s.substr(i, eq - i));
    i = eq + 1;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value += s[i++];
      }
      ++i;  // closing quote
    } else {
      while (i < s.size() && s[i] != ',') value += s[i++];
    }
    out[key] = value;
  }
  return out;
}

SaslResult sasl_digest_md5_step(const std::map<std::string, std::string>& users, const std::string& realm,
                                std::string_view token, int* step, std::string* nonce,
                                const std::string& random, std::string* response, std::string* user) {
  if (*step == 0) {
    *nonce = base64_encode(random);
    *response = "realm=\"" + realm + "\",nonce=\"" + *nonce +
                "\",qop=\"auth\",charset=utf-8,algorithm=md5-sess";
    *step = 1;
    return SaslResult::kContinue;
  }
  if (*step != 1) return SaslResult::kFailed;
  auto d = parse_directives(token);
  auto it = users.find(d["username"]);
  if (it == users.end() || d["nonce"] != *nonce) return SaslResult::kFailed;
  std::string qop = d.count("qop") ? d["qop"] : "auth";
  if (qop != "auth") return SaslResult::kFailed;
  std::string r = d.count("realm") ? d["realm"] : realm;
  std::string a1 = std::string(as_view(md5(d["username"] + ":" + r + ":" + it->second))) + ":" + *nonce + ":" +
                   d["cnonce"];
  if (d.count("authzid")) a1 += ":" + d["authzid"];
  std::string ha1 = hex_encode(as_view(md5(a1)));
  auto digest = [&](const std::string& a2) {
    std::string ha2 = hex_encode(as_view(md5(a2)));
    return hex_encode(as_view(md5(ha1 + ":" + *nonce + ":" + d["nc"] + ":" + d["cnonce"] + ":" + qop + ":" + ha2)));
  };
  if (digest("AUTHENTICATE:" + d["digest-uri"]) != d["response"]) return SaslResult::kFailed;
  *response = "rspauth=" + digest(":" + d["digest-uri"]);
  *user = d.count("authzid") && !d["authzid"].empty() ? d["authzid"] : d["username"];
  *step = 2;
  return SaslResult::kDone;
}

bool parse_jaas_users(std::string_view jaas, std::map<std::string, std::string>* users) {
  auto server = jaas.find("Server");
  if (server == std::string_view::npos) return false;
  auto open = jaas.find('{', server);
  auto close = jaas.find('}', open);
  if (open == std::string_view::npos || close == std::string_view::npos) return false;
  std::string_view body = jaas.substr(open + 1, close - open - 1);
  size_t i = 0;
  while ((i = body.find("user_", i)) != std::string_view::npos) {
    size_t eq = body.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string name(body.substr(i + 5, eq - i - 5));
    while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back()))) name.pop_back();
    size_t q1 = body.find('"', eq);
    size_t q2 = q1 == std::string_view::npos ? q1 : body.find('"', q1 + 1);
    if (q2 == std::string_view::npos) return false;
    (*users)[name] = std::string(body.substr(q1 + 1, q2 - q1 - 1));
    i = q2 + 1;
  }
  return true;
}

}  // namespace conclave::zk
