// `conclave kv`: Consul's `consul kv` subcommands against the node's /v1/kv API.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>

#include "cli/commands.h"
#include "cli/http_client.h"
#include "common/digest.h"
#include "common/json.h"

namespace conclave::cli {
namespace {

const char* kUsage =
    "Usage: conclave kv <subcommand> [options] [args]\n\n"
    "Reads and writes keys of the Consul KV view of the tree (the same entries ZooKeeper clients\n"
    "see as znodes). Options go before the arguments, as with `consul kv`.\n\n"
    "Subcommands:\n"
    "  get [-recurse] [-keys] [-separator=/] [-detailed] KEY\n"
    "  put [-flags=N] [-cas -modify-index=N] [-acquire|-release -session=ID] KEY [DATA|@FILE|-]\n"
    "  delete [-recurse] [-cas -modify-index=N] KEY\n"
    "  export [PREFIX]                 JSON array of {key, flags, value (base64)}\n"
    "  import [DATA|@FILE|-]           the same JSON, written key by key\n\n"
    "Common options: -http-addr=HOST:PORT (default $CONCLAVE_HTTP_ADDR, else 127.0.0.1:8500)\n";

using Opts = CommandOpts;
Opts parse(const std::vector<std::string>& in) { return parse_command_opts(in); }

bool read_data(const std::string& arg, std::string* out) {
  if (arg == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    *out = ss.str();
    return true;
  }
  if (!arg.empty() && arg[0] == '@') {
    std::ifstream f(arg.substr(1), std::ios::binary);
    if (!f) return false;
    out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return true;
  }
  *out = arg;
  return true;
}

int kv_fail(const std::string& msg) {
  std::fprintf(stderr, "Error! %s\n", msg.c_str());
  return 1;
}

Result<HttpReply> call(const Opts& o, const std::string& method, const std::string& path, const std::string& body = "") {
  return http_call(o.addr, method, path, 10000, body);
}

int kv_get(const Opts& o) {
  if (o.args.size() != 1 && !(o.args.empty() && (o.flags.count("recurse") || o.flags.count("keys"))))
    return kv_fail("Missing KEY argument");
  std::string key = o.args.empty() ? "" : o.args[0];
  bool recurse = o.flags.count("recurse"), keys = o.flags.count("keys"), detailed = o.flags.count("detailed");
  std::string q = recurse ? "?recurse" : keys ? "?keys" : "";
  if (keys && o.flags.count("separator")) q += "&separator=" + url_path_escape(o.flags.at("separator"));
  else if (keys) q += "&separator=/";
  auto r = call(o, "GET", "/v1/kv/" + url_path_escape(key) + q);
  if (!r) return kv_fail("Error querying Conclave agent: " + r.error().message);
  if (r->status == 404) {
    if (recurse || keys) return 0;
    return kv_fail("No key exists at: " + key);
  }
  if (r->status != 200) return kv_fail("Error querying Conclave agent: " + r->body);
  boost::system::error_code ec;
  json::value v = json::parse(r->body, ec);
  if (ec || !v.is_array()) return kv_fail("malformed reply from the agent");
  for (const auto& e : v.as_array()) {
    if (keys) {
      std::printf("%s\n", std::string(e.as_string()).c_str());
      continue;
    }
    const auto& o2 = e.as_object();
    std::string value;
    if (o2.at("Value").is_string()) base64_decode(o2.at("Value").as_string(), &value);
    std::string k(o2.at("Key").as_string());
    if (detailed) {
      auto num = [&](const char* f) { return json::serialize(o2.at(f)); };
      std::printf("CreateIndex      %s\nFlags            %s\nKey              %s\nLockIndex        %s\nModifyIndex      %s\n"
                  "Session          %s\nValue            %s\n",
                  num("CreateIndex").c_str(), num("Flags").c_str(), k.c_str(), num("LockIndex").c_str(),
                  num("ModifyIndex").c_str(), o2.contains("Session") ? std::string(o2.at("Session").as_string()).c_str() : "-",
                  value.c_str());
      if (recurse) std::printf("\n");
    } else if (recurse) {
      std::printf("%s:%s\n", k.c_str(), value.c_str());
    } else {
      std::fwrite(value.data(), 1, value.size(), stdout);
      std::printf("\n");
    }
  }
  return 0;
}

int kv_put(const Opts& o) {
  if (o.args.empty()) return kv_fail("Missing KEY argument");
  if (o.args.size() > 2) return kv_fail("Too many arguments (expected 1 or 2, got " + std::to_string(o.args.size()) + ")");
  std::string key = o.args[0], data;
  if (o.args.size() == 2 && !read_data(o.args[1], &data)) return kv_fail("Failed to read file: " + o.args[1].substr(1));
  std::string q;
  auto add = [&](const std::string& kv) { q += (q.empty() ? "?" : "&") + kv; };
  if (o.flags.count("flags")) add("flags=" + o.flags.at("flags"));
  bool cas = o.flags.count("cas"), acquire = o.flags.count("acquire"), release = o.flags.count("release");
  if (cas) {
    if (!o.flags.count("modify-index")) return kv_fail("Must specify -modify-index with -cas!");
    add("cas=" + o.flags.at("modify-index"));
  }
  if ((acquire || release) && !o.flags.count("session")) return kv_fail("Missing -session flag");
  if (acquire) add("acquire=" + o.flags.at("session"));
  if (release) add("release=" + o.flags.at("session"));
  auto r = call(o, "PUT", "/v1/kv/" + url_path_escape(key) + q, data);
  if (!r) return kv_fail("Error! Failed writing data: " + r.error().message);
  if (r->status != 200) return kv_fail("Failed writing data: " + r->body);
  if (r->body.rfind("true", 0) != 0) {
    if (cas) return kv_fail("Did not write to " + key + ": CAS failed");
    if (acquire) return kv_fail("Failed writing data: lock acquisition failed");
    if (release) return kv_fail("Failed writing data: lock release failed");
    return kv_fail("Failed writing data");
  }
  if (acquire) std::printf("Success! Lock acquired on: %s\n", key.c_str());
  else if (release) std::printf("Success! Lock released on: %s\n", key.c_str());
  else std::printf("Success! Data written to: %s\n", key.c_str());
  return 0;
}

int kv_delete(const Opts& o) {
  bool recurse = o.flags.count("recurse"), cas = o.flags.count("cas");
  if (o.args.empty() && !recurse) return kv_fail("Missing KEY argument");
  std::string key = o.args.empty() ? "" : o.args[0];
  std::string q = recurse ? "?recurse" : "";
  if (cas) {
    if (recurse) return kv_fail("Cannot specify both -cas and -recurse!");
    if (!o.flags.count("modify-index")) return kv_fail("Must specify -modify-index with -cas!");
    q = "?cas=" + o.flags.at("modify-index");
  }
  auto r = call(o, "DELETE", "/v1/kv/" + url_path_escape(key) + q);
  if (!r) return kv_fail("Error deleting key " + key + ": " + r.error().message);
  if (r->status != 200) return kv_fail("Error deleting key " + key + ": " + r->body);
  if (r->body.rfind("true", 0) != 0) return kv_fail("Did not delete key " + key + ": CAS failed");
  if (recurse) std::printf("Success! Deleted keys with prefix: %s\n", key.c_str());
  else std::printf("Success! Deleted key: %s\n", key.c_str());
  return 0;
}

int kv_export(const Opts& o) {
  std::string prefix = o.args.empty() ? "" : o.args[0];
  auto r = call(o, "GET", "/v1/kv/" + url_path_escape(prefix) + "?recurse");
  if (!r) return kv_fail("Error querying Conclave agent: " + r.error().message);
  json::array out;
  if (r->status == 200) {
    boost::system::error_code ec;
    json::value v = json::parse(r->body, ec);
    if (ec || !v.is_array()) return kv_fail("malformed reply from the agent");
    for (const auto& e : v.as_array()) {
      const auto& eo = e.as_object();
      out.push_back(json::object{{"key", eo.at("Key")},
                                 {"flags", eo.at("Flags")},
                                 {"value", eo.at("Value").is_null() ? json::value("") : eo.at("Value")}});
    }
  } else if (r->status != 404) {
    return kv_fail("Error querying Conclave agent: " + r->body);
  }
  // Consul prints the array indented by tabs; one entry per block.
  std::string s = "[";
  for (size_t i = 0; i < out.size(); ++i) {
    const auto& e = out[i].as_object();
    s += i ? ",\n" : "\n";
    s += "\t{\n\t\t\"key\": " + json::serialize(e.at("key")) + ",\n\t\t\"flags\": " + json::serialize(e.at("flags")) +
         ",\n\t\t\"value\": " + json::serialize(e.at("value")) + "\n\t}";
  }
  s += out.empty() ? "]" : "\n]";
  std::printf("%s\n", s.c_str());
  return 0;
}

int kv_import(const Opts& o) {
  std::string data;
  if (o.args.empty()) {
    if (isatty(STDIN_FILENO)) return kv_fail("Missing DATA argument");
    read_data("-", &data);
  } else if (!read_data(o.args[0], &data)) {
    return kv_fail("Failed to read file: " + o.args[0].substr(1));
  }
  boost::system::error_code ec;
  json::value v = json::parse(data, ec);
  if (ec || !v.is_array()) return kv_fail("Cannot unmarshal data: expected a JSON array of {key, flags, value}");
  for (const auto& e : v.as_array()) {
    const auto* eo = e.if_object();
    if (!eo || !eo->contains("key") || !eo->at("key").is_string())
      return kv_fail("Cannot unmarshal data: every entry needs a string \"key\"");
    std::string key(eo->at("key").as_string()), value;
    if (eo->contains("value") && eo->at("value").is_string() && !base64_decode(eo->at("value").as_string(), &value))
      return kv_fail("Cannot base 64 decode value for key " + key);
    uint64_t flags = eo->contains("flags") && eo->at("flags").is_number() ? eo->at("flags").to_number<uint64_t>() : 0;
    auto r = call(o, "PUT", "/v1/kv/" + url_path_escape(key) + "?flags=" + std::to_string(flags), value);
    if (!r || r->status != 200) return kv_fail("Error! Failed writing data for key " + key + ": " + (r ? r->body : r.error().message));
    std::printf("Imported: %s\n", key.c_str());
  }
  return 0;
}

}  // namespace

int run_kv(std::vector<std::string> args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 1 : 0;
  }
  std::string sub = args[0];
  Opts o = parse(std::vector<std::string>(args.begin() + 1, args.end()));
  if (o.flags.count("h") || o.flags.count("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (sub == "get") return kv_get(o);
  if (sub == "put") return kv_put(o);
  if (sub == "delete") return kv_delete(o);
  if (sub == "export") return kv_export(o);
  if (sub == "import") return kv_import(o);
  std::fprintf(stderr, "conclave kv: unknown subcommand '%s'\n\n%s", sub.c_str(), kUsage);
  return 1;
}

}  // namespace conclave::cli
