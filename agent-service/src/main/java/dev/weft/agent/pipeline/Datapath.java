package dev.weft.agent.pipeline;

import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.FlowStats;
import dev.weft.agent.openflow.OfConnection;
import dev.weft.agent.openflow.OfEndpoint;
import dev.weft.agent.openflow.OfException;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static dev.weft.agent.openflow.Match.CT_EST;
import static dev.weft.agent.openflow.Match.CT_INV;
import static dev.weft.agent.openflow.Match.CT_NEW;
import static dev.weft.agent.openflow.Match.CT_TRK;
import static dev.weft.agent.pipeline.FlowBuilder.flow;
import static dev.weft.agent.pipeline.PipelineTable.*;

/**
 * The OpenFlow pipeline on one bridge: the declared tables with their miss flows, and the flows features contribute
 * (node gateway, local pods, peer nodes, policy). Every change is a delta against the stored flows of its owner, sent
 * as one atomic bundle. Knows the flow round: a new agent run installs its flows under round N+1 and deletes round N
 * only when {@link #finishRestart()} says everything is back; a switch that lost its flows (ovs-vswitchd restart) is
 * detected on reconnect and gets every stored flow replayed.
 */
public final class Datapath implements OfConnection.Listener, AutoCloseable {

    private static final Logger LOG = Logger.getLogger(Datapath.class);

    public static final int CT_ZONE = 65520;
    /** reg0[0..3]: where a packet came from. */
    public static final int MARK_FROM_GATEWAY = 1, MARK_FROM_LOCAL = 2, MARK_FROM_TUNNEL = 3;
    /** reg1: the output OpenFlow port chosen by L2Forwarding (the ingress "to" dimension). */
    public static final int REG_OUT_PORT = 1;
    /** Destination MAC of packets routed into the tunnel (as Antrea's global virtual MAC). */
    public static final String VIRTUAL_MAC = "aa:bb:cc:dd:ee:ff";
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final int REPLAY_CHUNK = 10_000;

    /** Where the flow round survives agent restarts (the bridge's external_ids). */
    public interface RoundStore {
        int load() throws Exception;

        void save(int round) throws Exception;
    }

    public record PeerNode(String name, List<String> podCidrs, String nodeIp) {
    }

    private final OfConnection connection;
    private final RoundStore roundStore;
    private final FlowStore store = new FlowStore();
    private final List<Runnable> onReady = new CopyOnWriteArrayList<>();
    private final List<Runnable> onPodsChanged = new CopyOnWriteArrayList<>();
    private final List<Runnable> onNodeNetwork = new CopyOnWriteArrayList<>();
    private final Map<String, PodInterface> localPods = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile int round;
    private volatile int previousRound = -1;
    private volatile boolean installed;
    private volatile String lastReplay = "";
    private long replays;
    private volatile NodeNetwork node;
    private int tunnelOfport;

    public Datapath(OfEndpoint endpoint, RoundStore roundStore) {
        this.roundStore = roundStore;
        this.connection = new OfConnection(endpoint, this);
        synchronized (this) {
            commitQuietly(FlowStore.owner(Cookie.Category.PIPELINE, 0), pipelineFlows());
        }
    }

    public Datapath start() {
        connection.start();
        return this;
    }

