"""SASL DIGEST-MD5 (op 102) with a real client: kazoo + puresasl, against Apache ZooKeeper 3.8
configured with a JAAS Server section and against Conclave given the same file through
--zk-sasl-users. Both must behave the same."""

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl

import harness
from pyharness.servers import ConclaveServer, ZooKeeperServer, zookeeper_available

JAAS = """Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="adminsecret"
    user_bob="bobsecret";
};
"""


def start_server(kind, tmp_path):
    jaas = tmp_path / "jaas.conf"
    jaas.write_text(JAAS)
    if kind == "zookeeper":
        if not zookeeper_available():
            pytest.skip("Apache ZooKeeper is not installed")
        srv = ZooKeeperServer(workdir=tmp_path / "zk",
                              extra_cfg={"authProvider.1": "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"},
                              extra_jvm_args=["-Djava.security.auth.login.config=%s" % jaas])
    else:
        srv = ConclaveServer(workdir=tmp_path / "conclave", sasl_users_file=str(jaas))
    srv.start()
    return srv


def sasl_client(srv, user, password):
    zk = KazooClient(hosts=srv.hosts, timeout=10,
                     sasl_options={"mechanism": "DIGEST-MD5", "username": user, "password": password},
                     connection_retry={"max_tries": 2, "delay": 0.1})
    return zk


# kazoo reports a failed SASL exchange in one of two ways, by thread timing alone: when the
# server's failure arrives before start() looks at the state, start() raises KazooTimeoutError at
# once (the state is AUTH_FAILED, not connected); when it arrives later, the first request fails
# with AuthFailedError. Both are the same refusal.
REFUSED = {"start failed: KazooTimeoutError", "read failed: AuthFailedError"}


def outcome_of_bad_password(srv):
    zk = sasl_client(srv, "bob", "wrong")
    try:
        zk.start(timeout=5)
    except Exception as e:
        return "start failed: " + type(e).__name__
    try:
        zk.get("/sasl-node")
        return "read allowed"
    except NoAuthError:
        return "NoAuth"
    except Exception as e:
        return "read failed: " + type(e).__name__
    finally:
        harness.stop_client(zk)


@pytest.mark.parametrize("kind", ["zookeeper", "conclave"])
def test_sasl_digest_md5(kind, tmp_path):
    srv = start_server(kind, tmp_path)
    try:
        bob = sasl_client(srv, "bob", "bobsecret")
        bob.start(timeout=10)
        bob.create("/sasl-node", b"secret", acl=[make_acl("sasl", "bob", all=True)])
        acls, _ = bob.get_acls("/sasl-node")
        assert [(a.id.scheme, a.id.id, a.perms) for a in acls] == [("sasl", "bob", 31)]
        assert bob.get("/sasl-node")[0] == b"secret"
        harness.stop_client(bob)

        anon = harness.kazoo_client(srv)
        with pytest.raises(NoAuthError):
            anon.get("/sasl-node")
        harness.stop_client(anon)

        outcome = outcome_of_bad_password(srv)
        # A wrong password never grants access; record what each server does for comparison.
        assert outcome != "read allowed"
        print("\n%s: wrong password -> %s" % (kind, outcome))
        test_sasl_digest_md5.outcomes[kind] = "refused" if outcome in REFUSED else outcome
        if len(test_sasl_digest_md5.outcomes) == 2:
            assert test_sasl_digest_md5.outcomes["zookeeper"] == test_sasl_digest_md5.outcomes["conclave"]
    finally:
        srv.stop()


test_sasl_digest_md5.outcomes = {}
