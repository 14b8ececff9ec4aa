package dev.weft.agent.policy;

import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.PacketIn;
import dev.weft.agent.packet.Ipv4Frame;
import dev.weft.agent.pipeline.Cookie;
import dev.weft.agent.pipeline.PipelineTable;

import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * The denied-connection log's datapath side: what a packet-in from a logged policy's drop (cookie category
 * DENIED_LOG, see {@link PolicyCompiler}) says, as one {@link Denied} record. Every such flow sends through one meter
 * ({@link #METER_ID}), so however many connections a flood opens, the switch hands the agent at most the meter's rate
 * plus its burst per second; the rest are dropped by the meter, unlogged.
 */
public final class DeniedConnections {

    /** The denied-connection meter (traceflow uses 0xff01). */
    public static final int METER_ID = 0xff02;
    /** Bytes of each packet sent to the agent: Ethernet, IPv4 with options and the TCP/UDP ports fit. */
    public static final int MAX_LEN = 128;

    private DeniedConnections() {
    }

    /** Told of each denied new connection the meter let through, on the packet-in thread (must not block long). */
    @FunctionalInterface
    public interface Listener {
        void denied(Denied connection);
    }

    /**
     * One denied new connection. Pods are {@code namespace/name} when the address is a pod of this node, empty
     * otherwise; ports are 0 for protocols without them.
     *
     * @param direction "Ingress" (to a pod the policy isolates) or "Egress" (from one)
     * @param policies  the logged policies isolating the pod in that direction, {@code namespace/name}, sorted
     */
    public record Denied(Instant time, String direction, List<String> policies, String protocol,
                         String srcPod, String srcIp, int srcPort, String dstPod, String dstIp, int dstPort) {
        public Denied {
            policies = List.copyOf(policies);
        }

        /**
         * The log line: {@code 2026-12-02T08:10:00.123Z DENIED Ingress policy=default/nginx-allow proto=TCP
         * src=default/busybox-1 10.10.1.2:40000 dst=default/nginx-1 10.10.1.3:80}.
         */
        public String logLine() {
            return time + " DENIED " + direction + " policy=" + (policies.isEmpty() ? "-" : String.join(",", policies))
                    + " proto=" + protocol + " src=" + endpoint(srcPod, srcIp, srcPort) + " dst=" + endpoint(dstPod, dstIp, dstPort);
        }

        private static String endpoint(String pod, String ip, int port) {
            return (pod.isEmpty() ? "-" : pod) + " " + ip + (port == 0 ? "" : ":" + port);
        }
    }

    /**
     * Reads a DENIED_LOG packet-in: the direction from the table it came from, the isolated pod from the cookie's
     * object id (its OpenFlow port), addresses and ports from the frame. Null for a packet that is not one of ours or
     * not IPv4 (counted as dropped by the caller).
     *
     * @param loggedBy logged policies by {@link #key(String, int)}
     */
    static Denied read(PacketIn p, Map<String, List<String>> loggedBy, Collection<PodInterface> localPods) {
        Cookie cookie = Cookie.of(p.cookie());
        if (cookie.category() != Cookie.Category.DENIED_LOG) {
            return null;
        }
        String direction;
        if (p.tableId() == PipelineTable.INGRESS_DEFAULT_RULE.id) {
            direction = "Ingress";
        } else if (p.tableId() == PipelineTable.EGRESS_DEFAULT_RULE.id) {
            direction = "Egress";
        } else {
            return null;
        }
        Ipv4Frame f;
        try {
            f = Ipv4Frame.parse(p.frame());
        } catch (RuntimeException e) { // MalformedPacketException, or a frame too short for its headers
            return null;
        }
        String protocol;
        int srcPort = 0;
        int dstPort = 0;
        switch (f.transport()) {
            case Ipv4Frame.Tcp t -> {
                protocol = "TCP";
                srcPort = t.srcPort();
                dstPort = t.dstPort();
            }
            case Ipv4Frame.Udp u -> {
                protocol = "UDP";
                srcPort = u.srcPort();
                dstPort = u.dstPort();
            }
            case Ipv4Frame.Icmp i -> protocol = "ICMP";
            default -> protocol = "IP";
        }
        String srcIp = f.srcIp().toString();
        String dstIp = f.dstIp().toString();
        int port = (int) cookie.objectId();
        String isolated = podAt(localPods, port);
        String srcPod = direction.equals("Egress") ? isolated : podWith(localPods, srcIp);
        String dstPod = direction.equals("Ingress") ? isolated : podWith(localPods, dstIp);
        return new Denied(Instant.now(), direction, loggedBy.getOrDefault(key(direction, port), List.of()), protocol,
                srcPod, srcIp, srcPort, dstPod, dstIp, dstPort);
    }

    static String key(String direction, int ofport) {
        return direction + "/" + ofport;
    }

    private static String podAt(Collection<PodInterface> pods, int ofport) {
        for (PodInterface p : pods) {
            if (p.ofport() == ofport) {
                return p.key();
            }
        }
        return "";
    }

    private static String podWith(Collection<PodInterface> pods, String ip) {
        for (PodInterface p : pods) {
            if (p.ips().contains(ip)) {
                return p.key();
            }
        }
        return "";
    }
}
