package dev.weft.agent;

import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.OfException;
import dev.weft.agent.openflow.PacketIn;
import dev.weft.agent.openflow.PacketOut;
import dev.weft.agent.packet.Ipv4Frame;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.DatapathService;
import dev.weft.agent.pipeline.PeerNodesFeature;
import dev.weft.security.auth.BearerTokenFile;
import dev.weft.agent.pipeline.PipelineFields;
import dev.weft.agent.pipeline.TraceflowFeature;
import dev.weft.agent.policy.PolicyAgent;
import dev.weft.agent.policy.PolicyCompiler;
import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;
import dev.weft.net.MacAddress;
import dev.weft.proto.agent.v1.AgentQueryGrpc;
import dev.weft.proto.agent.v1.TraceNode;
import dev.weft.proto.agent.v1.TraceObservation;
import dev.weft.proto.agent.v1.TracePhase;
import dev.weft.proto.agent.v1.TraceflowRequest;
import dev.weft.proto.agent.v1.TraceflowResponse;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.ConfigProvider;
import org.jboss.logging.Logger;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Runs traceflows ({@code weftctl traceflow}): on the source pod's node it arms {@link TraceflowFeature}'s flows for
 * a free tag, asks the destination node's agent to arm the same tag (the Traceflow RPC with {@code peer_phase}),
 * injects one probe at the pod's port (a packet-out to table 0 with the pod's in_port, DSCP = the tag), reads where
 * the probe ended from the packet-in of each node, and names the NetworkPolicy and rule that decided (from the
 * conjunction id and the isolated port, through the agent's policy views). Every flow is removed afterwards.
 *
 * <p>A peer agent's address is {@code weft.traceflow.peer-agents} ({@code node=host:port,...}, what the local
 * cluster sets, its agents sharing one host) or else the peer's InternalIP with this agent's own port.
 */
@ApplicationScoped
public class TraceflowService {

    private static final Logger LOG = Logger.getLogger(TraceflowService.class);
    static final int DEFAULT_TIMEOUT_S = 5, MAX_TIMEOUT_S = 60;

    @Inject
    AgentConfig config;
    @Inject
    DatapathService datapath;
    @Inject
    PolicyAgent policy;
    @Inject
    Instance<KubernetesClient> kubernetes;

    private final SecureRandom random = new SecureRandom();
    /** Traces armed for a source agent, by tag, until it collects them. */
    private final Map<Integer, TraceflowFeature.Trace> armedForPeers = new ConcurrentHashMap<>();
    private TraceflowFeature feature;

    synchronized TraceflowFeature feature() {
        if (feature == null) {
            Datapath dp = datapath.datapath();
            feature = new TraceflowFeature(dp);
            dp.register(feature);
        }
        return feature;
    }

    public TraceflowResponse run(TraceflowRequest r) {
        int timeout = r.getTimeoutSeconds() == 0 ? DEFAULT_TIMEOUT_S : r.getTimeoutSeconds();
        if (timeout < 1 || timeout > MAX_TIMEOUT_S) {
            throw invalid("timeout " + timeout + " s out of 1.." + MAX_TIMEOUT_S);
        }
        try {
            return switch (r.getPeerPhase()) {
                case TRACE_PHASE_ARM -> armForPeer(r.getTag(), timeout);
                case TRACE_PHASE_COLLECT -> collectForPeer(r.getTag(), timeout);
                default -> trace(r, timeout);
            };
        } catch (OfException e) {
            throw Status.UNAVAILABLE.withDescription("Open vSwitch: " + e.getMessage()).asRuntimeException();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw Status.CANCELLED.withDescription("interrupted").asRuntimeException();
        }
    }

    // ------------------------------------------------------------------ peer side

    private TraceflowResponse armForPeer(int tag, int timeout) {
        Datapath dp = datapath.datapath();
        TraceflowFeature.Trace t;
        try {
            t = feature().arm(tag, dp.feature(PeerNodesFeature.class).tunnelPort(), timeout + 10);
        } catch (IllegalStateException | IllegalArgumentException e) {
            throw Status.ALREADY_EXISTS.withDescription(e.getMessage()).asRuntimeException();
        }
        armedForPeers.put(tag, t);
        return TraceflowResponse.newBuilder().setTag(tag).build();
    }

