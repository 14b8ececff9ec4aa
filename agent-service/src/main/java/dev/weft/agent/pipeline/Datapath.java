package dev.weft.agent.pipeline;

import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.EncodedFlow;
import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.FlowStats;
import dev.weft.agent.openflow.GroupMod;
import dev.weft.agent.openflow.MeterMod;
import dev.weft.agent.openflow.PacketOut;
import dev.weft.agent.openflow.OfConnection;
import dev.weft.agent.openflow.OfEndpoint;
import dev.weft.agent.openflow.OfException;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The OpenFlow pipeline on one bridge: the connection, the flow store and the flow round, and the registered
 * {@link PipelineFeature}s, which compute the flows. The datapath holds the state several features read (the node's
 * network, the local pods) and fans its changes out to them; a feature's own input (peer nodes, policies) goes to the
 * feature. Every change of an owner's flows is a delta against what is stored, sent as one atomic bundle. A new agent
 * run installs its flows under round N+1 and deletes round N only when {@link #finishRestart()} says everything is
 * back; a switch that lost its flows (ovs-vswitchd restart) is detected on reconnect and gets every stored flow
 * replayed.
 */
public final class Datapath implements OfConnection.Listener, AutoCloseable {

    private static final Logger LOG = Logger.getLogger(Datapath.class);

    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final int REPLAY_CHUNK = 10_000;

    /** Where the flow round survives agent restarts (the bridge's external_ids). */
    public interface RoundStore {
        int load() throws Exception;

        void save(int round) throws Exception;
    }

    private final OfConnection connection;
    private final RoundStore roundStore;
    private final FlowStore store = new FlowStore();
    private final GroupStore groups = new GroupStore();
    private final List<PipelineFeature> features = new CopyOnWriteArrayList<>();
    private final List<Runnable> onReady = new CopyOnWriteArrayList<>();
    private final List<Runnable> onNodeNetwork = new CopyOnWriteArrayList<>();
    private final Map<String, PodInterface> localPods = new ConcurrentHashMap<>();
    private final PacketInDispatcher packetIns = new PacketInDispatcher();
    /** Declared meters by id, with the feature that declared each: replayed (before groups and flows) on reconnect. */
    private final Map<Integer, DeclaredMeter> meters = new java.util.TreeMap<>();
    private volatile int round;
    private volatile int previousRound = -1;
    private volatile boolean installed;
    private volatile String lastReplay = "";
    private long replays;
    private volatile NodeNetwork node;

    /** A datapath with the node-level features: pipeline defaults, gateway, pod connectivity, peer nodes. */
    public Datapath(OfEndpoint endpoint, RoundStore roundStore) {
        this.roundStore = roundStore;
        this.connection = new OfConnection(endpoint, this);
        connection.onPacketIn(packetIns::accept);
        register(new PipelineDefaultsFeature(this));
        register(new GatewayFeature(this));
        register(new PodConnectivityFeature(this));
        register(new PeerNodesFeature(this));
    }

    public Datapath start() {
        connection.start();
        return this;
    }

    /**
     * Runs after each (re)connection once the stored flows are on the switch, after the features' {@link
     * PipelineFeature#switchReady()}: for code outside the pipeline that re-syncs there.
     */
    public void onReady(Runnable r) {
        onReady.add(r);
    }

    public OfConnection connection() {
        return connection;
    }

    /** Connected and every stored flow installed. */
    public boolean isReady() {
        return connection.isReady() && installed;
    }

    public String status() {
        return connection.isReady() ? (installed ? "ok" : "installing flows") : connection.lastError();
    }

    public int round() {
        return round;
    }

    public synchronized long flowCount() {
        return store.count();
    }

    public long replays() {
        return replays;
    }

    public String lastReplay() {
        return lastReplay;
    }

    // ------------------------------------------------------------------ features

    /** Adds a feature: it gets every later change (and installs its stateless flows now). */
    public synchronized void register(PipelineFeature feature) {
        for (PipelineFeature f : features) {
            if (f.declaration().name().equals(feature.declaration().name())) {
                throw new IllegalArgumentException("a feature " + feature.declaration().name() + " is already registered");
            }
        }
        features.add(feature);
        feature.registered();
    }

    public List<PipelineFeature> features() {
        return List.copyOf(features);
    }

    /** The registered feature of this class. */
    public <T extends PipelineFeature> T feature(Class<T> type) {
        for (PipelineFeature f : features) {
            if (type.isInstance(f)) {
                return type.cast(f);
            }
        }
        throw new IllegalStateException("no " + type.getSimpleName() + " registered");
    }

    // ------------------------------------------------------------------ connection events

    @Override
    public void connected(OfConnection c, long datapathId) {
        installed = false;
        try {
            synchronized (this) {
                if (c.connects() == 1) {
                    int prev = loadRound();
                    round = (prev + 1) & 0xffff;
                    if (round == 0) {
                        round = 1;
                    }
                    previousRound = prev;
                    saveRound(round);
                    store.setRound(round);
                    LOG.infof("OpenFlow connected to %s (dpid %016x); flow round %d", c.endpoint(), datapathId, round);
                    replayAll("agent start");
                } else {
                    // flows the switch learned carry our round too but are not in the store: not counted
                    long learned = Cookie.roundBits(round) | Cookie.of(Cookie.Category.SERVICE_AFFINITY, 0).value();
                    long present = await(c.flowCount(Cookie.roundBits(round), Cookie.ROUND_MASK))
                            - await(c.flowCount(learned, Cookie.ROUND_MASK | Cookie.CATEGORY_MASK));
                    if (present < store.count()) {
                        LOG.warnf("Open vSwitch has %d of our %d flows (ovs-vswitchd restarted?): replaying", present, store.count());
                        replayAll("switch had " + present + " of " + store.count() + " flows");
                    } else {
                        LOG.infof("OpenFlow reconnected; all %d flows present", present);
                    }
                }
                installed = true;
            }
            features.forEach(PipelineFeature::switchReady);
            onReady.forEach(Runnable::run);
        } catch (RuntimeException e) {
            LOG.errorf("installing flows after connecting failed: %s", e.getMessage());
        }
    }

    private int loadRound() {
        try {
            return roundStore.load();
        } catch (Exception e) {
            LOG.warnf("cannot read the flow round (%s): starting at 1", e.getMessage());
            return 0;
        }
    }

    private void saveRound(int r) {
        try {
            roundStore.save(r);
        } catch (Exception e) {
            LOG.warnf("cannot persist the flow round %d: %s", r, e.getMessage());
        }
    }

    private void replayAll(String why) {
        // meters first: a flow with a meter the switch does not have is refused
        List<byte[]> meterMods = new ArrayList<>();
        meters.values().forEach(m -> meterMods.addAll(m.messages()));
        await(connection.send(meterMods, false));
        // groups first: a flow that sends to a group the switch does not have is refused
        List<byte[]> groupMods = new ArrayList<>();
        groups.forEach(groupMods::add);
        for (int i = 0; i < groupMods.size(); i += REPLAY_CHUNK) {
            await(connection.send(groupMods.subList(i, Math.min(groupMods.size(), i + REPLAY_CHUNK)), false));
        }
        List<byte[]> all = new ArrayList<>();
        store.forEach(all::add);
        for (int i = 0; i < all.size(); i += REPLAY_CHUNK) {
            await(connection.send(all.subList(i, Math.min(all.size(), i + REPLAY_CHUNK)), false));
        }
        replays++;
        lastReplay = all.size() + " flows, " + groupMods.size() + " groups (" + why + ")";
    }

    /**
     * Everything of this run is installed: delete the flows of the previous run's round (flows with the same match
     * were already replaced in place by ours, so traffic never lacks a flow). False when that could not be done yet
     * (not connected): the previous round is kept for the next call.
     */
    public synchronized boolean finishRestart() {
        if (previousRound > 0 && previousRound != round) {
            if (!connection.isReady()) {
                return false;
            }
            await(connection.send(List.of(FlowMod.deleteByCookie(Cookie.roundBits(previousRound), Cookie.ROUND_MASK)), false));
            LOG.infof("deleted the stale flows of round %d", previousRound);
            deleteStaleGroups();
        }
        previousRound = -1;
        return true;
    }

    /** The previous run's round while its flows may still be on the switch, else -1. */
    public int previousRound() {
        return previousRound;
    }

    /**
     * Deletes the groups on the switch this run does not have (a previous run's: this run allocates its group ids in
     * the other half of the id space, see {@link #groupIdSpace()}, so they were never replaced in place).
     */
    private void deleteStaleGroups() {
        List<byte[]> deletes = new ArrayList<>();
        for (int id : await(connection.groupIds())) {
            if (!groups.contains(id)) {
                deletes.add(GroupMod.delete(id));
            }
        }
        if (!deletes.isEmpty()) {
            await(connection.send(deletes, false));
            LOG.infof("deleted %d stale groups of a previous run", deletes.size());
        }
    }

    /**
     * The base of this run's group ids: bit 30 is the round's parity, so two consecutive agent runs never use the same
     * id for different things (the previous run's flows keep sending to its groups until this run replaces them).
     * Known once the switch is connected ({@link PipelineFeature#switchReady()}).
     */
    public int groupIdSpace() {
        return (round & 1) << 30;
    }

    // ------------------------------------------------------------------ the store

    /** Replaces the flows of one owner of a feature, atomically on the switch; refuses flows that are not the feature's. */
    public synchronized FlowStore.Delta apply(PipelineFeature by, long owner, List<FlowMod> flows) {
        for (FlowMod f : flows) {
            checkOwnership(by, f.table(), f.cookie(), f);
        }
        return apply(owner, flows);
    }

    /**
     * Replaces the flows and the groups of one owner of a feature in one atomic bundle: new and changed groups first,
     * then the flows (which may send to them), then the groups no flow sends to any more.
     */
    public synchronized FlowStore.Delta apply(PipelineFeature by, long owner, List<FlowMod> flows, List<GroupMod> groupMods) {
        for (FlowMod f : flows) {
            checkOwnership(by, f.table(), f.cookie(), f);
        }
        FlowStore.Delta delta = store.diff(owner, withRound(flows));
        GroupStore.Delta g = groups.diff(owner, groupMods);
        if (delta.isEmpty() && g.isEmpty()) {
            return delta;
        }
        if (connection.isReady()) {
            List<byte[]> messages = new ArrayList<>(g.before().size() + delta.messages().size() + g.after().size());
            messages.addAll(g.before());
            messages.addAll(delta.messages());
            messages.addAll(g.after());
            await(connection.send(messages, true));
        }
        // not connected: kept as desired state, the replay on (re)connection installs it
        store.commit(owner, delta);
        groups.commit(owner, g);
        return delta;
    }

    /** An owner's desired flows and groups, for {@link #applyAll}. */
    public record OwnerState(List<FlowMod> flows, List<GroupMod> groups) {
        public OwnerState {
            flows = List.copyOf(flows);
            groups = List.copyOf(groups);
        }
    }

    /**
     * Replaces the flows and groups of several owners of a feature in one atomic bundle (a Service sync changes
     * thousands of Service ports at once: one round trip, not one per owner). Nothing is recorded when it fails.
     */
    public synchronized int applyAll(PipelineFeature by, Map<Long, OwnerState> owners) {
        List<byte[]> before = new ArrayList<>();
        List<byte[]> flowMessages = new ArrayList<>();
        List<byte[]> after = new ArrayList<>();
        Map<Long, FlowStore.Delta> flowDeltas = new java.util.LinkedHashMap<>();
        Map<Long, GroupStore.Delta> groupDeltas = new java.util.LinkedHashMap<>();
        for (Map.Entry<Long, OwnerState> e : owners.entrySet()) {
            for (FlowMod f : e.getValue().flows()) {
                checkOwnership(by, f.table(), f.cookie(), f);
            }
            FlowStore.Delta d = store.diff(e.getKey(), withRound(e.getValue().flows()));
            GroupStore.Delta g = groups.diff(e.getKey(), e.getValue().groups());
            flowDeltas.put(e.getKey(), d);
            groupDeltas.put(e.getKey(), g);
            before.addAll(g.before());
            flowMessages.addAll(d.messages());
            after.addAll(g.after());
        }
        List<byte[]> messages = new ArrayList<>(before.size() + flowMessages.size() + after.size());
        messages.addAll(before);
        messages.addAll(flowMessages);
        messages.addAll(after);
        if (!messages.isEmpty() && connection.isReady()) {
            await(connection.send(messages, true));
        }
        flowDeltas.forEach(store::commit);
        groupDeltas.forEach(groups::commit);
        return messages.size();
    }

    public synchronized int groupCount() {
        return groups.count();
    }

    private List<FlowMod> withRound(List<FlowMod> flows) {
        long bits = Cookie.roundBits(round);
        return flows.stream().map(f -> new FlowMod(f.table(), f.priority(),
                (f.cookie() & ~Cookie.ROUND_MASK) | bits, f.match(), f.actions(), f.gotoTable())).toList();
    }

    /**
     * Replaces the flows of one owner by {@code flows}, atomically on the switch; returns the delta size. Features go
     * through {@link #apply(PipelineFeature, long, List)}.
     */
    public synchronized FlowStore.Delta apply(long owner, List<FlowMod> flows) {
        long bits = Cookie.roundBits(round);
        List<FlowMod> withRound = flows.stream().map(f -> new FlowMod(f.table(), f.priority(),
                (f.cookie() & ~Cookie.ROUND_MASK) | bits, f.match(), f.actions(), f.gotoTable())).toList();
        FlowStore.Delta delta = store.diff(owner, withRound);
        if (delta.isEmpty()) {
            return delta;
        }
        if (!connection.isReady()) {
            // kept as desired state: the replay on (re)connection installs it (readiness says we are not there yet)
            store.commit(owner, delta);
            LOG.debugf("not connected to Open vSwitch (%s): %d flows will be installed on connect", connection.lastError(),
                    delta.adds());
            return delta;
        }
        await(connection.send(delta.messages(), true));
        store.commit(owner, delta);
        return delta;
    }

    /**
     * Changes some flows of a feature's keyed owner (see {@link FlowStore#patch}), atomically on the switch: the cost
     * is the size of the change, not of everything the owner has. The flows' cookies get this run's round.
     */
    public synchronized FlowStore.Patch applyChanges(PipelineFeature by, long owner, Map<FlowMod.FlowKey, byte[]> changes) {
        for (byte[] m : changes.values()) {
            if (m != null) {
                EncodedFlow f = EncodedFlow.of(m);
                checkOwnership(by, f.table(), f.cookie(), f);
            }
        }
        long bits = Cookie.roundBits(round);
        for (byte[] m : changes.values()) {
            if (m != null) {
                EncodedFlow.of(m).setCookieBits(bits, Cookie.ROUND_MASK);
            }
        }
        FlowStore.Patch patch = store.patch(owner, changes);
        if (patch.isEmpty()) {
            return patch;
        }
        if (!connection.isReady()) {
            store.commit(owner, patch); // desired state: the replay on (re)connection installs it
            return patch;
        }
        await(connection.send(patch.messages(), true));
        store.commit(owner, patch);
        return patch;
    }

    private static void checkOwnership(PipelineFeature by, int table, long cookie, Object flow) {
        PipelineFeature.Declaration d = by.declaration();
        Cookie.Category c = Cookie.categoryOf(cookie);
        if (!d.owns(table, c)) {
            throw new IllegalArgumentException(d.name() + " (tables " + d.tables().stream().map(t -> t.id).toList()
                    + ", cookie categories " + d.categories() + ") has no flow in table " + table + " with cookie category "
                    + c + ": " + describe(flow));
        }
    }

    private static String describe(Object flow) {
        return flow instanceof EncodedFlow e ? e.describe() : String.valueOf(flow);
    }

    /** An owner's stored flows (encoded, cookie with the round). */
    public synchronized byte[][] storedFlows(long owner) {
        return store.flowsOf(owner);
    }

    /** The flow of a keyed owner with this key as stored (cookie with the round), or null. */
    public synchronized byte[] installed(long owner, FlowMod.FlowKey key) {
        return store.installed(owner, key);
    }

    // ------------------------------------------------------------------ controller channel

    private record DeclaredMeter(String feature, MeterMod meter) {
        /** Delete, then add: an ADD over a meter the switch kept (agent restart) would be refused as existing. */
        List<byte[]> messages() {
            return List.of(MeterMod.delete(meter.meterId()).encode(), meter.encode());
        }
    }

    /** Where packet-ins go: features register a handler for their cookie category. */
    public PacketInDispatcher packetIns() {
        return packetIns;
    }

    /**
     * Declares a meter of a feature (an ADD meter_mod), installed now when connected and after every reconnection
     * before any flow. Declaring it again replaces it; another feature's id is refused. Deleting and re-adding a meter
     * on the switch deletes the flows that use it (OpenFlow): declare meters before the flows that use them.
     */
    public synchronized void declareMeter(PipelineFeature by, MeterMod meter) {
        if (meter.command() != MeterMod.ADD) {
            throw new IllegalArgumentException("declare a meter with an ADD meter_mod, not " + meter);
        }
        String name = by.declaration().name();
        DeclaredMeter prev = meters.get(meter.meterId());
        if (prev != null && !prev.feature().equals(name)) {
            throw new IllegalArgumentException("meter " + meter.meterId() + " belongs to " + prev.feature() + ", not " + name);
        }
        DeclaredMeter d = new DeclaredMeter(name, meter);
        if (connection.isReady()) {
            await(connection.send(d.messages(), false));
        }
        meters.put(meter.meterId(), d);
    }

    /** Removes a feature's meter (and so, on the switch, the flows that use it). */
    public synchronized void removeMeter(PipelineFeature by, int meterId) {
        DeclaredMeter prev = meters.get(meterId);
        if (prev == null) {
            return;
        }
        if (!prev.feature().equals(by.declaration().name())) {
            throw new IllegalArgumentException("meter " + meterId + " belongs to " + prev.feature());
        }
        if (connection.isReady()) {
            await(connection.send(List.of(MeterMod.delete(meterId).encode()), false));
        }
        meters.remove(meterId);
    }

    public synchronized List<MeterMod> meters() {
        return meters.values().stream().map(DeclaredMeter::meter).toList();
    }

    /** Sends one packet-out (not through the flow store: a packet is not state); fails when not connected. */
    public void packetOut(PacketOut packet) {
        await(connection.packetOut(packet));
    }

    // ------------------------------------------------------------------ state the features share

    /** The node's gateway and CIDRs are known (or changed): every feature reacts (gateway flows, routes). */
    public void nodeNetworkReady(NodeNetwork n) {
        synchronized (this) {
            this.node = n;
            for (PipelineFeature f : features) {
                f.nodeNetworkChanged(n);
            }
        }
        onNodeNetwork.forEach(Runnable::run);
    }

    /** Runs after the node network is known or changed, for code outside the pipeline (the peer-node watcher). */
    public void onNodeNetwork(Runnable r) {
        onNodeNetwork.add(r);
    }

    public NodeNetwork nodeNetwork() {
        return node;
    }

    /** The local pods the datapath forwards to, by namespace/name. */
    public Map<String, PodInterface> localPods() {
        return Map.copyOf(localPods);
    }

    /**
     * A local pod came (or is given again): every feature reacts (its forwarding flows, policy on its port). The pod is
     * recorded even when a feature fails (a replay or the next change installs it).
     */
    public void podAdded(PodInterface pod) {
        if (pod.ofport() <= 0) {
            throw new IllegalArgumentException("pod " + pod.key() + " has no OpenFlow port (" + pod.ofport() + ")");
        }
        synchronized (this) {
            try {
                for (PipelineFeature f : features) {
                    f.podAdded(pod);
                }
            } finally {
                PodInterface prev = localPods.put(pod.key(), pod);
                if (!pod.equals(prev)) {
                    features.forEach(PipelineFeature::localPodsChanged);
                }
            }
        }
    }

    /** A local pod goes (only the pod with this OpenFlow port: a newer one of the same name stays). */
    public void podRemoved(PodInterface pod) {
        synchronized (this) {
            PodInterface known = localPods.get(pod.key());
            if (known != null && known.ofport() == pod.ofport()) {
                localPods.remove(pod.key());
                features.forEach(PipelineFeature::localPodsChanged);
            }
            for (PipelineFeature f : features) {
                f.podRemoved(pod);
            }
        }
    }

    // ------------------------------------------------------------------ queries

    /** Every flow on the bridge with counters (from the switch, not from our store). */
    public List<FlowStats> dumpFlows(int table) {
        return await(connection.dumpFlows(table, 0, 0));
    }

    /**
     * The desired flows (the store: what this run keeps on the switch) of one table, 0xff for all, as flow stats with
     * zero counters, so that they can be compared with {@link #dumpFlows} by content.
     */
    public synchronized List<FlowStats> desiredFlows(int table) {
        List<FlowStats> out = new ArrayList<>();
        store.forEach(m -> {
            FlowMod f = FlowMod.decodeAdd(m);
            if (table == 0xff || f.table() == table) {
                out.add(new FlowStats(f, 0, 0, 0));
            }
        });
        return out;
    }

    public synchronized Map<Integer, Long> storedFlowsPerTable() {
        Map<Integer, Long> counts = new java.util.TreeMap<>();
        store.forEach(m -> counts.merge(EncodedFlow.of(m).table(), 1L, Long::sum));
        return counts;
    }

    static <T> T await(java.util.concurrent.CompletableFuture<T> f) {
        try {
            return f.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new OfException(e.getCause().toString());
        } catch (TimeoutException e) {
            throw new OfException("Open vSwitch did not answer within " + TIMEOUT.toSeconds() + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new OfException("interrupted");
        }
    }

    @Override
    public void close() {
        connection.close();
        packetIns.close();
    }
}
