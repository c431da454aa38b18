#include "cli/http_client.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace conclave::cli {

std::string default_http_addr() {
  const char* v = std::getenv("CONCLAVE_HTTP_ADDR");
  if (!v || !*v) v = std::getenv("CONSUL_HTTP_ADDR");
  std::string a = v && *v ? v : "127.0.0.1:8500";
  if (a.rfind("http://", 0) == 0) a = a.substr(7);
  return a;
}

std::string url_path_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

Result<HttpReply> http_call(const std::string& address, const std::string& method, const std::string& path,
                            int timeout_ms, const std::string& body) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return make_error(Errc::kInvalid, "expected host:port, got " + address);
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
    return make_error(Errc::kInvalid, "cannot resolve " + address);
  int fd = socket(res->ai_family, SOCK_STREAM, 0);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int rc = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0) {
    close(fd);
    return make_error(Errc::kUnavailable, "cannot connect to " + address + ": " + strerror(errno));
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    ssize_t w = write(fd, req.data() + sent, req.size() - sent);
    if (w <= 0) {
      close(fd);
      return make_error(Errc::kIo, "cannot send to " + address);
    }
    sent += static_cast<size_t>(w);
  }
  std::string resp;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  auto sp = resp.find(' ');
  auto hdr_end = resp.find("\r\n\r\n");
  if (sp == std::string::npos || hdr_end == std::string::npos)
    return make_error(Errc::kIo, "malformed reply from " + address);
  HttpReply r;
  r.status = std::atoi(resp.c_str() + sp + 1);
  r.body = resp.substr(hdr_end + 4);
  std::string head = resp.substr(0, hdr_end);
  for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (auto pos = head.find("\r\nx-consul-index:"); pos != std::string::npos) {
    size_t start = pos + 18;
    while (start < head.size() && head[start] == ' ') ++start;
    r.index = head.substr(start, head.find("\r\n", start) - start);
  }
  return r;
}

}  // namespace conclave::cli