    private TraceflowResponse collectForPeer(int tag, int timeout) throws InterruptedException {
        TraceflowFeature.Trace t = armedForPeers.remove(tag);
        if (t == null) {
            throw Status.NOT_FOUND.withDescription("no trace " + tag + " armed on " + nodeName()).asRuntimeException();
        }
        try {
            PacketIn p = t.next(TimeUnit.SECONDS.toMillis(timeout));
            TraceNode.Builder n = TraceNode.newBuilder().setNode(nodeName());
            if (p != null) {
                n.addAllObservations(observe(p, false));
            }
            return TraceflowResponse.newBuilder().setTag(tag).addNodes(n).build();
        } finally {
            feature().disarm(t);
        }
    }

    // ------------------------------------------------------------------ source side

    private record Destination(IpAddress ip, String describe, MacAddress localMac, String node) {
    }

    private TraceflowResponse trace(TraceflowRequest r, int timeout) throws InterruptedException {
        Datapath dp = datapath.datapath();
        String srcKey = r.getSource().getNamespace() + "/" + r.getSource().getName();
        if (r.getSource().getName().isEmpty()) {
            throw invalid("a source pod is required (-S NAMESPACE/POD)");
        }
        PodInterface src = dp.localPods().get(srcKey);
        if (src == null) {
            throw Status.NOT_FOUND.withDescription("no local pod " + srcKey + " on node " + nodeName()
                    + ": run the trace against the agent of the source pod's node").asRuntimeException();
        }
        IpAddress srcIp = src.ips().stream().map(IpAddress::parse).filter(a -> a.family() == AddressFamily.IPV4)
                .findFirst().orElseThrow(() -> invalid("pod " + srcKey + " has no IPv4 address"));
        NodeNetwork node = dp.nodeNetwork();
        if (node == null || node.gatewayMac() == null || node.gatewayMac().isBlank()) {
            throw Status.UNAVAILABLE.withDescription("the node network is not set up yet").asRuntimeException();
        }
        Destination dst = destination(r, dp);
        String proto = r.getProtocol().isEmpty() ? "tcp" : r.getProtocol().toLowerCase(java.util.Locale.ROOT);
        int port = r.getDestinationPort() == 0 ? 80 : r.getDestinationPort();
        if (port > 0xffff) {
            throw invalid("destination port " + port + " out of 1..65535");
        }
        int srcPort = 32768 + random.nextInt(28000);
        Ipv4Frame.Transport transport = switch (proto) {
            case "tcp" -> Ipv4Frame.Tcp.syn(srcPort, port);
            case "udp" -> new Ipv4Frame.Udp(srcPort, port, new byte[0]);
            case "icmp" -> Ipv4Frame.Icmp.echoRequest(srcPort, 1);
            default -> throw invalid("protocol '" + proto + "' (tcp, udp or icmp)");
        };
        PeerNodesFeature peers = dp.feature(PeerNodesFeature.class);
        PeerNodesFeature.PeerNode peer = dst.localMac() != null ? null : peerOf(dst, peers.peers());
        TraceflowFeature f = feature();
        int tag = f.freeTag(random);
        if (tag < 0) {
            throw Status.RESOURCE_EXHAUSTED.withDescription("63 traces are running; try again").asRuntimeException();
        }
        MacAddress dstMac = dst.localMac() != null ? dst.localMac() : MacAddress.parse(node.gatewayMac());
        Ipv4Frame probe = new Ipv4Frame(MacAddress.parse(src.mac()), dstMac, srcIp, dst.ip(), tag, tag, 64, transport);
        String packet = proto + " " + srcIp + (proto.equals("icmp") ? "" : ":" + srcPort) + " -> " + dst.ip()
                + (proto.equals("icmp") ? "" : ":" + port);
        TraceflowResponse.Builder out = TraceflowResponse.newBuilder().setTag(tag).setSource(srcKey)
                .setDestination(dst.describe()).setPacket(packet);
        TraceflowFeature.Trace t = f.arm(tag, peers.tunnelPort(), timeout + 10);
        String peerAddress = null;
        String peerProblem = null;
        try {
            if (peer != null) {
                peerAddress = agentAddress(peer);
                try {
                    callPeer(peerAddress, tag, TracePhase.TRACE_PHASE_ARM, timeout);
                } catch (StatusRuntimeException e) {
                    peerProblem = "agent of " + peer.name() + " at " + peerAddress + ": " + e.getStatus().getCode()
                            + " " + e.getStatus().getDescription();
                    peerAddress = null;
                }
            }
            dp.packetOut(PacketOut.toPipeline(src.ofport(), probe.encode()));
            PacketIn p = t.next(TimeUnit.SECONDS.toMillis(timeout));
            TraceNode.Builder here = TraceNode.newBuilder().setNode(nodeName());
            List<TraceObservation> obs = p == null ? List.of() : observe(p, true);
            here.addAllObservations(obs);
            out.addNodes(here);
            String result = obs.isEmpty() ? "Timeout" : obs.getLast().getAction();
            if (peerProblem != null) {
                here.addObservations(TraceObservation.newBuilder().setComponent("Peer").setAction("Unknown")
                        .setInfo(peerProblem));
            }
            if (peerAddress != null) {
                TraceflowResponse theirs = callPeer(peerAddress, tag, TracePhase.TRACE_PHASE_COLLECT, timeout);
                peerAddress = null;
                for (TraceNode n : theirs.getNodesList()) {
                    out.addNodes(n);
                    if (n.getObservationsCount() > 0) {
                        result = n.getObservations(n.getObservationsCount() - 1).getAction();
                    } else if (result.equals("Forwarded")) {
                        result = "Timeout";
                    }
                }
            }
            return out.setResult(result).build();
        } finally {
            f.disarm(t);
            if (peerAddress != null) {
                try {
                    callPeer(peerAddress, tag, TracePhase.TRACE_PHASE_COLLECT, 1);
                } catch (StatusRuntimeException e) {
                    LOG.debugf("peer trace %d not collected (its hard timeout removes it): %s", tag, e.getMessage());
                }
            }
        }
    }

