"""Debian's Curator 5 jars (libcurator-recipes-java, libcurator-discovery-java) and what they need,
as one class path for the Java programs the tests run with the JDK's source launcher."""

from pathlib import Path

JARS = ["curator-x-discovery", "curator-recipes", "curator-framework", "curator-client", "zookeeper", "zookeeper-jute",
        "jackson-databind", "jackson-core", "jackson-annotations", "guava", "slf4j-api", "netty-handler",
        "netty-transport-native-epoll", "netty-common", "netty-buffer", "netty-transport", "netty-codec",
        "netty-resolver", "netty-transport-native-unix-common", "audience-annotations", "failureaccess"]


def classpath():
    paths = [str(Path("/usr/share/java/%s.jar" % j)) for j in JARS if Path("/usr/share/java/%s.jar" % j).exists()]
    for needed in ("curator-x-discovery", "curator-recipes"):
        assert any(needed in p for p in paths), \
            "%s is missing: scripts/install-deps.sh installs Debian's Curator packages" % needed
    return ":".join(paths)
