package dev.weft.agent.host;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weft.net.AddressFamily;
import dev.weft.net.IpPrefix;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Host routes to the other nodes' pod CIDRs through the gateway, as Antrea installs them in encap mode:
 * {@code ip route replace PEER_CIDR via PEER_GATEWAY dev gw0 onlink}. Traffic from the host (kubelet probes of remote
 * pods, hostNetwork pods, NodePorts) then enters the bridge at the gateway and the pipeline tunnels it to the peer;
 * "onlink" because the peer's gateway address is not on any local subnet. Weft's routes carry a route protocol of
 * their own ({@value #PROTOCOL}), which is how stale ones are found and removed; a route of another protocol to the
 * same destination is never replaced: it is reported as a conflict.
 */
public final class PeerRoutes {

    /** The route protocol (rtm_protocol) marking Weft's routes; unused by common routing daemons (see rt_protos). */
    public static final int PROTOCOL = 87;
    private static final String PROTO = Integer.toString(PROTOCOL);

    /**
     * A route into the gateway: to one peer pod CIDR via that peer's gateway address, or to the Service CIDR via the
     * switch's virtual address with the gateway's address as source ({@code src}, null: the kernel's choice).
     */
    public record PeerRoute(String cidr, String via, String src) {
        public PeerRoute(String cidr, String via) {
            this(cidr, via, null);
        }
    }

    /** What a reconcile did; {@code conflicts} are destinations left alone (a foreign route, a CIDR claimed twice). */
    public record Outcome(List<String> installed, List<String> removed, List<String> conflicts) {
        public Outcome {
            installed = List.copyOf(installed);
            removed = List.copyOf(removed);
            conflicts = List.copyOf(conflicts);
        }
    }

    private final HostCommands host;

    public PeerRoutes(HostCommands host) {
        this.host = host;
    }

    /**
     * The routes for the peers' IPv4 pod CIDRs (each via its first address, the peer's gateway), in peer order. A
     * CIDR claimed by two peers is routed to the first and named in {@code conflicts}.
     */
    public static List<PeerRoute> desired(List<PeerNodesChanged.Peer> peers, List<String> conflicts) {
        Map<String, String> owner = new LinkedHashMap<>();
        List<PeerRoute> out = new ArrayList<>();
        for (PeerNodesChanged.Peer p : peers) {
            for (String c : p.podCidrs()) {
                IpPrefix cidr;
                try {
                    cidr = IpPrefix.parseContaining(c);
                } catch (IllegalArgumentException e) {
                    conflicts.add("node " + p.name() + " has an unusable pod CIDR " + c + ": " + e.getMessage());
                    continue;
                }
                if (cidr.family() != AddressFamily.IPV4) {
                    continue; // IPv6 pod CIDRs are not routed yet (the agent's pod network is IPv4)
                }
                String key = cidr.toString();
                String first = owner.putIfAbsent(key, p.name());
                if (first != null) {
                    conflicts.add("pod CIDR " + key + " is claimed by nodes " + first + " and " + p.name());
                    continue;
                }
                out.add(new PeerRoute(key, cidr.address(1).toString())); // the peer's gateway: its first address
            }
        }
        return out;
    }

    /** Makes the main table's Weft routes exactly {@code desired} (via {@code gateway}); one {@code ip -batch}. */
    public Outcome reconcile(String gateway, List<PeerRoute> desired) throws IOException {
        List<String> conflicts = new ArrayList<>();
        Map<String, JsonNode> ours = new LinkedHashMap<>();
        Set<String> ourKeys = new HashSet<>();
        for (JsonNode r : host.ipJson("-4", "route", "show", "table", "main", "proto", PROTO)) {
            ours.put(r.path("dst").asText(), r);
            ourKeys.add(key(r));
        }
        Map<String, JsonNode> foreign = new LinkedHashMap<>();
        for (JsonNode r : host.ipJson("-4", "route", "show", "table", "main")) {
            if (!ourKeys.contains(key(r))) {
                foreign.putIfAbsent(r.path("dst").asText(), r);
            }
        }
        List<String> commands = new ArrayList<>();
        List<String> installed = new ArrayList<>();
        Set<String> wanted = new HashSet<>();
        for (PeerRoute want : desired) {
            wanted.add(want.cidr());
            JsonNode other = foreign.get(want.cidr());
            if (other != null) {
                conflicts.add("route to " + want.cidr() + " exists (" + describe(other) + "); not replaced");
                continue;
            }
            JsonNode have = ours.get(want.cidr());
            if (have != null && want.via().equals(have.path("gateway").asText()) && gateway.equals(have.path("dev").asText())
                    && flags(have).contains("onlink")
                    && (want.src() == null ? !have.has("prefsrc") : want.src().equals(have.path("prefsrc").asText()))) {
                continue;
            }
            commands.add("route replace " + want.cidr() + " via " + want.via() + " dev " + gateway + " onlink"
                    + (want.src() == null ? "" : " src " + want.src()) + " proto " + PROTO);
            installed.add(want.cidr());
        }
        List<String> removed = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : ours.entrySet()) {
            if (!wanted.contains(e.getKey())) {
                commands.add("route del " + e.getKey() + " proto " + PROTO + " table main");
                removed.add(e.getKey());
            }
        }
        host.ipBatch(commands);
        return new Outcome(installed, removed, conflicts);
    }

    private static String key(JsonNode r) {
        return r.path("dst").asText() + " " + r.path("gateway").asText() + " " + r.path("dev").asText() + " "
                + r.path("metric").asText();
    }

    private static Set<String> flags(JsonNode r) {
        Set<String> out = new HashSet<>();
        r.path("flags").forEach(f -> out.add(f.asText()));
        return out;
    }

    private static String describe(JsonNode r) {
        StringBuilder s = new StringBuilder();
        if (r.has("gateway")) {
            s.append("via ").append(r.get("gateway").asText()).append(' ');
        }
        s.append("dev ").append(r.path("dev").asText());
        if (r.has("protocol")) {
            s.append(" proto ").append(r.get("protocol").asText());
        }
        return s.toString();
    }
}
