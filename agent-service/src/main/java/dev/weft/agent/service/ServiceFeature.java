package dev.weft.agent.service;

import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.EncodedFlow;
import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.GroupMod;
import dev.weft.agent.openflow.Match;
import dev.weft.agent.pipeline.Cookie;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.FlowStore;
import dev.weft.agent.pipeline.PipelineFeature;
import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import org.jboss.logging.Logger;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import static dev.weft.agent.openflow.Match.CT_EST;
import static dev.weft.agent.openflow.Match.CT_NEW;
import static dev.weft.agent.openflow.Match.CT_RPL;
import static dev.weft.agent.openflow.Match.CT_TRK;
import static dev.weft.agent.pipeline.FlowBuilder.flow;
import static dev.weft.agent.pipeline.FlowPriority.HIGH;
import static dev.weft.agent.pipeline.FlowPriority.NORMAL;
import static dev.weft.agent.pipeline.PipelineFields.CT_ZONE;
import static dev.weft.agent.pipeline.PipelineFields.ENDPOINT_IP_FIELD;
import static dev.weft.agent.pipeline.PipelineFields.ENDPOINT_PORT_FIELD;
import static dev.weft.agent.pipeline.PipelineFields.HAIRPIN_REG_MARK;
import static dev.weft.agent.pipeline.PipelineFields.HAIRPIN_VIP;
import static dev.weft.agent.pipeline.PipelineFields.REWRITE_MAC_REG_MARK;
import static dev.weft.agent.pipeline.PipelineFields.SNAT_CT_ZONE;
import static dev.weft.agent.pipeline.PipelineFields.SERVICE_CT_MARK;
import static dev.weft.agent.pipeline.PipelineTable.CONNTRACK_COMMIT;
import static dev.weft.agent.pipeline.PipelineTable.CONNTRACK_STATE;
import static dev.weft.agent.pipeline.PipelineTable.CONNTRACK_ZONE;
import static dev.weft.agent.pipeline.PipelineTable.INGRESS_RULE;
import static dev.weft.agent.pipeline.PipelineTable.OUTPUT;
import static dev.weft.agent.pipeline.PipelineTable.SERVICE_HAIRPIN;
import static dev.weft.agent.pipeline.PipelineTable.DNAT;
import static dev.weft.agent.pipeline.PipelineTable.EGRESS_RULE;
import static dev.weft.agent.pipeline.PipelineTable.ENDPOINT_DNAT;

/**
 * Kubernetes Services in the datapath (kube-proxy's job, as AntreaProxy does it): a new connection
 * ({@code ct_state=+new+trk}) to a Service's cluster IP and port goes, in DNAT (table 40), through the Service port's
 * select group; the chosen bucket loads the endpoint into EndpointIPField / EndpointPortField and resubmits to
 * EndpointDNAT (42), which commits the connection with {@code nat(dst=endpoint)} and continues in EgressRule, so
 * NetworkPolicy sees the endpoint. Later packets of the connection are translated by ConntrackZone's {@code ct(nat)}
 * (both directions) and never reach the group again: an established connection keeps its endpoint whatever happens
 * to the endpoint set. A Service port without endpoints rejects new connections ({@link ServiceReject}).
 *
 * <p>Store owners: one per Service port (its DNAT flow and groups, object id = the port's index), and the endpoint
 * flows as one keyed owner, an endpoint's flow shared by every Service port that has it (counted).
 *
 * <p>Nothing is installed before the switch is connected the first time ({@link #switchReady()}): group ids carry the
 * flow round's parity ({@link Datapath#groupIdSpace()}), known only then.
 */
public final class ServiceFeature implements PipelineFeature {

    private static final Logger LOG = Logger.getLogger(ServiceFeature.class);
    static final long ENDPOINT_OWNER = FlowStore.owner(Cookie.Category.SERVICE_ENDPOINT, 0);
    static final long CONNTRACK_OWNER = FlowStore.owner(Cookie.Category.SERVICE, 0);
    private static final Declaration DECLARATION = new Declaration("Services", List.of(CONNTRACK_ZONE, CONNTRACK_STATE, DNAT,
            ENDPOINT_DNAT, SERVICE_HAIRPIN, INGRESS_RULE, CONNTRACK_COMMIT, OUTPUT),
            Set.of(Cookie.Category.SERVICE, Cookie.Category.SERVICE_ENDPOINT));

    /** An endpoint as EndpointDNAT matches it (the same address and port over TCP and UDP are two flows). */
    record EndpointKey(ServicePortKey.Protocol protocol, ServiceEndpoint endpoint) {
    }

    private record Installed(ServicePort port, int index) {
    }

