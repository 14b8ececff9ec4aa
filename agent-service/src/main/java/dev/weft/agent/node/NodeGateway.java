package dev.weft.agent.node;

import dev.weft.agent.AgentConfig;
import dev.weft.agent.ipam.Ipv4Cidr;
import dev.weft.agent.ovsdb.AddedPort;
import dev.weft.agent.ovsdb.InterfaceUpdate;
import dev.weft.agent.ovsdb.OvsPort;
import dev.weft.agent.ovsdb.OvsdbClient;
import dev.weft.agent.ovsdb.PortSpec;
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
 * The node gateway (the seed's gw0): an OVS internal port on the bridge carrying the first address of the node's pod
 * CIDR, with a MAC derived from that address so it survives restarts. Idempotent: an existing port is reused.
 */
@ApplicationScoped
public class NodeGateway {

    private static final Logger LOG = Logger.getLogger(NodeGateway.class);

    @Inject
    AgentConfig config;

    @Inject
    OvsdbClient ovsdb;

    /** Creates or repairs the gateway for the IPv4 CIDR and returns its ofport and MAC. */
    public NodeNetwork ensure(String nodeName, List<String> podCidrs, String nodeIp) throws IOException {
        Ipv4Cidr v4 = podCidrs.stream().filter(Ipv4Cidr::isIpv4).findFirst().map(Ipv4Cidr::parse)
                .orElseThrow(() -> new IOException("no IPv4 pod CIDR among " + podCidrs + " (IPv6-only is not supported yet)"));
        String name = config.gatewayName();
        String gatewayIp = v4.gateway();
        String mac = Ipv4Cidr.macFor(gatewayIp);
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
        ovsdb.updateInterface(name, InterfaceUpdate.none().mac(mac));
        ip("link", "set", name, "address", mac, "mtu", Integer.toString(config.podMtu()));
        ip("addr", "replace", gatewayIp + "/" + v4.prefix(), "dev", name);
        ip("link", "set", name, "up");
        List<String> gatewayIps = new ArrayList<>(List.of(gatewayIp));
        LOG.infof("gateway %s: %s/%d mac %s ofport %d%s", name, gatewayIp, v4.prefix(), mac, ofport,
                config.nodeNetns().map(ns -> " in netns " + ns).orElse(""));
        return new NodeNetwork(nodeName, podCidrs, gatewayIps, mac, name, ofport, nodeIp);
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
