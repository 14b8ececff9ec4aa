package dev.weft.agent.host;

import dev.weft.agent.AgentConfig;
import dev.weft.agent.ovsdb.BridgeSpec;
import dev.weft.agent.ovsdb.InterfaceUpdate;
import dev.weft.agent.ovsdb.OvsBridge;
import dev.weft.agent.ovsdb.OvsPort;
import dev.weft.agent.ovsdb.OvsdbClient;
import dev.weft.agent.ovsdb.OvsdbException;
import dev.weft.agent.ovsdb.PortSpec;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The node's integration bridge and the ports the agent owns on it (the gateway and the tunnel), set up through the
 * OVSDB bridge API: created when missing, repaired when they differ (fail_mode, protocols, a port's type or options),
 * reported when they conflict. Ownership is recorded in {@code external_ids:weft.dev/owner}; a port the agent does not
 * own is never changed or removed, and a bridge of the wrong datapath type is reported, never recreated (it carries
 * every pod's port). Idempotent: call it on every start and as often as wanted.
 */
@Singleton
public class NodeBridge {

    private static final Logger LOG = Logger.getLogger(NodeBridge.class);

    public static final String OWNER_KEY = "weft.dev/owner";
    public static final String OWNER_AGENT = "weft-agent";
    public static final String OWNER_GATEWAY = "weft-gateway";
    public static final String OWNER_TUNNEL = "weft-tunnel";
    /** What the agent speaks; always enabled on the bridge. */
    static final String OPENFLOW = "OpenFlow13";
    /** A new bridge also takes 1.0 and 1.5 so that a plain {@code ovs-ofctl dump-flows br-int} works for operators. */
    static final List<String> NEW_BRIDGE_PROTOCOLS = List.of("OpenFlow10", OPENFLOW, "OpenFlow15");
    private static final Duration OFPORT_TIMEOUT = Duration.ofSeconds(20);

    /** The bridge and port names and types, from {@code agent.*}. */
    public record Layout(String bridge, String datapathType, String gatewayName, int gatewayOfport,
                         String tunnelName, String tunnelType) {
        public Layout {
            if (!datapathType.equals("system") && !datapathType.equals("netdev")) {
                throw new IllegalArgumentException("agent.bridge-datapath-type must be system or netdev: '" + datapathType + "'");
            }
        }

        static Layout of(AgentConfig c) {
            return new Layout(c.bridge(), c.bridgeDatapathType(), c.gatewayName(), c.gatewayOfport(), c.tunnelName(),
                    c.tunnelType());
        }
    }

    /** What {@link #ensureBridge} did: created the bridge, or the repairs it made (empty when all was in place). */
    public record BridgeOutcome(boolean created, List<String> repairs) {
        public BridgeOutcome {
            repairs = List.copyOf(repairs);
        }
    }

    private final OvsdbClient ovsdb;
    private final Layout layout;

    @Inject
    NodeBridge(OvsdbClient ovsdb, AgentConfig config) {
        this(ovsdb, Layout.of(config));
    }

    public NodeBridge(OvsdbClient ovsdb, Layout layout) {
        this.ovsdb = ovsdb;
        this.layout = layout;
    }

    public Layout layout() {
        return layout;
    }

    /**
     * Creates the bridge (datapath type from the layout, fail_mode secure, OpenFlow 1.3 enabled) or repairs its
     * fail_mode and protocols.
     *
     * @throws NodeNetworkConflict when the bridge exists with another datapath type
     */
    public synchronized BridgeOutcome ensureBridge() throws IOException {
        Optional<OvsBridge> found = ovsdb.getBridge(layout.bridge());
        if (found.isEmpty()) {
            ovsdb.createBridge(new BridgeSpec(layout.bridge(), layout.datapathType(), "secure", NEW_BRIDGE_PROTOCOLS,
                    Map.of(OWNER_KEY, OWNER_AGENT), Map.of()));
            LOG.infof("created bridge %s (datapath_type %s, fail_mode secure)", layout.bridge(), layout.datapathType());
            return new BridgeOutcome(true, List.of());
        }
        OvsBridge b = found.get();
        if (!b.effectiveDatapathType().equals(layout.datapathType())) {
            List<String> others = portsOfOthers();
            throw new NodeNetworkConflict("bridge " + b.name() + " has datapath_type " + b.effectiveDatapathType()
                    + " but agent.bridge-datapath-type is " + layout.datapathType() + "; the bridge is left as it is"
                    + (others.isEmpty() ? " (delete it to let the agent create it, or change the setting)"
                    : " (it has ports Weft does not own: " + String.join(", ", others) + ")"));
        }
        List<String> repairs = new ArrayList<>();
        if (!"secure".equals(b.failMode())) {
            ovsdb.setBridgeFailMode(b.name(), "secure");
            repairs.add("fail_mode " + (b.failMode().isEmpty() ? "(unset)" : b.failMode()) + " -> secure");
        }
        // An empty protocols column means Open vSwitch's default set, which includes 1.3.
        if (!b.protocols().isEmpty() && !b.protocols().contains(OPENFLOW)) {
            ovsdb.addBridgeProtocols(b.name(), List.of(OPENFLOW));
            repairs.add("protocols " + b.protocols() + " + " + OPENFLOW);
        }
        if (!repairs.isEmpty()) {
            LOG.warnf("bridge %s repaired: %s", b.name(), String.join(", ", repairs));
        }
        return new BridgeOutcome(false, repairs);
    }

    private List<String> portsOfOthers() throws OvsdbException {
        List<String> others = new ArrayList<>();
        for (OvsPort p : ovsdb.listPorts(layout.bridge())) {
            String owner = p.externalIds().getOrDefault(OWNER_KEY, "");
            if (!p.name().equals(layout.bridge()) && !owner.startsWith("weft-")) {
                others.add(p.name());
            }
        }
        return others;
    }

    /**
     * The gateway: an internal port with {@code agent.gateway-ofport} requested, its MAC and MTU set through OVSDB
     * (ovs-vswitchd keeps them across its restarts; without {@code mtu_request} it would lower an internal port's MTU
     * to the smallest of the bridge's other ports whenever ports change). Returns its OpenFlow port.
     */
    public synchronized int ensureGateway(String mac, int mtu) throws IOException {
        int ofport = ensureOwnedPort(new PortSpec(layout.gatewayName(), "internal", Map.of(), Map.of(), layout.gatewayOfport()),
                OWNER_GATEWAY);
        ovsdb.updateInterface(layout.gatewayName(), InterfaceUpdate.none().mac(mac).mtuRequest(mtu));
        return ofport;
    }

    /** The tunnel port to peer nodes ({@code agent.tunnel-type}, remote_ip and key chosen per flow). Its OpenFlow port. */
    public synchronized int ensureTunnel() throws IOException {
        return ensureOwnedPort(new PortSpec(layout.tunnelName(), layout.tunnelType(),
                Map.of("remote_ip", "flow", "key", "flow"), Map.of(), 0), OWNER_TUNNEL);
    }

    /**
     * A port the agent owns, made to match {@code spec}. A port of that name that is not the agent's is adopted only
     * when it is exactly what the agent would create (as older agents created the tunnel without an owner);
     * otherwise it is a conflict and stays untouched.
     */
    private int ensureOwnedPort(PortSpec spec, String owner) throws IOException {
        Map<String, String> ids = new HashMap<>(spec.externalIds());
        ids.put(OWNER_KEY, owner);
        PortSpec owned = new PortSpec(spec.name(), spec.type(), spec.options(), ids, spec.ofportRequest());
        Optional<OvsPort> existing = ovsdb.getPort(spec.name());
        if (existing.isEmpty()) {
            int ofport = ovsdb.addPort(layout.bridge(), owned, OFPORT_TIMEOUT).ofport();
            LOG.infof("added %s port %s to %s (ofport %d)", spec.type().isEmpty() ? "system" : spec.type(), spec.name(),
                    layout.bridge(), ofport);
            return ofport;
        }
        OvsPort p = existing.get();
        String onBridge = ovsdb.bridgeOfPort(spec.name()).orElse("(none)");
        if (!onBridge.equals(layout.bridge())) {
            throw new NodeNetworkConflict("port " + spec.name() + " is on bridge " + onBridge + ", not " + layout.bridge()
                    + "; it is left as it is");
        }
        boolean matches = p.type().equals(spec.type()) && p.options().equals(spec.options());
        String currentOwner = p.externalIds().get(OWNER_KEY);
        if (currentOwner == null) {
            if (!matches) {
                throw new NodeNetworkConflict("port " + spec.name() + " on " + layout.bridge() + " is not Weft's (no external_ids:"
                        + OWNER_KEY + ") and differs from what Weft creates (type '" + p.type() + "', options " + p.options()
                        + "); it is left as it is: remove it or configure another port name");
            }
            ovsdb.setPortExternalIds(spec.name(), Map.of(OWNER_KEY, owner), List.of());
            LOG.infof("adopted port %s (as created by Weft, no owner recorded)", spec.name());
        } else if (!currentOwner.equals(owner)) {
            throw new NodeNetworkConflict("port " + spec.name() + " on " + layout.bridge() + " belongs to " + currentOwner
                    + ", not " + owner + "; it is left as it is");
        }
        if (!matches) {
            LOG.warnf("port %s repaired: type '%s' options %s -> type '%s' options %s", spec.name(), p.type(), p.options(),
                    spec.type(), spec.options());
            ovsdb.updateInterface(spec.name(), InterfaceUpdate.none().type(spec.type()).options(spec.options()));
            return ovsdb.awaitOfport(spec.name(), OFPORT_TIMEOUT);
        }
        if (p.ofport() > 0) {
            return p.ofport();
        }
        if (p.ofport() == 0) {
            try {
                return ovsdb.awaitOfport(spec.name(), OFPORT_TIMEOUT);
            } catch (OvsdbException e) {
                LOG.warnf("port %s has no OpenFlow port (%s): adding it again", spec.name(), e.getMessage());
            }
        }
        // Ours and failed (ofport -1, e.g. created before its device could exist): recreate it.
        ovsdb.deletePort(layout.bridge(), spec.name());
        return ovsdb.addPort(layout.bridge(), owned, OFPORT_TIMEOUT).ofport();
    }
}
