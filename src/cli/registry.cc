// `conclave catalog`, `conclave services`, `conclave members` and `conclave watch`: Consul's CLI
// commands of the same names against a node's HTTP API, with their output shapes and exit codes
// (0 on success, 1 on an error from the agent or bad arguments).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <thread>

#include "cli/commands.h"
#include "cli/http_client.h"
#include "common/json.h"

namespace conclave::cli {

CommandOpts parse_command_opts(const std::vector<std::string>& in) {
  CommandOpts o;
  o.addr = default_http_addr();
  bool positional = false;
  for (const auto& a : in) {
    if (!positional && a == "--") {
      positional = true;
      continue;
    }
    if (!positional && a.size() > 1 && a[0] == '-' && a != "-") {
      std::string f = a.substr(a[1] == '-' ? 2 : 1);
      auto eq = f.find('=');
      std::string name = f.substr(0, eq), value = eq == std::string::npos ? "" : f.substr(eq + 1);
      if (name == "http-addr") o.addr = value.rfind("http://", 0) == 0 ? value.substr(7) : value;
      else o.flags[name] = value;
    } else {
      positional = true;
      o.args.push_back(a);
    }
  }
  return o;
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "Error %s\n", msg.c_str());
  return 1;
}

bool get_json(const CommandOpts& o, const std::string& path, json::value* out, std::string* error,
              std::string* index, int timeout_ms) {
  auto r = http_call(o.addr, "GET", path, timeout_ms);
  if (!r) {
    *error = "querying the agent: " + r.error().message;
    return false;
  }
  if (r->status != 200) {
    *error = "querying the agent: " + std::to_string(r->status) + " " + r->body;
    return false;
  }
  boost::system::error_code ec;
  *out = json::parse(r->body, ec);
  if (ec) {
    *error = "malformed reply from the agent";
    return false;
  }
  if (index) *index = r->index;
  return true;
}

std::string str(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return "";
  return json::serialize(v);
}

/// Columns padded to their widest cell, two spaces apart (Consul's columnize).
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

namespace {

const char* kCatalogUsage =
    "Usage: conclave catalog <subcommand> [options]\n\n"
    "  services [-tags] [-node=NAME]    service names (with their tags)\n"
    "  nodes [-service=NAME] [-detailed] nodes (providing a service)\n\n"
    "Common options: -http-addr=HOST:PORT (default $CONCLAVE_HTTP_ADDR, else 127.0.0.1:8500)\n";

}  // namespace

