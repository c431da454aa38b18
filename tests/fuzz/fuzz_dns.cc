// The DNS resolver end to end on a small catalog: any datagram gets no reply or a well-formed
// DNS response with the query's id, within the UDP size limits, and the catalog is unchanged.
#include <cstdint>
#include <string>

#include "common/assert.h"
#include "dns/resolver.h"
#include "state/tree.h"

// ldns last: its headers define names (__is_signed) that clang's standard library headers use.
#include <ldns/ldns.h>

using namespace conclave;

namespace {

state::DataTree& tree() {
  static state::DataTree* t = [] {
    auto* t = new state::DataTree();
    state::Command c;
    c.kind = state::CommandKind::kTxn;
    c.multi = true;
    for (int i = 0; i < 40; ++i) {
      state::CatalogRegisterOp op;
      op.node.name = "n" + std::to_string(i % 3);
      op.node.address = "10.0.0." + std::to_string(i % 3 + 1);
      op.has_service = true;
      op.service.name = i % 2 ? "web" : "db";
      op.service.id = "s" + std::to_string(i);
      op.service.port = 1000 + i;
      op.service.tags = {i % 4 ? "blue" : "green"};
      if (i % 5 == 0) op.service.address = i % 10 ? "fd00::" + std::to_string(i) : "192.168.1." + std::to_string(i);
      c.ops.push_back(op);
    }
    CONCLAVE_ASSERT(t->apply(1, c).code == state::Code::kOk, "the fuzz catalog registers");
    return t;
  }();
  return *t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static dns::Resolver resolver(dns::ResolverConfig{}, [] () -> const state::Catalog& { return tree().catalog(); }, 1);
  const uint64_t before = tree().digest();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (bool tcp : {false, true}) {
    std::string out = resolver.answer(in, tcp);
    if (out.empty()) continue;
    CONCLAVE_ASSERT(size >= 12 && out.size() >= 12, "only a query with a header gets a reply");
    CONCLAVE_ASSERT(out[0] == in[0] && out[1] == in[1], "the reply carries the query's id");
    CONCLAVE_ASSERT((static_cast<uint8_t>(out[2]) & 0x80) != 0, "the reply is a response");
    CONCLAVE_ASSERT(tcp || out.size() <= 4096, "a UDP reply fits the largest EDNS0 size we offer");
    ldns_pkt* p = nullptr;
    bool header_only = out.size() == 12;
    CONCLAVE_ASSERT(header_only || ldns_wire2pkt(&p, reinterpret_cast<const uint8_t*>(out.data()), out.size()) == LDNS_STATUS_OK,
                    "the reply parses as DNS");
    if (p) ldns_pkt_free(p);
  }
  CONCLAVE_ASSERT(tree().digest() == before, "answering changes nothing");
  return 0;
}
