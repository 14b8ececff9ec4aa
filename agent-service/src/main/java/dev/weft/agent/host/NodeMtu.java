package dev.weft.agent.host;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The MTU of pod interfaces and the gateway. Pod traffic to other nodes is encapsulated, and the outer packet must fit
 * the uplink (the interface carrying the node IP), so the pod MTU is the uplink MTU minus the tunnel overhead. For
 * Geneve and VXLAN over IPv4 that is 50 bytes: outer IPv4 header 20 + UDP 8 + Geneve/VXLAN header 8 + the inner
 * Ethernet header 14 (the pod's frame travels whole, so its Ethernet header is payload of the outer packet, while the
 * pod's MTU counts only its IP packet). Geneve options would add to it; Weft sends none. {@code agent.pod-mtu}
 * overrides the result.
 */
public final class NodeMtu {

    /** Outer IPv4 20 + UDP 8 + Geneve (or VXLAN) 8 + inner Ethernet 14. */
    public static final int ENCAP_OVERHEAD_IPV4 = 20 + 8 + 8 + 14;
    /** When no uplink can be found: the Ethernet MTU every network supports. */
    static final int ASSUMED_UPLINK_MTU = 1500;
    static final int MIN_MTU = 576;
    static final int MAX_MTU = 9216;

    /** The computed MTU and where the uplink figure came from (for the log and readiness data). */
    public record Choice(int mtu, String reason) {
    }

    private NodeMtu() {
    }

    /** Pod MTU for an uplink MTU and a tunnel type (geneve or vxlan). */
    public static int podMtu(int uplinkMtu, String tunnelType) {
        return switch (tunnelType) {
            case "geneve", "vxlan" -> uplinkMtu - ENCAP_OVERHEAD_IPV4;
            default -> throw new IllegalArgumentException("unknown tunnel type " + tunnelType + " (geneve or vxlan)");
        };
    }

    /**
     * The override when set, else the MTU of the uplink minus the tunnel overhead. The uplink is the interface holding
     * the node IP, else the one of the default route, else a 1500-byte Ethernet is assumed (said in the reason).
     */
    public static Choice choose(OptionalInt override, String nodeIp, String tunnelType, HostCommands host) throws IOException {
        if (override.isPresent()) {
            int mtu = override.getAsInt();
            if (mtu < MIN_MTU || mtu > MAX_MTU) {
                throw new IllegalArgumentException("agent.pod-mtu must be " + MIN_MTU + ".." + MAX_MTU + ": " + mtu);
            }
            return new Choice(mtu, "agent.pod-mtu");
        }
        Optional<Uplink> uplink = uplink(nodeIp, host);
        int uplinkMtu = uplink.map(Uplink::mtu).orElse(ASSUMED_UPLINK_MTU);
        int mtu = podMtu(uplinkMtu, tunnelType);
        String why = uplink.map(u -> "uplink " + u.device() + " (" + u.how() + ") MTU " + u.mtu())
                .orElse("no uplink found, assumed MTU " + ASSUMED_UPLINK_MTU) + " - " + ENCAP_OVERHEAD_IPV4 + " " + tunnelType;
        return new Choice(mtu, why);
    }

    record Uplink(String device, int mtu, String how) {
    }

    static Optional<Uplink> uplink(String nodeIp, HostCommands host) throws IOException {
        JsonNode links = host.ipJson("-4", "addr", "show");
        if (nodeIp != null && !nodeIp.isBlank()) {
            for (JsonNode link : links) {
                for (JsonNode a : link.path("addr_info")) {
                    if (nodeIp.equals(a.path("local").asText())) {
                        return Optional.of(new Uplink(link.path("ifname").asText(), link.path("mtu").asInt(), "holds " + nodeIp));
                    }
                }
            }
        }
        for (JsonNode route : host.ipJson("-4", "route", "show", "default")) {
            String dev = route.path("dev").asText();
            if (dev.isEmpty()) {
                continue;
            }
            for (JsonNode link : host.ipJson("link", "show", "dev", dev)) {
                if (link.path("mtu").asInt() > 0) {
                    return Optional.of(new Uplink(dev, link.path("mtu").asInt(), "default route"));
                }
            }
        }
        return Optional.empty();
    }
}
