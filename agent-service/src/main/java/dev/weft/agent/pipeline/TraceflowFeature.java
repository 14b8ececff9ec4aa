package dev.weft.agent.pipeline;

import dev.weft.agent.openflow.EncodedFlow;
import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.FlowStats;
import dev.weft.agent.openflow.Match;
import dev.weft.agent.openflow.MatchEntry;
import dev.weft.agent.openflow.MeterMod;
import dev.weft.agent.openflow.OfAction;
import dev.weft.agent.openflow.OfField;
import dev.weft.agent.openflow.PacketIn;
import dev.weft.agent.openflow.RegField;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;

import static dev.weft.agent.pipeline.PipelineTable.*;

/**
 * Traceflow's flows: for one trace, tagged by the DSCP value of its probe (1..63, so concurrent traces never see each
 * other's packet), flows that make the pipeline report what it did with the probe and nothing else. They are
 * transient: sent straight to the switch with a hard timeout (a trace the agent forgets is gone from the switch soon
 * after), never in the flow store, cookie category {@code TRACEFLOW} with the tag as object id.
 *
 * <ul>
 *   <li>every drop the probe can meet sends it to the controller instead: the miss drops of Classification,
 *       SpoofGuard, EndpointDNAT and L2Forwarding (a tagged flow at priority 1, just above the miss flow), and each
 *       isolation drop of EgressDefaultRule / IngressDefaultRule (a tagged copy one priority above it);</li>
 *   <li>each policy rule's {@code conj_id} flow in EgressRule / IngressRule gets a tagged copy that also loads the
 *       conjunction id into {@link #EGRESS_RULE_FIELD} / {@link #INGRESS_RULE_FIELD}, so the final packet-in tells
 *       which rule allowed it;</li>
 *   <li>Output sends the probe to the controller instead of the port (a local pod never sees it); into the tunnel it
 *       goes both to the controller and out, so the peer node's agent, armed for the same tag, observes it too.</li>
 * </ul>
 *
 * Every CONTROLLER action is behind the {@link #METER_ID} meter, so no traffic can turn into a flood of packet-ins.
 * The packet-in's table says where the probe ended; its registers say what happened on the way (source, Service
 * DNAT endpoint, the rules that allowed it, the output port).
 */
public final class TraceflowFeature implements PipelineFeature {

    /** The meter in front of every trace flow's CONTROLLER action. */
    public static final int METER_ID = 0xff01;
    static final long METER_PACKETS_PER_SECOND = 100, METER_BURST = 20;
    /** reg8 / reg9: the conjunction id of the egress / ingress rule that allowed the probe (trace flows only). */
    public static final RegField EGRESS_RULE_FIELD = new RegField("TraceEgressRuleField", 8, 0, 31);
    public static final RegField INGRESS_RULE_FIELD = new RegField("TraceIngressRuleField", 9, 0, 31);
    static final int MAX_LEN = 128;
    private static final Declaration DECLARATION = new Declaration("Traceflow",
            List.of(CLASSIFICATION, SPOOF_GUARD, ENDPOINT_DNAT, EGRESS_RULE, EGRESS_DEFAULT_RULE, L2_FORWARDING,
                    INGRESS_RULE, INGRESS_DEFAULT_RULE, OUTPUT), Set.of(Cookie.Category.TRACEFLOW));

    private final Datapath datapath;
    private final Map<Integer, Trace> traces = new ConcurrentHashMap<>();

    /** One armed trace: its tag and the packet-ins of its flows. */
    public static final class Trace {
        public final int tag;
        final BlockingQueue<PacketIn> packetIns = new LinkedBlockingQueue<>();

        Trace(int tag) {
            this.tag = tag;
        }

        /** The next packet-in of this trace, or null after {@code millis}. */
        public PacketIn next(long millis) throws InterruptedException {
            return packetIns.poll(millis, java.util.concurrent.TimeUnit.MILLISECONDS);
        }
    }

    public TraceflowFeature(Datapath datapath) {
        this.datapath = datapath;
    }

    @Override
    public Declaration declaration() {
        return DECLARATION;
    }

    @Override
    public void registered() {
        datapath.packetIns().register(Cookie.Category.TRACEFLOW, this::onPacketIn);
        datapath.declareMeter(this, MeterMod.packetsPerSecond(METER_ID, METER_PACKETS_PER_SECOND, METER_BURST));
    }

    /** A free tag (1..63), or -1 when 63 traces are running. */
    public int freeTag(java.util.Random random) {
        int start = 1 + random.nextInt(63);
        for (int i = 0; i < 63; i++) {
            int t = 1 + (start - 1 + i) % 63;
            if (!traces.containsKey(t)) {
                return t;
            }
        }
        return -1;
    }

