package dev.weft.agent.ipam;

import dev.weft.agent.AgentConfig;
import dev.weft.net.AddressFormatException;
import dev.weft.net.IpPrefix;
import dev.weft.proto.ipam.v1.AllocationState;
import dev.weft.proto.ipam.v1.GetNodeCidrsRequest;
import dev.weft.proto.ipam.v1.IpamGrpc;
import dev.weft.proto.ipam.v1.NodeAllocation;
import dev.weft.proto.ipam.v1.PodCidr;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeAddress;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.grpc.GrpcClient;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Where this node's pod CIDRs come from, in order: {@code agent.pod-cidrs} (static), ipam-service
 * ({@code Ipam.GetNodeCidrs} on the gRPC client {@code ipam}), then the Node object's spec.podCIDRs.
 */
@ApplicationScoped
public class NodeCidrSource {

    private static final Logger LOG = Logger.getLogger(NodeCidrSource.class);

    /** The node's CIDRs (IPv4 first), where they came from, and its InternalIP ("" if unknown). */
    public record NodeCidrs(List<IpPrefix> cidrs, String source, String nodeIp) {
        public NodeCidrs {
            cidrs = List.copyOf(cidrs);
        }

        /**
         * Parses every CIDR strictly; one bad value fails the whole lookup, naming its source, rather than leaving
         * the node with part of its CIDRs.
         */
        static NodeCidrs parse(List<String> texts, String source, String nodeIp) {
            List<IpPrefix> cidrs = new ArrayList<>(texts.size());
            for (String t : texts) {
                try {
                    cidrs.add(IpPrefix.parse(t));
                } catch (AddressFormatException e) {
                    throw new IllegalArgumentException(source + ": " + e.getMessage(), e);
                }
            }
            return new NodeCidrs(cidrs, source, nodeIp);
        }
    }

    @Inject
    AgentConfig config;

    @Inject
    KubernetesClient kubernetes;

    @GrpcClient("ipam")
    IpamGrpc.IpamBlockingStub ipam;

    /** One attempt; empty when nobody knows the node's CIDR yet (the caller retries). */
    public Optional<NodeCidrs> lookup() {
        String node = config.resolvedNodeName();
        Optional<Node> nodeObject = readNode(node);
        String nodeIp = nodeObject.map(NodeCidrSource::internalIp).orElse("");
        if (config.podCidrs().isPresent() && !config.podCidrs().get().isEmpty()) {
            return Optional.of(NodeCidrs.parse(config.podCidrs().get(), "agent.pod-cidrs", nodeIp));
        }
        List<String> allocated = new ArrayList<>();
        try {
            NodeAllocation a = ipam.withDeadlineAfter(3, TimeUnit.SECONDS)
                    .getNodeCidrs(GetNodeCidrsRequest.newBuilder().setNodeName(node).build());
            if (a.getState() == AllocationState.ALLOCATED && a.getCidrsCount() > 0) {
                for (PodCidr c : a.getCidrsList()) {
                    allocated.add(c.getCidr());
                }
            } else {
                LOG.debugf("ipam-service has no CIDR for %s yet: %s %s", node, a.getState(), a.getMessage());
            }
        } catch (RuntimeException e) {
            LOG.debugf("ipam-service not answering for %s (%s); trying Node.spec.podCIDRs", node, e.getMessage());
        }
        if (!allocated.isEmpty()) {
            // Parsed outside the call: a bad answer is an error to report, not an ipam-service that is away.
            return Optional.of(NodeCidrs.parse(allocated, "ipam-service", nodeIp));
        }
        return nodeObject.flatMap(n -> {
            List<String> cidrs = n.getSpec() == null ? List.of() : n.getSpec().getPodCIDRs();
            if ((cidrs == null || cidrs.isEmpty()) && n.getSpec() != null && n.getSpec().getPodCIDR() != null) {
                cidrs = List.of(n.getSpec().getPodCIDR());
            }
            return cidrs == null || cidrs.isEmpty() ? Optional.empty()
                    : Optional.of(NodeCidrs.parse(cidrs, "Node.spec.podCIDRs", nodeIp));
        });
    }

    private Optional<Node> readNode(String node) {
        try {
            return Optional.ofNullable(kubernetes.nodes().withName(node).get());
        } catch (RuntimeException e) {
            LOG.debugf("cannot read Node %s: %s", node, e.getMessage());
            return Optional.empty();
        }
    }

    private static String internalIp(Node n) {
        if (n.getStatus() == null || n.getStatus().getAddresses() == null) {
            return "";
        }
        return n.getStatus().getAddresses().stream().filter(a -> "InternalIP".equals(a.getType()))
                .map(NodeAddress::getAddress).findFirst().orElse("");
    }
}