    /** Runs after each (re)connection once the stored flows are on the switch (the policy feature re-syncs there). */
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
                    long present = await(c.flowCount(Cookie.roundBits(round), Cookie.ROUND_MASK));
                    if (present < store.count()) {
                        LOG.warnf("Open vSwitch has %d of our %d flows (ovs-vswitchd restarted?): replaying", present, store.count());
                        replayAll("switch had " + present + " of " + store.count() + " flows");
                    } else {
                        LOG.infof("OpenFlow reconnected; all %d flows present", present);
                    }
                }
                installed = true;
            }
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
        List<byte[]> all = new ArrayList<>();
        store.forEach(all::add);
        for (int i = 0; i < all.size(); i += REPLAY_CHUNK) {
            await(connection.send(all.subList(i, Math.min(all.size(), i + REPLAY_CHUNK)), false));
        }
        replays++;
        lastReplay = all.size() + " flows (" + why + ")";
    }

    /**
     * Everything of this run is installed: delete the flows of the previous run's round (flows with the same match
     * were already replaced in place by ours, so traffic never lacks a flow).
     */
    public synchronized void finishRestart() {
        if (previousRound > 0 && previousRound != round && connection.isReady()) {
            await(connection.send(List.of(FlowMod.deleteByCookie(Cookie.roundBits(previousRound), Cookie.ROUND_MASK)), false));
            LOG.infof("deleted the stale flows of round %d", previousRound);
        }
        previousRound = -1;
    }

    // ------------------------------------------------------------------ features

    /** Replaces the flows of one owner by {@code flows}, atomically on the switch; returns the delta size. */
    public synchronized FlowStore.Delta apply(long owner, List<FlowMod> flows) {
        List<FlowMod> withRound = flows.stream().map(f -> new FlowMod(f.table(), f.priority(),
                (f.cookie() & ~Cookie.ROUND_MASK) | Cookie.roundBits(round), f.match(), f.actions(), f.gotoTable())).toList();
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
     * Changes some flows of a keyed owner (see {@link FlowStore#patch}), atomically on the switch: the cost is the size
     * of the change, not of everything the owner has. The flows' cookies get this run's round.
     */
    public synchronized FlowStore.Patch applyChanges(long owner, Map<FlowMod.FlowKey, byte[]> changes) {
        long bits = Cookie.roundBits(round);
        for (byte[] m : changes.values()) {
            if (m != null) {
                long c = (FlowMod.cookieOf(m) & ~Cookie.ROUND_MASK) | bits;
                for (int i = 0; i < 8; i++) {
                    m[8 + i] = (byte) (c >>> (56 - 8 * i));
                }
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

    /** An owner's stored flows (encoded, cookie with the round). */
    public synchronized byte[][] storedFlows(long owner) {
        return store.flowsOf(owner);
    }

    /** The flow of a keyed owner with this key as stored (cookie with the round), or null. */
    public synchronized byte[] installed(long owner, FlowMod.FlowKey key) {
        return store.installed(owner, key);
    }

    private void commitQuietly(long owner, List<FlowMod> flows) {
        store.commit(owner, store.diff(owner, flows));
    }

    public Cookie cookie(Cookie.Category category, long objectId) {
        return new Cookie(round, category, objectId);
    }

    static List<FlowMod> pipelineFlows() {
        Cookie c = new Cookie(0, Cookie.Category.PIPELINE, 0);
        List<FlowMod> f = new ArrayList<>();
        for (PipelineTable t : PipelineTable.values()) {
            FlowBuilder miss = flow(t, 0).cookie(c);
            if (t.missNext >= 0) {
                miss.resubmit(PipelineTable.byId(t.missNext).orElseThrow());
            }
            f.add(miss.build());
        }
        f.add(flow(ARP_RESPONDER, 190).cookie(c).match(m -> m.arp()).normal().build());
        f.add(flow(CONNTRACK_ZONE, 200).cookie(c).match(m -> m.ip()).ct(false, CT_ZONE, CONNTRACK_STATE, true).build());
        f.add(flow(CONNTRACK_STATE, 210).cookie(c).match(m -> m.ip().ctState(CT_INV | CT_TRK, CT_INV | CT_TRK)).drop().build());
        f.add(flow(EGRESS_RULE, 210).cookie(c).match(m -> m.ip().ctState(CT_EST, CT_NEW | CT_EST)).resubmit(L3_FORWARDING).build());
        f.add(flow(INGRESS_RULE, 210).cookie(c).match(m -> m.ip().ctState(CT_EST, CT_NEW | CT_EST)).resubmit(CONNTRACK_COMMIT).build());
        f.add(flow(CONNTRACK_COMMIT, 200).cookie(c).match(m -> m.ip().ctState(CT_NEW | CT_TRK, CT_NEW | CT_TRK))
                .ct(true, CT_ZONE, null, false).resubmit(OUTPUT).build());
        f.add(flow(OUTPUT, 200).cookie(c).match(m -> m.ip()).outputReg(REG_OUT_PORT).build());
        return f;
    }

    /** The node's gateway port: classification, spoof guard, L2 to the gateway, and host traffic allowed by ingress. */
    public void nodeNetworkReady(NodeNetwork n) {
        synchronized (this) {
            this.node = n;
            apply(FlowStore.owner(Cookie.Category.GATEWAY, 0), gatewayFlows(n));
        }
        onNodeNetwork.forEach(Runnable::run);
    }

    /** Runs after the node network is known or changed (peer routes need the gateway MAC). */
    public void onNodeNetwork(Runnable r) {
        onNodeNetwork.add(r);
    }

    public synchronized NodeNetwork nodeNetwork() {
        return node;
    }

    List<FlowMod> gatewayFlows(NodeNetwork n) {
        List<FlowMod> f = new ArrayList<>();
        if (n.gatewayOfport() <= 0) {
            return f;
        }
        Cookie c = cookie(Cookie.Category.GATEWAY, n.gatewayOfport());
        int gw = n.gatewayOfport();
        f.add(flow(CLASSIFICATION, 200).cookie(c).match(m -> m.inPort(gw))
                .loadReg(0, 0, 4, MARK_FROM_GATEWAY).resubmit(SPOOF_GUARD).build());
        f.add(flow(SPOOF_GUARD, 200).cookie(c).match(m -> m.ip().inPort(gw)).resubmit(CONNTRACK_ZONE).build());
        f.add(flow(SPOOF_GUARD, 200).cookie(c).match(m -> m.arp().inPort(gw)).resubmit(ARP_RESPONDER).build());
        if (n.gatewayMac() != null && !n.gatewayMac().isBlank()) {
            // packets for the gateway (the host) are not subject to pod ingress policy
            f.add(flow(L2_FORWARDING, 200).cookie(c).match(m -> m.dlDst(n.gatewayMac()))
                    .loadReg(REG_OUT_PORT, gw).resubmit(CONNTRACK_COMMIT).build());
        }
        for (String ip : n.gatewayIps()) {
            if (!ip.contains(":")) {
                // the host (kubelet probes) may always reach local pods, as in the seed's nw_src=<gateway> flow
                f.add(flow(INGRESS_RULE, 210).cookie(c).match(m -> m.ip().nwSrc(ip)).resubmit(CONNTRACK_COMMIT).build());
            }
        }
        return f;
    }

    /** Runs (on the caller's thread) after a local pod came or went: policy re-resolves its applied-to ports. */
    public void onPodsChanged(Runnable r) {
        onPodsChanged.add(r);
    }

    /** The local pods the datapath forwards to, by namespace/name. */
    public Map<String, PodInterface> localPods() {
        return Map.copyOf(localPods);
    }

    /** A local pod's forwarding flows. */
    public void podAdded(PodInterface pod) {
        List<FlowMod> flows = podFlows(pod);
        try {
            apply(FlowStore.owner(Cookie.Category.POD, pod.ofport()), flows);
        } finally {
            // stored either way (a disconnected switch gets it on reconnect)
            PodInterface prev = localPods.put(pod.key(), pod);
            if (!pod.equals(prev)) {
                onPodsChanged.forEach(Runnable::run);
            }
        }
    }

    public void podRemoved(PodInterface pod) {
        PodInterface known = localPods.get(pod.key());
        if (known != null && known.ofport() == pod.ofport()) {
            localPods.remove(pod.key());
            onPodsChanged.forEach(Runnable::run);
        }
        apply(FlowStore.owner(Cookie.Category.POD, pod.ofport()), List.of());
    }

    public synchronized boolean podInstalled(PodInterface pod) {
        byte[][] flows = store.flowsOf(FlowStore.owner(Cookie.Category.POD, pod.ofport()));
        return flows.length > 0 && connection.isReady() && installed;
    }

    List<FlowMod> podFlows(PodInterface pod) {
        if (pod.ofport() <= 0) {
            throw new IllegalArgumentException("pod " + pod.key() + " has no OpenFlow port (" + pod.ofport() + ")");
        }
        Cookie c = cookie(Cookie.Category.POD, pod.ofport());
        int port = pod.ofport();
        String mac = pod.mac();
        List<FlowMod> f = new ArrayList<>();
        f.add(flow(CLASSIFICATION, 190).cookie(c).match(m -> m.inPort(port))
                .loadReg(0, 0, 4, MARK_FROM_LOCAL).resubmit(SPOOF_GUARD).build());
        f.add(flow(L2_FORWARDING, 200).cookie(c).match(m -> m.dlDst(mac)).loadReg(REG_OUT_PORT, port)
                .resubmit(INGRESS_RULE).build());
        for (String ip : pod.ips()) {
            if (ip.contains(":")) {
                continue; // IPv6 forwarding comes with dual-stack support
            }
            f.add(flow(SPOOF_GUARD, 200).cookie(c).match(m -> m.ip().inPort(port).dlSrc(mac).nwSrc(ip))
                    .resubmit(CONNTRACK_ZONE).build());
            f.add(flow(SPOOF_GUARD, 200).cookie(c).match(m -> m.inPort(port).arpSpa(ip).arpSha(mac))
                    .resubmit(ARP_RESPONDER).build());
            NodeNetwork n = node;
            if (n != null && n.gatewayMac() != null && !n.gatewayMac().isBlank()) {
                // from the tunnel: routed to the pod, so rewrite the MACs as a router would
                f.add(flow(L3_FORWARDING, 200).cookie(c).match(m -> m.ip().reg(0, MARK_FROM_TUNNEL, 0xf).nwDst(ip))
                        .setEthSrc(n.gatewayMac()).setEthDst(mac).decTtl().resubmit(L2_FORWARDING).build());
            }
        }
        return f;
    }

    /** Routes to other nodes' pod CIDRs through the tunnel port ({@code remote_ip=flow}, tun_dst per peer). */
    public synchronized void peerNodes(int tunnelPort, List<PeerNode> peers) {
        this.tunnelOfport = tunnelPort;
        NodeNetwork n = node;
        List<FlowMod> f = new ArrayList<>();
        if (tunnelPort > 0 && n != null && n.gatewayMac() != null && !n.gatewayMac().isBlank()) {
            Cookie c = cookie(Cookie.Category.PEER_NODE, 0);
            f.add(flow(CLASSIFICATION, 200).cookie(c).match(m -> m.inPort(tunnelPort))
                    .loadReg(0, 0, 4, MARK_FROM_TUNNEL).resubmit(CONNTRACK_ZONE).build());
            f.add(flow(L2_FORWARDING, 200).cookie(c).match(m -> m.dlDst(VIRTUAL_MAC))
                    .loadReg(REG_OUT_PORT, tunnelPort).resubmit(CONNTRACK_COMMIT).build());
            for (PeerNode p : peers) {
                if (p.nodeIp() == null || p.nodeIp().isBlank() || p.nodeIp().contains(":")) {
                    continue;
                }
                for (String cidr : p.podCidrs()) {
                    if (cidr.contains(":")) {
                        continue;
                    }
                    Cookie pc = cookie(Cookie.Category.PEER_NODE, Integer.toUnsignedLong(p.name().hashCode()));
                    f.add(flow(L3_FORWARDING, 200).cookie(pc).match(m -> m.ip().nwDst(cidr))
                            .setEthSrc(n.gatewayMac()).setEthDst(VIRTUAL_MAC).setTunDst(p.nodeIp()).decTtl()
                            .resubmit(L2_FORWARDING).build());
                }
            }
        }
        apply(FlowStore.owner(Cookie.Category.PEER_NODE, 0), f);
    }

    // ------------------------------------------------------------------ queries

    /** Every flow on the bridge with counters (from the switch, not from our store). */
    public List<FlowStats> dumpFlows(int table) {
        return await(connection.dumpFlows(table, 0, 0));
    }

    public synchronized Map<Integer, Long> storedFlowsPerTable() {
        Map<Integer, Long> counts = new java.util.TreeMap<>();
        store.forEach(m -> counts.merge(m[24] & 0xff, 1L, Long::sum));
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
    }
}
