// ACL evaluation and fix-up, following ZooKeeper's checkACL and PrepRequestProcessor.fixupACL.
#pragma once

#include <string_view>
#include <vector>

#include "state/types.h"

namespace conclave::state {

/// True when `ids` (a session's authenticated ids) grant any of `perm` on a node with `acl`.
/// An empty ACL grants everything; an id with scheme "super" is allowed everything.
bool acl_allows(const AclList& acl, int32_t perm, const std::vector<Id>& ids);

/// Validates a requested ACL and expands the "auth" scheme into the caller's authenticated ids.
/// Returns kInvalidAcl for an empty list, an unknown scheme or a malformed id.
Code fixup_acl(const AclList& requested, const std::vector<Id>& ids, AclList* out);

/// ip scheme: does ACL id "addr[/bits]" match client address `addr`?
bool ip_matches(std::string_view acl_id, std::string_view addr);
bool ip_acl_valid(std::string_view acl_id);

}  // namespace conclave::state