    private Destination destination(TraceflowRequest r, Datapath dp) {
        switch (r.getDestinationCase()) {
            case DESTINATION_IP -> {
                IpAddress ip = IpAddress.tryParse(r.getDestinationIp()).filter(a -> a.family() == AddressFamily.IPV4)
                        .orElseThrow(() -> invalid("destination '" + r.getDestinationIp() + "' is not an IPv4 address"));
                for (PodInterface p : dp.localPods().values()) {
                    if (p.ips().contains(ip.toString())) {
                        return new Destination(ip, ip.toString(), MacAddress.parse(p.mac()), nodeName());
                    }
                }
                return new Destination(ip, ip.toString(), null, null);
            }
            case DESTINATION_POD -> {
                String key = r.getDestinationPod().getNamespace() + "/" + r.getDestinationPod().getName();
                PodInterface local = dp.localPods().get(key);
                if (local != null) {
                    IpAddress ip = IpAddress.parse(local.ips().getFirst());
                    return new Destination(ip, key, MacAddress.parse(local.mac()), nodeName());
                }
                if (!kubernetes.isResolvable()) {
                    throw Status.FAILED_PRECONDITION.withDescription("pod " + key + " is not local and there is no"
                            + " Kubernetes client to find it; give its IP (-D IP)").asRuntimeException();
                }
                Pod pod = kubernetes.get().pods().inNamespace(r.getDestinationPod().getNamespace())
                        .withName(r.getDestinationPod().getName()).get();
                if (pod == null || pod.getStatus() == null || pod.getStatus().getPodIP() == null) {
                    throw Status.NOT_FOUND.withDescription("pod " + key + " not found or without an IP").asRuntimeException();
                }
                return new Destination(IpAddress.parse(pod.getStatus().getPodIP()), key, null, pod.getSpec().getNodeName());
            }
            default -> throw invalid("a destination is required (-D NAMESPACE/POD or -D IP[:PORT])");
        }
    }