int run_catalog(std::vector<std::string> args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
    std::fputs(kCatalogUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 1 : 0;
  }
  CommandOpts o = parse_command_opts(std::vector<std::string>(args.begin() + 1, args.end()));
  json::value v;
  std::string error;
  if (args[0] == "services") {
    if (o.flags.count("node")) {
      if (!get_json(o, "/v1/catalog/node/" + url_path_escape(o.flags.at("node")), &v, &error)) return fail(error);
      if (v.is_null()) return fail("No node found with name '" + o.flags.at("node") + "'");
      std::vector<std::vector<std::string>> rows;
      for (const auto& [id, s] : v.as_object().at("Services").as_object()) {
        std::vector<std::string> row{str(s.as_object().at("Service"))};
        if (o.flags.count("tags")) {
          std::string tags;
          for (const auto& t : s.as_object().at("Tags").as_array()) tags += (tags.empty() ? "" : ",") + str(t);
          row.push_back(tags);
        }
        rows.push_back(row);
      }
      std::sort(rows.begin(), rows.end());
      print_table(rows);
      return 0;
    }
    if (!get_json(o, "/v1/catalog/services", &v, &error)) return fail(error);
    std::vector<std::vector<std::string>> rows;
    for (const auto& [name, tags] : v.as_object()) {
      std::vector<std::string> row{std::string(name)};
      if (o.flags.count("tags")) {
        std::string t;
        for (const auto& x : tags.as_array()) t += (t.empty() ? "" : ",") + str(x);
        row.push_back(t);
      }
      rows.push_back(row);
    }
    print_table(rows);
    return 0;
  }
  if (args[0] == "nodes") {
    std::vector<std::vector<std::string>> rows{{"Node", "ID", "Address", "DC"}};
    if (o.flags.count("detailed")) rows[0] = {"Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"};
    json::array nodes;
    if (o.flags.count("service")) {
      if (!get_json(o, "/v1/catalog/service/" + url_path_escape(o.flags.at("service")), &v, &error)) return fail(error);
      for (const auto& r : v.as_array()) {
        const auto& x = r.as_object();
        nodes.push_back(json::object{{"Node", x.at("Node")}, {"ID", x.at("ID")}, {"Address", x.at("Address")},
                                     {"Datacenter", x.at("Datacenter")}, {"TaggedAddresses", x.at("TaggedAddresses")},
                                     {"Meta", x.at("NodeMeta")}});
      }
    } else {
      if (!get_json(o, "/v1/catalog/nodes", &v, &error)) return fail(error);
      nodes = v.as_array();
    }
    for (const auto& n : nodes) {
      const auto& x = n.as_object();
      std::string id = str(x.at("ID"));
      std::vector<std::string> row{str(x.at("Node")), o.flags.count("detailed") ? id : id.substr(0, 8),
                                   str(x.at("Address")), str(x.at("Datacenter"))};
      if (o.flags.count("detailed")) {
        std::string tagged, meta;
        for (const auto& [k, val] : x.at("TaggedAddresses").as_object()) tagged += (tagged.empty() ? "" : ",") + std::string(k) + "=" + str(val);
        for (const auto& [k, val] : x.at("Meta").as_object()) meta += (meta.empty() ? "" : ",") + std::string(k) + "=" + str(val);
        row.push_back(tagged);
        row.push_back(meta);
      }
      rows.push_back(row);
    }
    if (rows.size() == 1) return 0;  // no nodes: no header either, as Consul
    print_table(rows);
    return 0;
  }
  std::fputs(kCatalogUsage, stderr);
  return 1;
}

namespace {

const char* kServicesUsage =
    "Usage: conclave services <subcommand> [options] [FILE...]\n\n"
    "  register [-name=N -id=ID -address=A -port=P -tag=T] [FILE...]\n"
    "      registers the services in each definition file ({\"service\": {...}} or {\"services\": [...]},\n"
    "      Consul's JSON format), or the one described by the flags\n"
    "  deregister [-id=ID] [FILE...]\n\n"
    "Common options: -http-addr=HOST:PORT (default $CONCLAVE_HTTP_ADDR, else 127.0.0.1:8500)\n";

bool load_definitions(const std::string& file, std::vector<json::object>* out, std::string* error) {
  std::ifstream f(file, std::ios::binary);
  if (!f) {
    *error = "opening " + file;
    return false;
  }
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    *error = "parsing " + file + ": expected a JSON object (HCL is not supported)";
    return false;
  }
  const auto& o = v.as_object();
  if (const json::value* s = o.if_contains("service"); s && s->is_object()) out->push_back(s->as_object());
  else if (const json::value* ss = o.if_contains("services"); ss && ss->is_array())
    for (const auto& s : ss->as_array())
      if (s.is_object()) out->push_back(s.as_object());
  if (out->empty()) {
    *error = "no service definitions in " + file;
    return false;
  }
  return true;
}

}  // namespace

