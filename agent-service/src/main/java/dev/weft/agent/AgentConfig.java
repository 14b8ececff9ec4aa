package dev.weft.agent;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.nio.file.Path;
import java.util.Optional;

/** Node agent configuration. Every path is configurable so several agents (one per simulated node) can share a machine. */
@ConfigMapping(prefix = "agent")
public interface AgentConfig {

    /** This node's Kubernetes name; defaults to the NODE_NAME environment variable, then the host name. */
    Optional<String> nodeName();

    /** The integration bridge the pipeline is programmed on. */
    @WithDefault("br-int")
    String bridge();

    /** Open vSwitch run directory (db.sock, <bridge>.mgmt). */
    @WithDefault("/var/run/openvswitch")
    Path ovsRunDir();

    /** OVSDB JSON-RPC socket; defaults to {@code <ovs-run-dir>/db.sock}. */
    Optional<Path> ovsdbSocket();

    /** Node-local durable state (IP leases, flow round). */
    @WithDefault("/var/lib/weft")
    Path stateDir();

    default Path resolvedOvsdbSocket() {
        return ovsdbSocket().orElse(ovsRunDir().resolve("db.sock"));
    }

    default String resolvedNodeName() {
        return nodeName().filter(s -> !s.isBlank())
                .or(() -> Optional.ofNullable(System.getenv("NODE_NAME")).filter(s -> !s.isBlank()))
                .orElseGet(AgentConfig::hostName);
    }

    private static String hostName() {
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            return "localhost";
        }
    }
}