    private static PeerNodesFeature.PeerNode peerOf(Destination dst, List<PeerNodesFeature.PeerNode> peers) {
        for (PeerNodesFeature.PeerNode p : peers) {
            if (p.name().equals(dst.node())) {
                return p;
            }
            for (String cidr : p.podCidrs()) {
                IpPrefix c = IpPrefix.parseContaining(cidr);
                if (c.family() == AddressFamily.IPV4 && c.contains(dst.ip())) {
                    return p;
                }
            }
        }
        return null;
    }

    private String agentAddress(PeerNodesFeature.PeerNode peer) {
        Optional<String> map = ConfigProvider.getConfig().getOptionalValue("weft.traceflow.peer-agents", String.class);
        if (map.isPresent()) {
            for (String kv : map.get().split(",")) {
                int eq = kv.indexOf('=');
                if (eq > 0 && kv.substring(0, eq).trim().equals(peer.name())) {
                    return kv.substring(eq + 1).trim();
                }
            }
        }
        int port = ConfigProvider.getConfig().getOptionalValue("quarkus.http.port", Integer.class).orElse(9093);
        return peer.nodeIp() + ":" + port;
    }

    /** A peer phase on another node's agent, with this agent's peer token (agent.peer-token-file) when it has one. */
    private TraceflowResponse callPeer(String address, int tag, TracePhase phase, int timeout) {
        ManagedChannel ch = ManagedChannelBuilder.forTarget(address).usePlaintext().build();
        try {
            io.grpc.Channel channel = config.peerTokenFile()
                    .<io.grpc.Channel>map(f -> io.grpc.ClientInterceptors.intercept(ch, new BearerTokenFile(f))).orElse(ch);
            return AgentQueryGrpc.newBlockingStub(channel).withDeadlineAfter(timeout + 10L, TimeUnit.SECONDS)
                    .traceflow(TraceflowRequest.newBuilder().setPeerPhase(phase).setTag(tag).setTimeoutSeconds(timeout)
                            .build());
        } finally {
            ch.shutdownNow();
        }
    }

    // ------------------------------------------------------------------ reading a packet-in

    List<TraceObservation> observe(PacketIn p, boolean sourceNode) {
        List<TraceObservation> out = new ArrayList<>();
        for (TraceflowFeature.Observation o : feature().observe(p, sourceNode, policyNames())) {
            out.add(TraceObservation.newBuilder().setComponent(o.component()).setAction(o.action())
                    .setNetworkPolicy(o.networkPolicy()).setRule(o.rule()).setInfo(o.info()).setTableId(o.table()).build());
        }
        return out;
    }

    /** Policy names from the agent's policy views: conjunction id to policy and rule, isolated port to policies. */
    private TraceflowFeature.PolicyNames policyNames() {
        return new TraceflowFeature.PolicyNames() {
            public String[] rule(long conjId) {
                for (PolicyCompiler.PolicyView v : policy.controller().views().values()) {
                    if (v.conjIds().contains(conjId)) {
                        return new String[]{v.namespace() + "/" + v.sourceName(),
                                ruleName(policy.controller().ruleKeyOf(conjId), conjId)};
                    }
                }
                return null;
            }

            public List<String> isolating(int ofport) {
                List<String> names = new ArrayList<>();
                for (PolicyCompiler.PolicyView v : policy.controller().views().values()) {
                    if (v.isolatedPorts().contains(ofport)) {
                        names.add(v.namespace() + "/" + v.sourceName());
                    }
                }
                names.sort(null);
                return names;
            }
        };
    }

    /** {@code <policy>/IN/0[/...]} (the compiler's rule key: direction IN or OUT, rule index) is "IngressRule 0". */
    public static String ruleName(String ruleKey, long conjId) {
        if (ruleKey != null) {
            String[] parts = ruleKey.split("/");
            for (int i = 0; i + 1 < parts.length; i++) {
                if (parts[i].equals("IN") || parts[i].equals("OUT")) {
                    return (parts[i].equals("IN") ? "IngressRule " : "EgressRule ") + parts[i + 1];
                }
            }
        }
        return "conjunction " + conjId;
    }

    private String nodeName() {
        return config.resolvedNodeName();
    }

    private static StatusRuntimeException invalid(String why) {
        return Status.INVALID_ARGUMENT.withDescription(why).asRuntimeException();
    }
}