    /**
     * Installs the trace flows of {@code tag} (refused if that tag is in use), with a hard timeout of
     * {@code hardTimeoutSeconds}. The policy flows are copied as the switch has them now.
     */
    public Trace arm(int tag, int tunnelPort, int hardTimeoutSeconds) {
        if (tag < 1 || tag > 63) {
            throw new IllegalArgumentException("trace tag " + tag + " out of 1..63");
        }
        Trace t = new Trace(tag);
        if (traces.putIfAbsent(tag, t) != null) {
            throw new IllegalStateException("trace tag " + tag + " is in use by another trace");
        }
        try {
            List<byte[]> messages = new ArrayList<>();
            for (FlowMod f : flows(tag, tunnelPort, datapath.dumpFlows(0xff))) {
                messages.add(EncodedFlow.of(f.encode()).setHardTimeout(hardTimeoutSeconds).bytes());
            }
            Datapath.await(datapath.connection().send(messages, true));
        } catch (RuntimeException e) {
            traces.remove(tag);
            throw e;
        }
        return t;
    }

    /** Removes the trace's flows (the hard timeout would, later). */
    public void disarm(Trace t) {
        try {
            long cookie = Cookie.of(Cookie.Category.TRACEFLOW, t.tag).value();
            Datapath.await(datapath.connection().send(List.of(FlowMod.deleteByCookie(cookie,
                    Cookie.CATEGORY_MASK | Cookie.OBJECT_MASK)), false));
        } finally {
            traces.remove(t.tag);
        }
    }

    private void onPacketIn(PacketIn p) {
        Trace t = traces.get((int) Cookie.of(p.cookie()).objectId());
        if (t != null) {
            t.packetIns.add(p);
        }
    }

    /** The trace flows of one tag over the flows the switch has ({@code installed}: a dump of every table). */
    static List<FlowMod> flows(int tag, int tunnelPort, List<FlowStats> installed) {
        long cookie = Cookie.of(Cookie.Category.TRACEFLOW, tag).value();
        List<OfAction> report = List.of(new OfAction.Meter(METER_ID), new OfAction.Controller(MAX_LEN));
        List<FlowMod> out = new ArrayList<>();
        Match tagged = Match.builder().ipDscp(tag).build();
        for (PipelineTable t : List.of(CLASSIFICATION, SPOOF_GUARD, ENDPOINT_DNAT, L2_FORWARDING)) {
            out.add(new FlowMod(t.id, 1, cookie, tagged, report, -1));
        }
        out.add(new FlowMod(OUTPUT.id, FlowPriority.NORMAL.value + 1, cookie, tagged, report, -1));
        if (tunnelPort > 0) {
            out.add(new FlowMod(OUTPUT.id, FlowPriority.NORMAL.value + 2, cookie,
                    Match.builder().ipDscp(tag).reg(PipelineFields.TARGET_OF_PORT_FIELD, tunnelPort).build(),
                    List.of(new OfAction.Meter(METER_ID), new OfAction.Controller(MAX_LEN),
                            OfAction.OutputReg.of(PipelineFields.TARGET_OF_PORT_FIELD)), -1));
        }
        for (FlowStats s : installed) {
            FlowMod f = s.flow();
            Cookie.Category c = Cookie.categoryOf(f.cookie());
            MatchEntry conj = f.match().get(OfField.CONJ_ID);
            boolean ip = f.match().get(OfField.ETH_TYPE) != null && f.match().get(OfField.ETH_TYPE).value() == Match.ETH_TYPE_IP;
            if (!ip || f.priority() >= 0xffff) {
                continue;
            }
            if (c == Cookie.Category.POLICY_RULE && conj != null && (f.table() == EGRESS_RULE.id || f.table() == INGRESS_RULE.id)) {
                RegField into = f.table() == EGRESS_RULE.id ? EGRESS_RULE_FIELD : INGRESS_RULE_FIELD;
                List<OfAction> actions = new ArrayList<>();
                actions.add(OfAction.RegLoad.of(into, conj.value()));
                actions.addAll(f.actions());
                out.add(new FlowMod(f.table(), f.priority() + 1, cookie, withTag(f.match(), tag), actions, f.gotoTable()));
            } else if (c == Cookie.Category.POLICY_ISOLATION && f.actions().isEmpty()
                    && (f.table() == EGRESS_DEFAULT_RULE.id || f.table() == INGRESS_DEFAULT_RULE.id)) {
                out.add(new FlowMod(f.table(), f.priority() + 1, cookie, withTag(f.match(), tag), report, -1));
            }
        }
        return out;
    }

