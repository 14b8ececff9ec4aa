package dev.weft.agent.node;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weft.agent.AgentConfig;
import dev.weft.agent.ipam.PodSubnet;
import dev.weft.agent.ovsdb.AddedPort;
import dev.weft.agent.ovsdb.OvsPort;
import dev.weft.agent.ovsdb.OvsdbClient;
import dev.weft.agent.ovsdb.PortSpec;
import dev.weft.net.InterfaceAddress;
import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;
import dev.weft.net.MacAddress;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The node gateway (gw0 in the Antrea walkthrough): an OVS internal port on the bridge carrying the first address of
 * the node's pod CIDR, with a MAC derived from that address so it survives restarts. Idempotent: an existing port is
 * reused.
 */
@ApplicationScoped
public class NodeGateway {

    private static final Logger LOG = Logger.getLogger(NodeGateway.class);

    @Inject
    AgentConfig config;

    @Inject
    OvsdbClient ovsdb;

    /** Creates or repairs the gateway for the IPv4 pod subnet (one of {@code podCidrs}) and returns its ofport and MAC. */
    public NodeNetwork ensure(String nodeName, PodSubnet v4, List<IpPrefix> podCidrs, String nodeIp) throws IOException {
        String name = config.gatewayName();
        IpAddress gatewayIp = v4.gateway();
        MacAddress mac = PodSubnet.macFor(gatewayIp);
        Optional<OvsPort> existing = ovsdb.getPort(name);
        int ofport;
        if (existing.isPresent() && existing.get().ofport() > 0) {
            ofport = existing.get().ofport();
        } else {
            if (existing.isPresent()) {
                ovsdb.deletePort(name);
            }
            AddedPort added = ovsdb.addPort(config.bridge(), new PortSpec(name, "internal", Map.of(),
                    Map.of("weft.dev/owner", "weft-gateway"), config.gatewayOfport()), Duration.ofSeconds(20));
            ofport = added.ofport();
        }
        // The MAC through OVSDB (ovs-vswitchd applies it to the TAP and keeps it across its restarts).
        ObjectNode row = JsonNodeFactory.instance.objectNode().put("mac", mac.toString());
        ObjectNode update = JsonNodeFactory.instance.objectNode().put("op", "update").put("table", "Interface");
        update.set("where", OvsdbClient.whereName(name));
        update.set("row", row);
        ovsdb.transact(List.of(update));
        InterfaceAddress address = new InterfaceAddress(gatewayIp, v4.prefixLength());
        ip("link", "set", name, "address", mac.toString(), "mtu", Integer.toString(config.podMtu()));
        ip("addr", "replace", address.toString(), "dev", name);
        ip("link", "set", name, "up");
        LOG.infof("gateway %s: %s mac %s ofport %d%s", name, address, mac, ofport,
                config.nodeNetns().map(ns -> " in netns " + ns).orElse(""));
        return new NodeNetwork(nodeName, podCidrs.stream().map(IpPrefix::toString).toList(),
                List.of(gatewayIp.toString()), mac.toString(), name, ofport, nodeIp);
    }

    private void ip(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        config.nodeNetns().filter(s -> !s.isBlank()).ifPresent(ns -> cmd.addAll(List.of("-n", ns)));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + ": " + out.trim());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }
}
