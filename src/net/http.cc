#include "net/http.h"

#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <optional>

#include "common/log.h"

namespace conclave::net {
namespace beast_http = boost::beast::http;
using Parser = beast_http::request_parser<beast_http::string_body>;

std::string_view status_text(int status) {
  auto reason = beast_http::obsolete_reason(static_cast<beast_http::status>(status));
  return reason.empty() ? std::string_view("Status") : std::string_view(reason.data(), reason.size());
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10; };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) && std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

std::unique_ptr<Parser> new_parser(const HttpLimits& limits) {
  auto p = std::make_unique<Parser>();
  p->header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  p->body_limit(limits.max_body_bytes);
  p->eager(true);
  return p;
}

int status_for(const boost::system::error_code& ec) {
  if (ec == beast_http::error::body_limit) return 413;
  if (ec == beast_http::error::header_limit) return 431;
  return 400;
}

/// Moves a parsed message into our request type. False (with `error`) when the target is not a path.
bool fill_request(Parser::value_type&& msg, HttpRequest* out, std::string* error) {
  out->method = std::string(msg.method_string());
  out->target = std::string(msg.target());
  if (out->target.empty() || out->target[0] != '/') {
    *error = "malformed request target";
    return false;
  }
  auto qpos = out->target.find('?');
  out->path = percent_decode(std::string_view(out->target).substr(0, qpos), false);
  out->query.clear();
  out->query_list.clear();
  if (qpos != std::string::npos) {
    std::string_view q = std::string_view(out->target).substr(qpos + 1);
    while (!q.empty()) {
      auto amp = q.find('&');
      std::string_view kv = q.substr(0, amp);
      auto eq = kv.find('=');
      std::string k = percent_decode(kv.substr(0, eq), true);
      std::string v = eq == std::string_view::npos ? "" : percent_decode(kv.substr(eq + 1), true);
      if (!k.empty()) {
        out->query[k] = v;
        out->query_list.emplace_back(std::move(k), std::move(v));
      }
      if (amp == std::string_view::npos) break;
      q.remove_prefix(amp + 1);
    }
  }
  out->headers.clear();
  for (const auto& f : msg) {
    std::string name(f.name_string());
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    out->headers[name] = std::string(f.value());
  }
  out->body = std::move(msg.body());
  return true;
}

}  // namespace

ParseStatus parse_http_request(std::string_view in, size_t max_body_bytes, HttpRequest* out, size_t* consumed,
                               std::string* error, int* status) {
  HttpLimits limits;
  limits.max_body_bytes = max_body_bytes;
  auto parser = new_parser(limits);
  size_t used = 0;
  while (!parser->is_done()) {
    boost::system::error_code ec;
    size_t n = parser->put(boost::asio::const_buffer(in.data() + used, in.size() - used), ec);
    used += n;
    if (ec == beast_http::error::need_more) {
      if (used >= in.size() || n == 0) return ParseStatus::kIncomplete;
      continue;
    }
    if (ec) {
      *error = ec.message();
      if (status) *status = status_for(ec);
      return ParseStatus::kBad;
    }
    if (n == 0 && !parser->is_done()) return ParseStatus::kIncomplete;
  }
  if (!fill_request(parser->release(), out, error)) {
    if (status) *status = 400;
    return ParseStatus::kBad;
  }
  *consumed = used;
  return ParseStatus::kComplete;
}

class HttpConnectionBase : public StreamHandler {
 public:
  virtual void expire(int64_t now_ms) = 0;
};

namespace {

class HttpConnection : public HttpConnectionBase {
 public:
  HttpConnection(HttpServer& server, Stream& stream)
      : server_(server), stream_(stream), alive_(std::make_shared<bool>(true)), last_activity_ms_(server.now_ms()) {
    server_.add(this);
  }
  ~HttpConnection() override {
    *alive_ = false;
    server_.remove(this);
  }

  void on_data(std::string_view bytes) override {
    buf_.append(bytes.data(), bytes.size());
    last_activity_ms_ = server_.now_ms();
    pump();
  }
  void on_close() override {
    closed_ = true;
    *alive_ = false;
  }

  void expire(int64_t now_ms) override {
    if (closed_ || busy_) return;  // a request in flight (e.g. a blocking query) is never cut off
    bool mid_request = !buf_.empty() || (parser_ && parser_->got_some());
    int64_t limit = mid_request ? server_.limits().header_timeout_ms : server_.limits().idle_timeout_ms;
    if (now_ms - last_activity_ms_ <= limit) return;
    if (mid_request) {
      HttpResponse r;
      r.status = 408;
      r.content_type = "text/plain; charset=utf-8";
      r.body = "request not completed in time\n";
      write(r, false, false);
    }
    close();
  }

 private:
  void close() {
    stream_.close();
    closed_ = true;
  }

