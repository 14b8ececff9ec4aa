package dev.weft.agent.pipeline;

import dev.weft.net.IpPrefix;
import dev.weft.net.IpAddress;
import dev.weft.net.AddressFamily;
import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.Match;
import dev.weft.agent.openflow.OfField;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static dev.weft.agent.pipeline.FlowBuilder.flow;
import static dev.weft.agent.pipeline.FlowPriority.NORMAL;
import static dev.weft.agent.pipeline.PipelineFields.FROM_TUNNEL_REG_MARK;
import static dev.weft.agent.pipeline.PipelineFields.TARGET_OF_PORT_FIELD;
import static dev.weft.agent.pipeline.PipelineTable.*;

/**
 * Routes to the other nodes' pods through the tunnel port ({@code remote_ip=flow}): packets from the tunnel are
 * classified, packets for the virtual MAC go out of the tunnel, and each peer pod CIDR is routed with
 * {@code tun_dst=<peer InternalIP>}. Its input is {@link #update} (from {@link PeerNodeWatcher}); the routes need the
 * gateway MAC, so they follow the node network too.
 */
public final class PeerNodesFeature implements PipelineFeature {

    /** Destination MAC of packets routed into the tunnel (as Antrea's global virtual MAC). */
    public static final String VIRTUAL_MAC = "aa:bb:cc:dd:ee:ff";
    static final long OWNER = FlowStore.owner(Cookie.Category.PEER_NODE, 0);
    private static final Declaration DECLARATION = new Declaration("PeerNodes",
            List.of(CLASSIFICATION, ARP_RESPONDER, L3_FORWARDING, L2_FORWARDING), Set.of(Cookie.Category.PEER_NODE));

    public record PeerNode(String name, List<String> podCidrs, String nodeIp) {
    }

    private final Datapath datapath;
    private int tunnelPort;
    private List<PeerNode> peers = List.of();

    PeerNodesFeature(Datapath datapath) {
        this.datapath = datapath;
    }

    /** The tunnel's OpenFlow port (0: none) and the peers to route to, replacing the previous ones. */
    public void update(int tunnelOfport, List<PeerNode> peerNodes) {
        synchronized (datapath) {
            this.tunnelPort = tunnelOfport;
            this.peers = List.copyOf(peerNodes);
            datapath.apply(this, OWNER, flows(tunnelPort, peers, datapath.nodeNetwork()));
        }
    }

    @Override
    public Declaration declaration() {
        return DECLARATION;
    }

    /** The tunnel's OpenFlow port, 0 when there is none yet (traceflow watches it). */
    public int tunnelPort() {
        synchronized (datapath) {
            return tunnelPort;
        }
    }

    /** The peers routed to now (traceflow finds the node of a destination with them). */
    public List<PeerNode> peers() {
        synchronized (datapath) {
            return peers;
        }
    }

    @Override
    public void nodeNetworkChanged(NodeNetwork node) {
        datapath.apply(this, OWNER, flows(tunnelPort, peers, node));
    }

    static List<FlowMod> flows(int tunnelPort, List<PeerNode> peers, NodeNetwork n) {
        List<FlowMod> f = new ArrayList<>();
        if (tunnelPort <= 0 || n == null || n.gatewayMac() == null || n.gatewayMac().isBlank()) {
            return f;
        }
        Cookie c = Cookie.of(Cookie.Category.PEER_NODE, 0);
        f.add(flow(CLASSIFICATION, NORMAL).cookie(c).match(m -> m.inPort(tunnelPort))
                .load(FROM_TUNNEL_REG_MARK).resubmit(CONNTRACK_ZONE).build());
        f.add(flow(L2_FORWARDING, NORMAL).cookie(c).match(m -> m.dlDst(VIRTUAL_MAC))
                .load(TARGET_OF_PORT_FIELD, tunnelPort).resubmit(CONNTRACK_COMMIT).build());
        for (PeerNode p : peers) {
            if (p.nodeIp() == null || IpAddress.tryParse(p.nodeIp()).filter(a -> a.family() == AddressFamily.IPV4).isEmpty()) {
                continue;
            }
            // object id: the peer's name hash, which tells one peer's routes from another's
            Cookie pc = Cookie.of(Cookie.Category.PEER_NODE, Integer.toUnsignedLong(p.name().hashCode()));
            for (String cidr : p.podCidrs()) {
                if (IpPrefix.parseContaining(cidr).family() != AddressFamily.IPV4) {
                    continue;
                }
                f.add(arpReply(pc, IpPrefix.parseContaining(cidr).address(1).toString()));
                f.add(flow(L3_FORWARDING, NORMAL).cookie(pc).match(m -> m.ip().nwDst(cidr))
                        .setEthSrc(n.gatewayMac()).setEthDst(VIRTUAL_MAC).setTunDst(p.nodeIp()).decTtl()
                        .resubmit(L2_FORWARDING).build());
            }
        }
        return f;
    }

    /** ARP code of a request. */
    static final int ARP_REQUEST = 1;
    /** ARP code of a reply. */
    static final int ARP_REPLY = 2;

    /**
     * The host routes a peer pod CIDR via the peer's gateway address onlink on the gateway port, so it ARPs for that
     * address: answered here with the virtual MAC (the packet is then tunnelled by the peer route), the request turned
     * into a reply in place and sent back where it came from, as Antrea's arpResponder flows do.
     */
    static FlowMod arpReply(Cookie c, String peerGatewayIp) {
        long vmac = Match.parseMac(VIRTUAL_MAC);
        return flow(ARP_RESPONDER, NORMAL).cookie(c).match(m -> m.arpOp(ARP_REQUEST).arpTpa(peerGatewayIp))
                .move(OfField.ETH_SRC, OfField.ETH_DST).setEthSrc(VIRTUAL_MAC).setField(OfField.ARP_OP, ARP_REPLY)
                .move(OfField.ARP_SHA, OfField.ARP_THA).move(OfField.ARP_SPA, OfField.ARP_TPA)
                .setField(OfField.ARP_SHA, vmac).setField(OfField.ARP_SPA, Match.parseIpv4(peerGatewayIp))
                .outputInPort().build();
    }
}