int run_services(std::vector<std::string> args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
    std::fputs(kServicesUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 1 : 0;
  }
  CommandOpts o = parse_command_opts(std::vector<std::string>(args.begin() + 1, args.end()));
  std::vector<json::object> defs;
  std::string error;
  for (const auto& file : o.args)
    if (!load_definitions(file, &defs, &error)) return fail(error);
  if (args[0] == "register") {
    if (defs.empty()) {
      if (!o.flags.count("name")) return fail("Missing service name: -name or a definition file");
      json::object s{{"Name", o.flags["name"]}};
      if (o.flags.count("id")) s["ID"] = o.flags["id"];
      if (o.flags.count("address")) s["Address"] = o.flags["address"];
      if (o.flags.count("port")) s["Port"] = std::atoi(o.flags["port"].c_str());
      if (o.flags.count("tag")) s["Tags"] = json::array{json::value(o.flags["tag"])};
      defs.push_back(std::move(s));
    }
    for (const auto& d : defs) {
      auto r = http_call(o.addr, "PUT", "/v1/agent/service/register", 10000, json::serialize(d));
      if (!r) return fail("registering service: " + r.error().message);
      if (r->status != 200) return fail("registering service: Unexpected response code: " + std::to_string(r->status) + " (" + r->body + ")");
      const json::value* name = d.if_contains("Name");
      if (!name) name = d.if_contains("name");
      std::printf("Registered service: %s\n", name ? str(*name).c_str() : "");
    }
    return 0;
  }
  if (args[0] == "deregister") {
    std::vector<std::string> ids;
    if (o.flags.count("id")) ids.push_back(o.flags["id"]);
    for (const auto& d : defs) {
      const json::value* id = d.if_contains("ID");
      if (!id) id = d.if_contains("id");
      if (!id) id = d.if_contains("Name");
      if (!id) id = d.if_contains("name");
      if (id) ids.push_back(str(*id));
    }
    if (ids.empty()) return fail("Missing service ID: -id or a definition file");
    for (const auto& id : ids) {
      auto r = http_call(o.addr, "PUT", "/v1/agent/service/deregister/" + url_path_escape(id), 10000);
      if (!r) return fail("deregistering service: " + r.error().message);
      if (r->status != 200) return fail("deregistering service: Unexpected response code: " + std::to_string(r->status) + " (" + r->body + ")");
      std::printf("Deregistered service: %s\n", id.c_str());
    }
    return 0;
  }
  std::fputs(kServicesUsage, stderr);
  return 1;
}

int run_members(std::vector<std::string> args) {
  CommandOpts o = parse_command_opts(args);
  if (o.flags.count("h") || o.flags.count("help")) {
    std::puts("Usage: conclave members [-http-addr=HOST:PORT]\n\nLists the cluster's members and their health.");
    return 0;
  }
  json::value v;
  std::string error;
  if (!get_json(o, "/v1/agent/members", &v, &error)) return fail(error);
  std::vector<std::vector<std::string>> rows{{"Node", "Address", "Status", "Type", "Build", "Protocol", "DC"}};
  for (const auto& m : v.as_array()) {
    const auto& x = m.as_object();
    const auto& tags = x.at("Tags").as_object();
    int status = static_cast<int>(x.at("Status").to_number<double>());
    rows.push_back({str(x.at("Name")), str(x.at("Addr")) + ":" + str(x.at("Port")),
                    status == 1 ? "alive" : status == 4 ? "failed" : "left", "server",
                    str(tags.at("build")).substr(0, str(tags.at("build")).find(':')), "2", str(tags.at("dc"))});
  }
  print_table(rows);
  return 0;
}

namespace {

const char* kWatchUsage =
    "Usage: conclave watch -type=TYPE [options] [--] [HANDLER...]\n\n"
    "Watches a view with blocking queries and runs HANDLER (through sh -c) with the view's JSON on its\n"
    "stdin each time it changes, the first time at once. Without a handler, prints the JSON once and exits.\n\n"
    "  -type=key -key=KEY            one key\n"
    "  -type=keyprefix -prefix=P     every key under a prefix\n"
    "  -type=services                the service list\n"
    "  -type=service -service=NAME [-tag=T] [-passingonly]   instances with their health\n"
    "  -type=checks [-service=NAME | -state=STATE]           health checks\n"
    "  -type=nodes                   the node list\n"
    "  -type=event [-name=NAME]      user events\n\n"
    "Common options: -http-addr=HOST:PORT (default $CONCLAVE_HTTP_ADDR, else 127.0.0.1:8500)\n";

}  // namespace

