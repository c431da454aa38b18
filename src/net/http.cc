#include "net/http.h"

#include <algorithm>
#include <cctype>

#include "common/log.h"

namespace conclave::net {

std::string status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

ParseStatus parse_http_request(std::string_view in, size_t max_body_bytes, HttpRequest* out, size_t* consumed,
                               std::string* error) {
  auto end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (in.size() > 64 * 1024) {
      *error = "request header too large";
      return ParseStatus::kBad;
    }
    return ParseStatus::kIncomplete;
  }
  std::string_view head = in.substr(0, end);
  auto line_end = head.find("\r\n");
  std::string_view request_line = head.substr(0, line_end);
  auto sp1 = request_line.find(' ');
  auto sp2 = request_line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1 || request_line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0) {
    *error = "malformed request line";
    return ParseStatus::kBad;
  }
  out->method = std::string(request_line.substr(0, sp1));
  out->target = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
  if (out->target.empty() || out->target[0] != '/') {
    *error = "malformed request target";
    return ParseStatus::kBad;
  }
  auto qpos = out->target.find('?');
  out->path = percent_decode(std::string_view(out->target).substr(0, qpos), false);
  out->query.clear();
  if (qpos != std::string::npos) {
    std::string_view q = std::string_view(out->target).substr(qpos + 1);
    while (!q.empty()) {
      auto amp = q.find('&');
      std::string_view kv = q.substr(0, amp);
      auto eq = kv.find('=');
      std::string k = percent_decode(kv.substr(0, eq), true);
      std::string v = eq == std::string_view::npos ? "" : percent_decode(kv.substr(eq + 1), true);
      if (!k.empty()) out->query[k] = v;
      if (amp == std::string_view::npos) break;
      q.remove_prefix(amp + 1);
    }
  }
  out->headers.clear();
  std::string_view rest = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
  while (!rest.empty()) {
    auto le = rest.find("\r\n");
    std::string_view line = rest.substr(0, le);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      *error = "malformed header line";
      return ParseStatus::kBad;
    }
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    out->headers[name] = std::string(value);
    if (le == std::string_view::npos) break;
    rest.remove_prefix(le + 2);
  }
  if (out->headers.count("transfer-encoding")) {
    *error = "chunked request bodies are not supported; send Content-Length";
    return ParseStatus::kBad;
  }
  size_t body_len = 0;
  if (auto it = out->headers.find("content-length"); it != out->headers.end()) {
    const std::string& v = it->second;
    if (v.empty() || v.size() > 12 || !std::all_of(v.begin(), v.end(), ::isdigit)) {
      *error = "bad Content-Length";
      return ParseStatus::kBad;
    }
    body_len = std::stoull(v);
    if (body_len > max_body_bytes) {
      *error = "request body too large";
      return ParseStatus::kBad;
    }
  }
  size_t total = end + 4 + body_len;
  if (in.size() < total) return ParseStatus::kIncomplete;
  out->body = std::string(in.substr(end + 4, body_len));
  *consumed = total;
  return ParseStatus::kComplete;
}

namespace {

class HttpConnection : public StreamHandler {
 public:
  HttpConnection(HttpServer& server, Stream& stream, std::shared_ptr<bool> server_alive)
      : server_(server), stream_(stream), server_alive_(std::move(server_alive)),
        alive_(std::make_shared<bool>(true)) {}
  ~HttpConnection() override { *alive_ = false; }

  void on_data(std::string_view bytes) override {
    buf_.append(bytes.data(), bytes.size());
    pump();
  }
  void on_close() override {
    closed_ = true;
    *alive_ = false;
  }

 private:
  void pump() {
    while (!busy_ && !closed_ && !buf_.empty()) {
      HttpRequest req;
      size_t consumed = 0;
      std::string error;
      auto st = parse_http_request(buf_, server_.max_body_bytes(), &req, &consumed, &error);
      if (st == ParseStatus::kIncomplete) return;
      if (st == ParseStatus::kBad) {
        HttpResponse resp;
        resp.status = error.find("too large") != std::string::npos ? 413 : 400;
        resp.content_type = "text/plain; charset=utf-8";
        resp.body = error + "\n";
        write(resp, false);
        stream_.close();
        closed_ = true;
        return;
      }
      buf_.erase(0, consumed);
      req.remote_address = stream_.remote_address();
      keep_alive_ = req.header("connection") != "close";
      busy_ = true;
      std::weak_ptr<bool> alive = alive_;
      server_.handler().handle(req, [this, alive](HttpResponse resp) {
        auto a = alive.lock();
        if (!a || !*a) return;
        write(resp, keep_alive_);
        busy_ = false;
        if (!keep_alive_) {
          stream_.close();
          closed_ = true;
          return;
        }
        pump();
      });
    }
  }

  void write(const HttpResponse& resp, bool keep_alive) {
    std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + status_text(resp.status) + "\r\n";
    out += "Content-Type: " + resp.content_type + "\r\n";
    for (const auto& [k, v] : resp.headers) out += k + ": " + v + "\r\n";
    out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
    if (!keep_alive) out += "Connection: close\r\n";
    out += "\r\n";
    out += resp.body;
    stream_.send(std::move(out));
  }

  HttpServer& server_;
  Stream& stream_;
  std::shared_ptr<bool> server_alive_;
  std::shared_ptr<bool> alive_;
  std::string buf_;
  bool busy_ = false;
  bool closed_ = false;
  bool keep_alive_ = true;
};

}  // namespace

std::unique_ptr<StreamHandler> HttpServer::accept(Stream& stream) {
  return std::make_unique<HttpConnection>(*this, stream, alive_);
}

}  // namespace conclave::net