    private final Datapath datapath;
    private final ServiceReject reject;
    private Map<ServicePortKey, ServicePort> desired = Map.of();
    private final Map<ServicePortKey, Installed> installed = new HashMap<>();
    private final Map<EndpointKey, Integer> endpointRefs = new HashMap<>();
    /**
     * Endpoint flows whose references may have dropped to none (added, or used by a replaced or removed Service port):
     * the only ones step 3 of a sync looks at, so an endpoint change costs its size, not every endpoint's.
     */
    private final Set<EndpointKey> maybeUnused = new HashSet<>();
    private final Set<EndpointKey> endpointFlows = new HashSet<>();
    private final ArrayDeque<Integer> freeIndexes = new ArrayDeque<>();
    private int nextIndex = 1;
    private boolean ready;
    private long syncs;

    /** With the agent's reject: TCP RST / ICMP port unreachable from the Service address ({@link PacketInReject}). */
    public ServiceFeature(Datapath datapath) {
        this(datapath, new PacketInReject());
    }

    public ServiceFeature(Datapath datapath, ServiceReject reject) {
        this.datapath = datapath;
        this.reject = reject;
    }

    @Override
    public Declaration declaration() {
        return DECLARATION;
    }

    /** The Service ports to serve (the whole set, as {@link ServiceModel#resolve} computes it); installs the change. */
    public void update(Map<ServicePortKey, ServicePort> ports) {
        synchronized (datapath) {
            desired = Map.copyOf(ports);
            if (ready) {
                sync();
            }
        }
    }

    @Override
    public void registered() {
        reject.registered(datapath, this);
        List<FlowMod> fixed = new ArrayList<>(List.of(establishedFlow()));
        fixed.addAll(hairpinFlows());
        datapath.apply(this, CONNTRACK_OWNER, fixed);
        for (PodInterface pod : datapath.localPods().values()) {
            podAdded(pod);
        }
        // registered after the first connection: switchReady() for it has passed
        ready = datapath.isReady();
    }

    @Override
    public void podAdded(PodInterface pod) {
        datapath.apply(this, hairpinOwner(pod), podHairpinFlows(pod));
    }

    @Override
    public void podRemoved(PodInterface pod) {
        datapath.apply(this, hairpinOwner(pod), List.of());
    }

    static long hairpinOwner(PodInterface pod) {
        // object 0 is the endpoint flows' owner; OpenFlow ports start at 1
        return FlowStore.owner(Cookie.Category.SERVICE_ENDPOINT, pod.ofport());
    }

    /**
     * Hairpin, the parts shared by every pod: a reply to {@link dev.weft.agent.pipeline.PipelineFields#HAIRPIN_VIP} is
     * un-SNATed in the SNAT zone first, then (back in ConntrackZone, now addressed to the pod) un-DNATed as any Service
     * reply; hairpin packets pass ingress policy (a pod reaching itself), skip ConntrackCommit (both zones committed
     * already) and leave by the port they came in by (OpenFlow never outputs to the input port otherwise).
     */
    static List<FlowMod> hairpinFlows() {
        Cookie.Category c = Cookie.Category.SERVICE;
        return List.of(
                flow(CONNTRACK_ZONE, HIGH).cookie(c, 0).match(m -> m.ip().nwDst(HAIRPIN_VIP))
                        .load(HAIRPIN_REG_MARK).ct(ct -> ct.table(CONNTRACK_ZONE).zone(SNAT_CT_ZONE).nat()).build(),
                flow(INGRESS_RULE, HIGH).cookie(c, 0).match(m -> m.ip().regMark(HAIRPIN_REG_MARK))
                        .resubmit(CONNTRACK_COMMIT).build(),
                flow(CONNTRACK_COMMIT, HIGH).cookie(c, 0).match(m -> m.ip().regMark(HAIRPIN_REG_MARK))
                        .resubmit(OUTPUT).build(),
                flow(OUTPUT, HIGH).cookie(c, 0).match(m -> m.ip().regMark(HAIRPIN_REG_MARK)).outputInPort().build());
    }