  void pump() {
    while (!busy_ && !closed_) {
      if (!parser_) parser_ = new_parser(server_.limits());
      boost::system::error_code ec;
      size_t n = buf_.empty() ? 0 : parser_->put(boost::asio::const_buffer(buf_.data(), buf_.size()), ec);
      if (buf_.empty()) ec = beast_http::error::need_more;
      buf_.erase(0, n);
      if (ec == beast_http::error::need_more) {
        if (parser_->is_header_done() && !sent_continue_) {
          // curl sends `Expect: 100-continue` for bodies over 1 KiB and waits for this.
          auto expect = parser_->get()[beast_http::field::expect];
          if (beast_http::token_list(expect).exists("100-continue")) stream_.send("HTTP/1.1 100 Continue\r\n\r\n");
          sent_continue_ = true;
        }
        if (n == 0) return;  // wait for more bytes
        continue;
      }
      if (ec) {
        HttpResponse resp;
        resp.status = status_for(ec);
        resp.content_type = "text/plain; charset=utf-8";
        resp.body = "bad request: " + ec.message() + "\n";
        write(resp, false, false);
        close();
        return;
      }
      if (!parser_->is_done()) {
        if (n == 0) return;
        continue;
      }
      auto msg = parser_->release();
      parser_.reset();
      sent_continue_ = false;
      keep_alive_ = msg.keep_alive();
      HttpRequest req;
      std::string error;
      if (!fill_request(std::move(msg), &req, &error)) {
        HttpResponse resp;
        resp.status = 400;
        resp.content_type = "text/plain; charset=utf-8";
        resp.body = error + "\n";
        write(resp, false, false);
        close();
        return;
      }
      req.remote_address = stream_.remote_address();
      head_ = req.method == "HEAD";
      busy_ = true;
      std::weak_ptr<bool> alive = alive_;
      server_.handler().handle(req, [this, alive](HttpResponse resp) {
        auto a = alive.lock();
        if (!a || !*a) return;
        write(resp, keep_alive_, head_);
        busy_ = false;
        last_activity_ms_ = server_.now_ms();
        if (!keep_alive_) return close();
        pump();
      });
    }
  }

  // The head and (unless shared) the body in one buffer, sized once: no temporaries per header.
  void write(const HttpResponse& resp, bool keep_alive, bool head) {
    const std::string_view reason = status_text(resp.status);
    auto decimal = [](char (&buf)[24], auto v) {
      return std::string_view(buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf));
    };
    char status[24], length[24];
    std::string_view status_digits = decimal(status, resp.status), length_digits = decimal(length, resp.body_bytes().size());
    size_t n = 9 + status_digits.size() + 1 + reason.size() + 2 + 14 + resp.content_type.size() + 2 + 16 +
               length_digits.size() + 2 + 19 + 2;
    for (const auto& [k, v] : resp.headers) n += k.size() + 2 + v.size() + 2;
    n += resp.raw_headers.size();
    bool inline_body = !head && !resp.shared_body;
    if (inline_body) n += resp.body.size();
    std::string out;
    out.reserve(n);
    out.append("HTTP/1.1 ").append(status_digits).append(" ").append(reason).append("\r\n");
    out.append("Content-Type: ").append(resp.content_type).append("\r\n");
    for (const auto& [k, v] : resp.headers) out.append(k).append(": ").append(v).append("\r\n");
    out.append(resp.raw_headers);
    out.append("Content-Length: ").append(length_digits).append("\r\n");
    if (!keep_alive) out.append("Connection: close\r\n");
    out.append("\r\n");
    if (head) return stream_.send(std::move(out));
    if (resp.shared_body) {
      stream_.send(std::move(out));
      stream_.send_shared(resp.shared_body);
      return;
    }
    out += resp.body;
    stream_.send(std::move(out));
  }

  HttpServer& server_;
  Stream& stream_;
  std::shared_ptr<bool> alive_;
  std::string buf_;
  std::unique_ptr<Parser> parser_;
  bool sent_continue_ = false;
  bool busy_ = false;
  bool closed_ = false;
  bool keep_alive_ = true;
  bool head_ = false;
  int64_t last_activity_ms_ = 0;
};

}  // namespace

HttpServer::HttpServer(HttpHandler& handler, HttpLimits limits) : handler_(handler), limits_(limits) {
  now_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
                .count();
}

HttpServer::~HttpServer() = default;

std::unique_ptr<StreamHandler> HttpServer::accept(Stream& stream) {
  return std::make_unique<HttpConnection>(*this, stream);
}

void HttpServer::tick(int64_t now_ms) {
  now_ms_ = now_ms;
  std::vector<HttpConnectionBase*> all(connections_.begin(), connections_.end());
  for (auto* c : all)
    if (connections_.count(c)) c->expire(now_ms);
}

}  // namespace conclave::net
