#include <gtest/gtest.h>

#include "net/http.h"

using namespace conclave::net;

TEST(Http, ParsesRequestWithQueryAndBody) {
  std::string raw =
      "PUT /v1/kv/a%2Fb?cas=5&recurse&dc=x+y HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Consul-Token: t\r\n\r\nabcNEXT";
  HttpRequest req;
  size_t consumed = 0;
  std::string err;
  ASSERT_EQ(parse_http_request(raw, 1024, &req, &consumed, &err), ParseStatus::kComplete);
  EXPECT_EQ(req.method, "PUT");
  EXPECT_EQ(req.path, "/v1/kv/a/b");
  EXPECT_EQ(req.query["cas"], "5");
  EXPECT_TRUE(req.has_query("recurse"));
  EXPECT_EQ(req.query["dc"], "x y");
  EXPECT_EQ(req.header("x-consul-token"), "t");
  EXPECT_EQ(req.body, "abc");
  EXPECT_EQ(raw.substr(consumed), "NEXT");
}

TEST(Http, IncompleteAndBad) {
  HttpRequest req;
  size_t consumed = 0;
  std::string err;
  EXPECT_EQ(parse_http_request("GET / HTTP/1.1\r\nHost: x\r\n", 1024, &req, &consumed, &err), ParseStatus::kIncomplete);
  EXPECT_EQ(parse_http_request("GET / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", 1024, &req, &consumed, &err),
            ParseStatus::kIncomplete);
  EXPECT_EQ(parse_http_request("GARBAGE\r\n\r\n", 1024, &req, &consumed, &err), ParseStatus::kBad);
  EXPECT_EQ(parse_http_request("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 1024, &req, &consumed, &err),
            ParseStatus::kBad);
  EXPECT_EQ(parse_http_request("GET / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", 1024, &req, &consumed, &err),
            ParseStatus::kBad);
  EXPECT_EQ(parse_http_request("GET / HTTP/1.1\r\nbad header\r\n\r\n", 1024, &req, &consumed, &err), ParseStatus::kBad);
}

TEST(Http, ChunkedBodyAndLimits) {
  std::string raw =
      "PUT /v1/kv/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET";
  HttpRequest req;
  size_t consumed = 0;
  std::string err;
  ASSERT_EQ(parse_http_request(raw, 1024, &req, &consumed, &err), ParseStatus::kComplete) << err;
  EXPECT_EQ(req.body, "abcde");
  EXPECT_EQ(raw.substr(consumed), "GET");
  int status = 0;
  std::string big = "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + std::string(0x800, 'x') + "\r\n0\r\n\r\n";
  EXPECT_EQ(parse_http_request(big, 1024, &req, &consumed, &err, &status), ParseStatus::kBad);
  EXPECT_EQ(status, 413);
  std::string huge_header = "GET / HTTP/1.1\r\nX: " + std::string(70 * 1024, 'h') + "\r\n\r\n";
  EXPECT_EQ(parse_http_request(huge_header, 1024, &req, &consumed, &err, &status), ParseStatus::kBad);
  EXPECT_EQ(status, 431);
}