    /**
     * Hairpin, one pod's part: its Service connection DNATed to itself ({@code nw_src == nw_dst == pod}) is SNATed to
     * the hairpin address in ServiceHairpin (43) when it begins, and its later packets (forward direction) in
     * ConntrackState, so the pod sees a peer other than itself and answers through the switch.
     */
    static List<FlowMod> podHairpinFlows(PodInterface pod) {
        List<FlowMod> f = new ArrayList<>();
        for (String ip : pod.ips()) {
            if (IpAddress.parse(ip).family() != AddressFamily.IPV4) {
                continue;
            }
            long object = Integer.toUnsignedLong(IpAddress.parse(ip).ipv4Bits());
            f.add(flow(SERVICE_HAIRPIN, NORMAL).cookie(Cookie.Category.SERVICE_ENDPOINT, object)
                    .match(m -> m.ip().nwSrc(ip).nwDst(ip)).load(HAIRPIN_REG_MARK)
                    .ct(ct -> ct.commit().table(EGRESS_RULE).zone(SNAT_CT_ZONE).natSrc(HAIRPIN_VIP)).build());
            f.add(flow(CONNTRACK_STATE, HIGH).cookie(Cookie.Category.SERVICE_ENDPOINT, object)
                    .match(m -> m.ip().ctState(CT_EST | CT_TRK, CT_EST | CT_RPL | CT_TRK).ctMark(SERVICE_CT_MARK, SERVICE_CT_MARK)
                            .nwSrc(ip).nwDst(ip))
                    .load(REWRITE_MAC_REG_MARK).load(HAIRPIN_REG_MARK)
                    .ct(ct -> ct.table(DNAT).zone(SNAT_CT_ZONE).nat()).build());
        }
        return f;
    }

    /**
     * Later packets of a Service connection (both directions; ConntrackZone's ct(nat) has translated them) are routed
     * like its first one: the client sent them to the gateway MAC, so L3Forwarding rewrites the MACs.
     */
    static FlowMod establishedFlow() {
        return flow(CONNTRACK_STATE, NORMAL).cookie(Cookie.Category.SERVICE, 0)
                .match(m -> m.ip().ctState(CT_TRK, CT_NEW | CT_TRK).ctMark(SERVICE_CT_MARK, SERVICE_CT_MARK))
                .load(REWRITE_MAC_REG_MARK).resubmit(DNAT).build();
    }

    @Override
    public void switchReady() {
        synchronized (datapath) {
            if (!ready) {
                ready = true;
                try {
                    sync();
                } catch (RuntimeException e) {
                    // logged by sync; the next update (every reconnection schedules one) retries. Not thrown: the
                    // datapath's other reactions to the switch being back must still run
                }
            }
        }
    }

    /** The Service ports installed, with their endpoints (for tests and the CLI). */
    public Map<ServicePortKey, ServicePort> installed() {
        synchronized (datapath) {
            Map<ServicePortKey, ServicePort> out = new TreeMap<>();
            installed.forEach((k, v) -> out.put(k, v.port()));
            return out;
        }
    }

    public long syncs() {
        synchronized (datapath) {
            return syncs;
        }
    }

    /** Whether what is installed is what was asked for. */
    public boolean inSync() {
        synchronized (datapath) {
            if (!ready || installed.size() != desired.size()) {
                return false;
            }
            for (Map.Entry<ServicePortKey, ServicePort> e : desired.entrySet()) {
                Installed i = installed.get(e.getKey());
                if (i == null || !i.port().equals(e.getValue())) {
                    return false;
                }
            }
            return true;
        }
    }

    private void sync() {
        Map<ServicePortKey, ServicePort> changed = new LinkedHashMap<>();
        Set<ServicePortKey> gone = new HashSet<>();
        desired.forEach((k, p) -> {
            Installed i = installed.get(k);
            if (i == null || !i.port().equals(p)) {
                changed.put(k, p);
            }
        });
        installed.keySet().stream().filter(k -> !desired.containsKey(k)).forEach(gone::add);
        if (changed.isEmpty() && gone.isEmpty()) {
            return;
        }
        try {
            // 1. the endpoint flows the new buckets resubmit to, before any group sends there
            Map<FlowMod.FlowKey, byte[]> adds = new LinkedHashMap<>();
            Set<EndpointKey> added = new HashSet<>();
            for (ServicePort p : changed.values()) {
                for (ServiceEndpoint e : p.endpoints()) {
                    EndpointKey ek = new EndpointKey(p.key().protocol(), e);
                    if (!endpointFlows.contains(ek) && added.add(ek)) {
                        byte[] m = endpointFlow(ek).encode();
                        adds.put(EncodedFlow.of(m).key(), m);
                    }
                }
            }
            if (!adds.isEmpty()) {
                datapath.applyChanges(this, ENDPOINT_OWNER, adds);
                endpointFlows.addAll(added);
                maybeUnused.addAll(added);
            }
            // 2. every changed Service port's flow and groups, one bundle
            Map<Long, Datapath.OwnerState> owners = new LinkedHashMap<>();
            Map<ServicePortKey, Installed> next = new HashMap<>();
            List<Integer> allocated = new ArrayList<>();
            for (Map.Entry<ServicePortKey, ServicePort> e : changed.entrySet()) {
                Installed i = installed.get(e.getKey());
                int index;
                if (i != null) {
                    index = i.index();
                } else {
                    index = freeIndexes.isEmpty() ? nextIndex++ : freeIndexes.pop();
                    allocated.add(index);
                }
                owners.put(owner(index), state(e.getValue(), index));
                next.put(e.getKey(), new Installed(e.getValue(), index));
            }
            for (ServicePortKey k : gone) {
                owners.put(owner(installed.get(k).index()), new Datapath.OwnerState(List.of(), List.of()));
            }
            try {
                datapath.applyAll(this, owners);
            } catch (RuntimeException ex) {
                allocated.forEach(freeIndexes::push);
                throw ex;
            }
            for (Map.Entry<ServicePortKey, Installed> e : next.entrySet()) {
                Installed old = installed.put(e.getKey(), e.getValue());
                count(old, -1);
                mayBeUnused(old);
                count(e.getValue(), +1);
            }
            for (ServicePortKey k : gone) {
                Installed old = installed.remove(k);
                count(old, -1);
                mayBeUnused(old);
                freeIndexes.push(old.index());
            }
            // 3. endpoint flows no Service port sends to any more
            Map<FlowMod.FlowKey, byte[]> removes = new LinkedHashMap<>();
            List<EndpointKey> unused = maybeUnused.stream()
                    .filter(ek -> endpointFlows.contains(ek) && endpointRefs.getOrDefault(ek, 0) == 0).toList();
            for (EndpointKey ek : unused) {
                removes.put(EncodedFlow.of(endpointFlow(ek).encode()).key(), null);
            }
            if (!removes.isEmpty()) {
                datapath.applyChanges(this, ENDPOINT_OWNER, removes);
                unused.forEach(endpointFlows::remove);
            }
            maybeUnused.clear();
            syncs++;
        } catch (RuntimeException ex) {
            LOG.warnf("Services not installed (retried on the next change): %s", ex.getMessage());
            throw ex;
        }
    }