int run_watch(std::vector<std::string> args) {
  CommandOpts o = parse_command_opts(args);
  if (o.flags.count("h") || o.flags.count("help")) {
    std::fputs(kWatchUsage, stdout);
    return 0;
  }
  const std::string type = o.flags.count("type") ? o.flags["type"] : "";
  std::string path;
  if (type == "key") {
    if (!o.flags.count("key")) return fail("Must specify a single key to watch (-key)");
    path = "/v1/kv/" + url_path_escape(o.flags["key"]);
  } else if (type == "keyprefix") {
    if (!o.flags.count("prefix")) return fail("Must specify a single prefix to watch (-prefix)");
    path = "/v1/kv/" + url_path_escape(o.flags["prefix"]) + "?recurse";
  } else if (type == "services") {
    path = "/v1/catalog/services";
  } else if (type == "service") {
    if (!o.flags.count("service")) return fail("Must specify a single service to watch (-service)");
    path = "/v1/health/service/" + url_path_escape(o.flags["service"]);
    std::string q;
    if (o.flags.count("tag")) q += "&tag=" + url_path_escape(o.flags["tag"]);
    if (o.flags.count("passingonly")) q += "&passing";
    if (!q.empty()) path += "?" + q.substr(1);
  } else if (type == "checks") {
    if (o.flags.count("service")) path = "/v1/health/checks/" + url_path_escape(o.flags["service"]);
    else path = "/v1/health/state/" + (o.flags.count("state") ? url_path_escape(o.flags["state"]) : std::string("any"));
  } else if (type == "nodes") {
    path = "/v1/catalog/nodes";
  } else if (type == "event") {
    path = "/v1/event/list" + (o.flags.count("name") ? "?name=" + url_path_escape(o.flags["name"]) : std::string());
  } else {
    std::fputs(kWatchUsage, stderr);
    return fail(type.empty() ? "Must specify watch type (-type)" : "Unsupported watch type: " + type);
  }
  std::string handler;
  for (const auto& a : o.args) handler += (handler.empty() ? "" : " ") + a;
  const char* sep = path.find('?') == std::string::npos ? "?" : "&";

  // Runs until a signal ends it (the default actions of SIGINT and SIGTERM), as `consul watch`.
  std::string index, last_body;
  bool first = true;
  while (true) {
    std::string q = index.empty() ? path : path + sep + "index=" + index + "&wait=60s";
    auto r = http_call(o.addr, "GET", q, index.empty() ? 10000 : 75000);
    if (!r) {
      if (handler.empty()) return fail("querying the agent: " + r.error().message);
      std::fprintf(stderr, "Error querying the agent: %s; retrying\n", r.error().message.c_str());
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    std::string body = r->status == 404 ? "null" : r->body;
    if (r->status != 200 && r->status != 404) {
      if (handler.empty()) return fail("querying the agent: " + std::to_string(r->status) + " " + r->body);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (handler.empty()) {
      std::printf("%s\n", body.c_str());
      return 0;
    }
    index = r->index;
    if (first || body != last_body) {
      first = false;
      last_body = body;
      // The handler gets the JSON on stdin, as with `consul watch`.
      int fds[2];
      if (pipe(fds) != 0) return fail("pipe");
      pid_t pid = fork();
      if (pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        execl("/bin/sh", "sh", "-c", handler.c_str(), static_cast<char*>(nullptr));
        _exit(127);
      }
      close(fds[0]);
      std::string data = body + "\n";
      for (size_t off = 0; off < data.size();) {
        ssize_t n = write(fds[1], data.data() + off, data.size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      close(fds[1]);
      int st = 0;
      waitpid(pid, &st, 0);
    }
  }
}

}  // namespace conclave::cli
