package dev.weft.agent.host;

import java.util.List;

/**
 * The other nodes of the cluster as the Node informer sees them now (a CDI event, fired on every change): whole list,
 * not a delta, so a missed event is repaired by the next one.
 */
public record PeerNodesChanged(List<Peer> peers) {

    public PeerNodesChanged {
        peers = List.copyOf(peers);
    }

    /** One peer: its name, its pod CIDRs (Node.spec.podCIDRs) and its InternalIP. */
    public record Peer(String name, List<String> podCidrs, String nodeIp) {
        public Peer {
            podCidrs = List.copyOf(podCidrs);
        }
    }
}