    private void mayBeUnused(Installed i) {
        if (i != null) {
            i.port().endpoints().forEach(e -> maybeUnused.add(new EndpointKey(i.port().key().protocol(), e)));
        }
    }

    private void count(Installed i, int delta) {
        if (i == null) {
            return;
        }
        for (ServiceEndpoint e : i.port().endpoints()) {
            endpointRefs.merge(new EndpointKey(i.port().key().protocol(), e), delta, (a, b) -> a + b == 0 ? null : a + b);
        }
    }

    static long owner(int index) {
        return FlowStore.owner(Cookie.Category.SERVICE, index);
    }

    /** The first group id of a Service port (its chunk groups follow). */
    int groupId(int index) {
        if (index >= 1 << 22) {
            throw new IllegalArgumentException("more than " + (1 << 22) + " Service ports");
        }
        return datapath.groupIdSpace() | (index << 8);
    }

    /** A Service port's DNAT flow and groups; without endpoints, its reject flow. */
    Datapath.OwnerState state(ServicePort p, int index) {
        Cookie c = Cookie.of(Cookie.Category.SERVICE, index);
        ServicePortKey k = p.key();
        Match.Builder match = Match.builder().tpDst(k.protocol().ipProto, k.port(), 0xffff).nwDst(k.clusterIp())
                .ctState(CT_NEW | CT_TRK, CT_NEW | CT_TRK);
        if (p.endpoints().isEmpty()) {
            return new Datapath.OwnerState(List.of(reject.flow(flow(DNAT, NORMAL).cookie(c).match(match.build()), k)), List.of());
        }
        int gid = groupId(index);
        List<GroupMod> groups = ServiceGroups.groups(gid, p.endpoints());
        FlowMod f = flow(DNAT, NORMAL).cookie(c).match(match.build()).load(REWRITE_MAC_REG_MARK).group(gid).build();
        return new Datapath.OwnerState(List.of(f), groups);
    }

    /**
     * EndpointDNAT: commit the new connection DNATed to the endpoint the bucket chose, then ServiceHairpin (a pod that
     * landed on itself) and egress policy.
     */
    static FlowMod endpointFlow(EndpointKey ek) {
        ServiceEndpoint e = ek.endpoint();
        return flow(ENDPOINT_DNAT, NORMAL).cookie(Cookie.Category.SERVICE_ENDPOINT, e.ipv4())
                .match(m -> m.ipProto(ek.protocol().ipProto).reg(ENDPOINT_IP_FIELD, e.ipv4()).reg(ENDPOINT_PORT_FIELD, e.port()))
                .ct(ct -> ct.commit().table(SERVICE_HAIRPIN).zone(CT_ZONE).natDst(e.ip(), e.port()).setMark(SERVICE_CT_MARK))
                .build();
    }

    @Override
    public String toString() {
        return "Services(" + installed.size() + " ports)";
    }
}
