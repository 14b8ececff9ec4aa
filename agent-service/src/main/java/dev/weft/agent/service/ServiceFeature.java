package dev.weft.agent.service;

import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.EncodedFlow;
import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.GroupMod;
import dev.weft.agent.openflow.Match;
import dev.weft.agent.openflow.OfAction;
import dev.weft.agent.openflow.OfField;
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
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static dev.weft.agent.openflow.Match.CT_EST;
import static dev.weft.agent.openflow.Match.CT_NEW;
import static dev.weft.agent.openflow.Match.CT_RPL;
import static dev.weft.agent.openflow.Match.CT_TRK;
import static dev.weft.agent.pipeline.FlowBuilder.flow;
import static dev.weft.agent.pipeline.FlowPriority.HIGH;
import static dev.weft.agent.pipeline.FlowPriority.LOW;
import static dev.weft.agent.pipeline.FlowPriority.NORMAL;
import static dev.weft.agent.pipeline.PipelineFields.AFFINITY_HIT_REG_MARK;
import static dev.weft.agent.pipeline.PipelineFields.AFFINITY_STATE_FIELD;
import static dev.weft.agent.pipeline.PipelineFields.AFFINITY_TO_LEARN_REG_MARK;
import static dev.weft.agent.pipeline.PipelineFields.AFFINITY_TO_SELECT_REG_MARK;
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
import static dev.weft.agent.pipeline.PipelineTable.SESSION_AFFINITY;
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
 * to the endpoint set. A Service port without endpoints rejects new connections ({@link ServiceReject}). A Service
 * port with {@code sessionAffinity: ClientIP} also consults and learns flows in SessionAffinity (41), see
 * {@code affinityState}.
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
            SESSION_AFFINITY, ENDPOINT_DNAT, SERVICE_HAIRPIN, INGRESS_RULE, CONNTRACK_COMMIT, OUTPUT),
            Set.of(Cookie.Category.SERVICE, Cookie.Category.SERVICE_ENDPOINT, Cookie.Category.SERVICE_AFFINITY));
    /** OpenFlow timeouts are 16 bits: a longer session affinity timeout (Kubernetes allows a day) is cut to this. */
    static final int MAX_LEARNED_HARD_TIMEOUT = 0xffff;
    private static final long ALL_BITS = -1L;

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
    /** Deletes of learned flows not sent yet (the switch was not reachable): sent on the next sync or reconnection. */
    private final List<byte[]> pendingLearnedDeletes = new ArrayList<>();
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
        List<FlowMod> fixed = new ArrayList<>(List.of(establishedFlow(), staleAffinityFlow()));
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

    /**
     * A learned flow whose endpoint EndpointDNAT no longer has (it left while the agent was not looking: a previous
     * run's learned flow) would black-hole the client until its timeout: the connection chooses again through the
     * group instead, which learns the new endpoint over the stale one.
     */
    static FlowMod staleAffinityFlow() {
        return flow(ENDPOINT_DNAT, LOW).cookie(Cookie.Category.SERVICE, 0).match(m -> m.regMark(AFFINITY_HIT_REG_MARK))
                .load(AFFINITY_TO_SELECT_REG_MARK).resubmit(DNAT).build();
    }

    @Override
    public void switchReady() {
        synchronized (datapath) {
            if (!ready) {
                ready = true;
                try {
                    sync();
                    if (datapath.previousRound() > 0) {
                        // a previous run's learned flows: this run's flows (same matches) replaced its learning flows
                        // now; what that run learned is forgotten rather than trusted (its endpoints may be gone)
                        long prev = Cookie.roundBits(datapath.previousRound()) | Cookie.of(Cookie.Category.SERVICE_AFFINITY, 0).value();
                        pendingLearnedDeletes.add(FlowMod.deleteByCookie(prev, Cookie.ROUND_MASK | Cookie.CATEGORY_MASK));
                    }
                } catch (RuntimeException e) {
                    // logged by sync; the next update (every reconnection schedules one) retries. Not thrown: the
                    // datapath's other reactions to the switch being back must still run
                }
            }
            sendLearnedDeletes();
        }
    }

    /** Sends the pending deletes of learned flows; kept for the next try when the switch is not reachable. */
    private void sendLearnedDeletes() {
        if (pendingLearnedDeletes.isEmpty()) {
            return;
        }
        try {
            datapath.connection().send(List.copyOf(pendingLearnedDeletes), false).get(30, TimeUnit.SECONDS);
            pendingLearnedDeletes.clear();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException | ExecutionException | TimeoutException e) {
            LOG.warnf("learned session affinity flows not deleted yet (retried on the next sync or reconnection): %s",
                    e.getMessage());
        }
    }

    /**
     * The learned flows of a Service port must go when its affinity goes or changes (off, another timeout, the port
     * gone) or an endpoint leaves: they would keep sending clients to it. Every client of the port then chooses
     * again on its next new connection (learned flows are per port, not per endpoint); established connections keep
     * their endpoint (conntrack).
     */
    static boolean forgetsLearned(ServicePort before, ServicePort after) {
        if (before == null || !before.clientIpAffinity()) {
            return false;
        }
        return after == null || after.affinityTimeoutSeconds() != before.affinityTimeoutSeconds()
                || !after.endpoints().containsAll(before.endpoints());
    }

    /** The cookie of a Service port's learned flows in this run. */
    long learnedCookie(int index) {
        return Cookie.roundBits(datapath.round()) | Cookie.of(Cookie.Category.SERVICE_AFFINITY, index).value();
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
                Installed before = installed.get(e.getKey());
                if (before != null && forgetsLearned(before.port(), e.getValue().port())) {
                    pendingLearnedDeletes.add(FlowMod.deleteByCookie(learnedCookie(before.index()), ALL_BITS));
                }
            }
            for (ServicePortKey k : gone) {
                Installed before = installed.get(k);
                if (forgetsLearned(before.port(), null)) {
                    pendingLearnedDeletes.add(FlowMod.deleteByCookie(learnedCookie(before.index()), ALL_BITS));
                }
            }
            // after the groups changed (a delete before could be re-learned from the old group), before the endpoint
            // flows of removed endpoints go
            sendLearnedDeletes();
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
        Match.Builder match = serviceMatch(k);
        if (p.endpoints().isEmpty()) {
            return new Datapath.OwnerState(List.of(reject.flow(flow(DNAT, NORMAL).cookie(c).match(match.build()), k)), List.of());
        }
        int gid = groupId(index);
        if (p.clientIpAffinity()) {
            return affinityState(p, index);
        }
        List<GroupMod> groups = ServiceGroups.groups(gid, p.endpoints());
        FlowMod f = flow(DNAT, NORMAL).cookie(c).match(match.build()).load(REWRITE_MAC_REG_MARK).group(gid).build();
        return new Datapath.OwnerState(List.of(f), groups);
    }

    /**
     * A Service port with {@code sessionAffinity: ClientIP}. A new connection enters DNAT with no affinity state and
     * re-enters it after each step, the state (AffinityStateField) telling which flow takes it:
     * <ol>
     *   <li>(none) look the client up in SessionAffinity: a flow learned for this client, Service IP, protocol and
     *   port loads its endpoint and AffinityHitRegMark; without one AffinityToSelectRegMark stays;</li>
     *   <li>AffinityToSelect: the group chooses; its buckets load the endpoint and AffinityToLearn... re-enter DNAT
     *   (the two-level groups too: the endpoint bucket is the last step, where the endpoint is known);</li>
     *   <li>AffinityHit or AffinityToLearn: learn (or refresh, so the timeout counts from the client's last new
     *   connection, as kube-proxy's) the client's endpoint, then EndpointDNAT.</li>
     * </ol>
     * The buckets cannot load the state (the bucket size would change the group limits): AffinityToSelect's flow loads
     * AffinityToLearn before the group, which the bucket's resubmit carries back.
     */
    private Datapath.OwnerState affinityState(ServicePort p, int index) {
        Cookie c = Cookie.of(Cookie.Category.SERVICE, index);
        ServicePortKey k = p.key();
        int gid = groupId(index);
        // AffinityHit (2) and AffinityToLearn (3) share the field's high bit
        long learnBit = (AFFINITY_HIT_REG_MARK.value() & AFFINITY_TO_LEARN_REG_MARK.value()) << AFFINITY_STATE_FIELD.start();
        int reg = AFFINITY_STATE_FIELD.reg();
        List<FlowMod> flows = List.of(
                flow(DNAT, NORMAL).cookie(c).match(serviceMatch(k).build()).load(REWRITE_MAC_REG_MARK)
                        .load(AFFINITY_TO_SELECT_REG_MARK).resubmit(SESSION_AFFINITY).resubmit(DNAT).build(),
                flow(DNAT, HIGH).cookie(c).match(serviceMatch(k).regMark(AFFINITY_TO_SELECT_REG_MARK).build())
                        .load(AFFINITY_TO_LEARN_REG_MARK).group(gid).build(),
                flow(DNAT, HIGH).cookie(c).match(serviceMatch(k).reg(reg, learnBit, learnBit).build())
                        .learn(learn(p, index)).resubmit(ENDPOINT_DNAT).build());
        return new Datapath.OwnerState(flows, ServiceGroups.groups(gid, p.endpoints(), DNAT));
    }

    /** A new connection to the Service port: {@code ct_state=+new+trk,<proto>,nw_dst=<IP>,tp_dst=<port>}. */
    private static Match.Builder serviceMatch(ServicePortKey k) {
        return Match.builder().tpDst(k.protocol().ipProto, k.port(), 0xffff).nwDst(k.clusterIp())
                .ctState(CT_NEW | CT_TRK, CT_NEW | CT_TRK);
    }

    /**
     * The flow learned for a client: {@code table=41, hard_timeout=<timeout>, <proto>, nw_src=<client>,
     * nw_dst=<Service IP>, tp_dst=<port>} loading the endpoint registers and AffinityHitRegMark.
     */
    OfAction.Learn learn(ServicePort p, int index) {
        ServicePortKey k = p.key();
        int timeout = p.affinityTimeoutSeconds();
        if (timeout > MAX_LEARNED_HARD_TIMEOUT) {
            LOG.warnf("Service %s: session affinity timeout %ds is served as %ds, the longest OpenFlow timeout", p.service(),
                    timeout, MAX_LEARNED_HARD_TIMEOUT);
            timeout = MAX_LEARNED_HARD_TIMEOUT;
        }
        OfField tpDst = switch (k.protocol()) {
            case TCP -> OfField.TCP_DST;
            case UDP -> OfField.UDP_DST;
            case SCTP -> OfField.SCTP_DST;
        };
        return new OfAction.Learn(SESSION_AFFINITY.id, NORMAL.value, 0, timeout, learnedCookie(index), List.of(
                new OfAction.LearnSpec.MatchValue(OfField.ETH_TYPE, Match.ETH_TYPE_IP),
                new OfAction.LearnSpec.MatchValue(OfField.IP_PROTO, k.protocol().ipProto),
                new OfAction.LearnSpec.MatchField(OfField.IPV4_SRC),
                new OfAction.LearnSpec.MatchValue(OfField.IPV4_DST, Match.parseIpv4(k.clusterIp())),
                new OfAction.LearnSpec.MatchValue(tpDst, k.port()),
                OfAction.LearnSpec.LoadField.of(ENDPOINT_IP_FIELD),
                OfAction.LearnSpec.LoadField.of(ENDPOINT_PORT_FIELD),
                OfAction.LearnSpec.LoadValue.of(AFFINITY_HIT_REG_MARK)));
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