    /** Names for what decided: the policy and rule of a conjunction id, the policies isolating a port. */
    public interface PolicyNames {
        /** {namespace/name, rule} of the rule with this conjunction id, or null. */
        String[] rule(long conjId);

        List<String> isolating(int ofport);
    }

    /** One stage the probe went through on a node, and what it did there. */
    public record Observation(String component, String action, String networkPolicy, String rule, String info, int table) {
        static Observation of(String component, String action, String info, int table) {
            return new Observation(component, action, "", "", info, table);
        }
    }

    /**
     * What the pipeline did with the probe on this node, from its packet-in: the table tells where it ended (a drop
     * point or Output), the registers what happened before (came from the tunnel, Service DNAT endpoint, the rules
     * that allowed it, the output port). {@code sourceNode}: the probe was injected here (SpoofGuard applies).
     */
    public List<Observation> observe(PacketIn p, boolean sourceNode, PolicyNames names) {
        List<Observation> out = new ArrayList<>();
        int table = p.tableId();
        if (p.field(PipelineFields.PKT_SOURCE_FIELD) == PipelineFields.FROM_TUNNEL_REG_MARK.value()) {
            out.add(Observation.of("Classification", "Received", "from the tunnel", table));
        }
        if (table == CLASSIFICATION.id) {
            out.add(Observation.of("Classification", "Dropped", "not from a known port", table));
            return out;
        }
        if (sourceNode) {
            if (table == SPOOF_GUARD.id) {
                out.add(Observation.of("SpoofGuard", "Dropped", "the source MAC/IP is not the pod's", table));
                return out;
            }
            out.add(Observation.of("SpoofGuard", "Forwarded", "", table));
        }
        long endpoint = p.field(PipelineFields.ENDPOINT_IP_FIELD);
        if (endpoint != 0) {
            out.add(Observation.of("ServiceDNAT", "Forwarded", "endpoint " + dev.weft.net.IpAddress.ofIpv4((int) endpoint)
                    + ":" + p.field(PipelineFields.ENDPOINT_PORT_FIELD), table));
        }
        if (table == ENDPOINT_DNAT.id) {
            out.add(Observation.of("ServiceDNAT", "Dropped", "the Service has no endpoint", table));
            return out;
        }
        long egress = p.field(EGRESS_RULE_FIELD);
        if (egress != 0) {
            out.add(allowedBy("EgressRule", egress, names, table));
        }
        if (table == EGRESS_DEFAULT_RULE.id) {
            out.add(isolatedBy("EgressDefaultRule", p.inPort(), names, table));
            return out;
        }
        out.add(Observation.of("L3Forwarding", "Forwarded", "", table));
        if (table == L2_FORWARDING.id) {
            out.add(Observation.of("L2Forwarding", "Dropped", "no port for the destination MAC", table));
            return out;
        }
        long ingress = p.field(INGRESS_RULE_FIELD);
        if (ingress != 0) {
            out.add(allowedBy("IngressRule", ingress, names, table));
        }
        int target = (int) p.field(PipelineFields.TARGET_OF_PORT_FIELD);
        if (table == INGRESS_DEFAULT_RULE.id) {
            out.add(isolatedBy("IngressDefaultRule", target, names, table));
            return out;
        }
        int tunnel = datapath.feature(PeerNodesFeature.class).tunnelPort();
        dev.weft.agent.node.NodeNetwork node = datapath.nodeNetwork();
        if (target == tunnel && tunnel > 0) {
            out.add(Observation.of("Output", "Forwarded", "into the tunnel", table));
        } else if (node != null && target == node.gatewayOfport()) {
            out.add(Observation.of("Output", "Forwarded", "to the gateway (out of the pod network)", table));
        } else {
            String pod = datapath.localPods().values().stream().filter(x -> x.ofport() == target)
                    .map(dev.weft.agent.node.PodInterface::key).findFirst().orElse("port " + target);
            out.add(Observation.of("Output", "Delivered", "to pod " + pod, table));
        }
        return out;
    }

    private static Observation allowedBy(String component, long conjId, PolicyNames names, int table) {
        String[] r = names.rule(conjId);
        return r == null ? new Observation(component, "Forwarded", "", "conjunction " + conjId, "", table)
                : new Observation(component, "Forwarded", r[0], r[1], "", table);
    }

    private static Observation isolatedBy(String component, int port, PolicyNames names, int table) {
        return new Observation(component, "Dropped", String.join(",", names.isolating(port)), "default deny",
                "no rule allows it", table);
    }

    private static Match withTag(Match m, int tag) {
        List<MatchEntry> entries = new ArrayList<>(m.entries());
        entries.add(MatchEntry.exact(OfField.IP_DSCP, tag));
        return new Match(entries);
    }
}
