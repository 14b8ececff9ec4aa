package dev.weft.ipam;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;
import dev.weft.proto.ipam.v1.AllocationState;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * In-memory pod CIDR allocation state for every Node, rebuilt from Nodes (the Kubernetes API is the only durable
 * store). One bit per node block per pool: allocation takes the lowest clear bit ({@link BitSet#nextClearBit} from a
 * lower bound that only moves down on release), and "who owns this IP" is index arithmetic plus a map lookup, so
 * neither scans blocks.
 *
 * <p>It is a class, not a record: it is the one mutable thing of the service. Mutations come from one thread (the
 * controller's); queries from any thread; every method is synchronized, and listeners are called under the lock so
 * that a watcher sees changes in revision order, after its snapshot.
 */
public final class NodeCidrAllocator {
    private static final Logger LOG = Logger.getLogger(NodeCidrAllocator.class);

    /** What the allocator knows of one Node. {@code cidrs} are the Node's pod CIDRs, IPv4 first. */
    public record NodeCidrs(String nodeName, String nodeUid, List<IpPrefix> cidrs, AllocationState state, String message) {
        public NodeCidrs {
            cidrs = List.copyOf(cidrs);
            message = message == null ? "" : message;
        }
    }

    /** A Node as read from the Kubernetes API: what the allocator needs of it. */
    public record NodeView(String name, String uid, List<String> podCidrs, String creationTimestamp) {
        public NodeView {
            Objects.requireNonNull(name, "name");
            uid = uid == null ? "" : uid;
            podCidrs = podCidrs == null ? List.of() : List.copyOf(podCidrs);
            creationTimestamp = creationTimestamp == null ? "" : creationTimestamp;
        }
    }

    public enum ChangeType { ADDED, MODIFIED, DELETED }

    public record Change(ChangeType type, NodeCidrs node, long revision) {}

    /** Answer to "who owns this address": pool and node are null where there is none. */
    public record Owner(IpAddress ip, CidrPool pool, NodeCidrs node, IpPrefix podCidr, boolean reserved) {}

    public record PoolUsage(CidrPool pool, long totalBlocks, long allocatedBlocks, long reservedBlocks, long freeBlocks) {
        /** allocated / (total - reserved), 0..1. */
        public double utilization() {
            long usable = totalBlocks - reservedBlocks;
            return usable == 0 ? 1.0 : (double) allocatedBlocks / usable;
        }
    }

    /** Result of {@link #reserveBlocks}: the blocks (one per family), or why there are none. */
    public record Reservation(List<IpPrefix> cidrs, String exhaustedMessage) {
        public boolean exhausted() {
            return exhaustedMessage != null;
        }
    }

    /** Stops a watch. */
    public interface Watch extends AutoCloseable {
        @Override
        void close();
    }

    private static final class PoolBits {
        final CidrPool pool;
        final BitSet occupied;      // allocated or reserved
        final BitSet reserved;
        final Map<Integer, String> owners = new HashMap<>();
        int lowestFree;             // no clear bit of occupied lies below this index

        PoolBits(CidrPool pool, List<IpPrefix> reservedRanges) {
            this.pool = pool;
            this.reserved = new BitSet(pool.blockCount());
            for (IpPrefix r : reservedRanges) {
                int[] range = pool.overlapRange(r);
                if (range != null) {
                    reserved.set(range[0], range[1] + 1);
                }
            }
            this.occupied = (BitSet) reserved.clone();
        }

        void clear() {
            occupied.clear();
            occupied.or(reserved);
            owners.clear();
            lowestFree = 0;
        }
    }

    private record Claim(PoolBits pool, int from, int to) {}

    private static final class Tracked {
        NodeCidrs view;
        List<Claim> claims = List.of();
        final String created;

        Tracked(NodeCidrs view, String created) {
            this.view = view;
            this.created = created;
        }
    }

    private static final Comparator<Map.Entry<String, Tracked>> CREATION_ORDER =
            Comparator.<Map.Entry<String, Tracked>, String>comparing(e -> e.getValue().created)
                    .thenComparing(Map.Entry::getKey);

    static final String PENDING_MESSAGE = "waiting for the allocator to assign pod CIDRs";

    private final IpamSettings settings;
    private final List<PoolBits> pools;
    private final List<AddressFamily> families;
    private final Map<String, Tracked> nodes = new TreeMap<>();
    private final Set<String> conflicted = new LinkedHashSet<>();
    private final List<Consumer<Change>> listeners = new CopyOnWriteArrayList<>();
    private long revision;
    private long releases;
    private boolean quiet;

    public NodeCidrAllocator(IpamSettings settings) {
        this.settings = settings;
        this.pools = settings.pools().stream().map(p -> new PoolBits(p, settings.reserved())).toList();
        this.families = settings.pools().stream().map(CidrPool::family).distinct().sorted().toList();
    }

    public IpamSettings settings() {
        return settings;
    }

    /** Families that get a block, IPv4 first. */
    public List<AddressFamily> families() {
        return families;
    }

    // ---------------------------------------------------------------- mutations (controller thread)

    /**
     * Takes in a Node as the API shows it. CIDRs it already carries are claimed (a conflict or an out-of-pool CIDR is
     * reported, never reused); a Node without any is tracked as waiting for {@link #reserveBlocks}.
     */
    public synchronized NodeCidrs observe(NodeView node) {
        Tracked t = nodes.get(node.name());
        if (t != null && !t.view.nodeUid().equals(node.uid()) && !node.uid().isEmpty()) {
            // Same name, new object: the old Node left and a new one joined.
            remove(node.name());
            t = null;
        }
        List<String> problems = new ArrayList<>();
        List<IpPrefix> carried = new ArrayList<>();
        for (String text : node.podCidrs()) {
            try {
                carried.add(IpPrefix.parse(text));
            } catch (IllegalArgumentException e) {
                problems.add("spec.podCIDRs: " + e.getMessage());
            }
        }
        if (node.podCidrs().isEmpty()) {
            if (t != null) {
                // Either still waiting, or a view older than the CIDRs we wrote: podCIDRs never go back to empty.
                return t.view;
            }
            t = new Tracked(new NodeCidrs(node.name(), node.uid(), List.of(), AllocationState.PENDING, PENDING_MESSAGE),
                    node.creationTimestamp());
            nodes.put(node.name(), t);
            publish(ChangeType.ADDED, t.view);
            return t.view;
        }
        carried.sort(null);
        if (t != null && t.view.cidrs().equals(carried) && problems.isEmpty()) {
            // Unchanged (a CONFLICT is retried when blocks are released, not on every update of the Node).
            return t.view;
        }
        boolean added = t == null;
        if (t == null) {
            t = new Tracked(null, node.creationTimestamp());
            nodes.put(node.name(), t);
        } else {
            release(t, true);
        }
        t.claims = claimCarried(node.name(), carried, problems);
        t.view = carriedView(node.name(), node.uid(), carried, problems);
        track(node.name(), t.view);
        publish(added ? ChangeType.ADDED : ChangeType.MODIFIED, t.view);
        return t.view;
    }

    private NodeCidrs carriedView(String name, String uid, List<IpPrefix> carried, List<String> problems) {
        if (!problems.isEmpty()) {
            return new NodeCidrs(name, uid, carried, AllocationState.CONFLICT, String.join("; ", problems));
        }
        List<AddressFamily> missing = families.stream()
                .filter(f -> carried.stream().noneMatch(c -> c.family() == f)).toList();
        String message = missing.isEmpty() ? "" : "no " + missing.stream().map(AddressFamily::toString)
                .collect(Collectors.joining(", ")) + " pod CIDR: spec.podCIDRs was set before and cannot be extended";
        return new NodeCidrs(name, uid, carried, AllocationState.ALLOCATED, message);
    }

    private List<Claim> claimCarried(String name, List<IpPrefix> carried, List<String> problems) {
        List<Claim> claims = new ArrayList<>();
        for (IpPrefix c : carried) {
            PoolBits p = pools.stream().filter(b -> b.pool.cidr().contains(c)).findFirst().orElse(null);
            if (p == null) {
                String overlapping = pools.stream().filter(b -> b.pool.cidr().overlaps(c))
                        .map(b -> b.pool.cidr().toString()).collect(Collectors.joining(", "));
                problems.add(c + " lies outside every cluster CIDR" + (overlapping.isEmpty() ? "" : " (it straddles " + overlapping + ")"));
                continue;
            }
            int[] range = p.pool.blockRange(c);
            int r = p.reserved.nextSetBit(range[0]);
            if (r >= 0 && r <= range[1]) {
                String reservedBy = settings.reserved().stream().filter(x -> x.overlaps(p.pool.block(r)))
                        .map(IpPrefix::toString).collect(Collectors.joining(", "));
                problems.add(c + " overlaps reserved range " + reservedBy);
                continue;
            }
            int o = p.occupied.nextSetBit(range[0]);
            if (o >= 0 && o <= range[1]) {
                String owner = p.owners.get(o);
                Tracked ot = owner == null ? null : nodes.get(owner);
                String ownerCidr = ot == null ? p.pool.block(o).toString()
                        : ot.view == null ? "" : ot.view.cidrs().stream().filter(x -> x.overlaps(c))
                        .map(IpPrefix::toString).findFirst().orElse(p.pool.block(o).toString());
                problems.add(c + " overlaps " + ownerCidr + " of Node " + owner + "; not reused");
                continue;
            }
            claims.add(claim(p, range[0], range[1], name));
        }
        return claims;
    }

    private Claim claim(PoolBits p, int from, int to, String owner) {
        p.occupied.set(from, to + 1);
        for (int i = from; i <= to; i++) {
            p.owners.put(i, owner);
        }
        return new Claim(p, from, to);
    }

    /** Frees the Node's blocks; {@code counts}: whether that may let a waiting Node progress. */
    private void release(Tracked t, boolean counts) {
        for (Claim c : t.claims) {
            c.pool.occupied.clear(c.from, c.to + 1);
            for (int i = c.from; i <= c.to; i++) {
                c.pool.owners.remove(i);
            }
            c.pool.lowestFree = Math.min(c.pool.lowestFree, c.from);
        }
        if (counts && !t.claims.isEmpty()) {
            releases++;
        }
        t.claims = List.of();
    }

    private void track(String name, NodeCidrs view) {
        if (view.state() == AllocationState.CONFLICT) {
            conflicted.add(name);
        } else {
            conflicted.remove(name);
        }
    }

    /** True if the Node is known, carries no CIDRs and holds no reservation: the leader should allocate. */
    public synchronized boolean needsAllocation(String name) {
        Tracked t = nodes.get(name);
        return t != null && t.view.cidrs().isEmpty() && t.claims.isEmpty()
                && (t.view.state() == AllocationState.PENDING || t.view.state() == AllocationState.POOL_EXHAUSTED);
    }

    /**
     * Claims the lowest free block of every family for a waiting Node. The Node stays PENDING until {@link #confirm}
     * (after the write to the API succeeded) or goes back with {@link #abandon}. If a family has no free block,
     * nothing is claimed and the Node becomes POOL_EXHAUSTED.
     */
    public synchronized Reservation reserveBlocks(String name) {
        Tracked t = nodes.get(name);
        if (t == null || !t.view.cidrs().isEmpty() || !t.claims.isEmpty()) {
            throw new IllegalStateException("Node " + name + " is not waiting for pod CIDRs");
        }
        List<Claim> claims = new ArrayList<>();
        List<IpPrefix> cidrs = new ArrayList<>();
        for (AddressFamily f : families) {
            Claim got = null;
            for (PoolBits p : pools) {
                if (p.pool.family() != f) {
                    continue;
                }
                int idx = p.occupied.nextClearBit(p.lowestFree);
                p.lowestFree = idx;
                if (idx < p.pool.blockCount()) {
                    got = claim(p, idx, idx, name);
                    p.lowestFree = idx + 1;
                    break;
                }
            }
            if (got == null) {
                t.claims = claims;
                release(t, false); // giving back what this call took frees nothing anyone waited for
                String message = exhaustedMessage(f);
                if (t.view.state() != AllocationState.POOL_EXHAUSTED || !t.view.message().equals(message)) {
                    t.view = new NodeCidrs(name, t.view.nodeUid(), List.of(), AllocationState.POOL_EXHAUSTED, message);
                    publish(ChangeType.MODIFIED, t.view);
                }
                return new Reservation(List.of(), message);
            }
            claims.add(got);
            cidrs.add(got.pool.pool.block(got.from));
        }
        t.claims = claims;
        return new Reservation(cidrs, null);
    }

    private String exhaustedMessage(AddressFamily f) {
        List<PoolBits> ps = pools.stream().filter(p -> p.pool.family() == f).toList();
        int mask = ps.getFirst().pool.blockPrefix();
        long total = ps.stream().mapToLong(p -> p.pool.blockCount()).sum();
        long reserved = ps.stream().mapToLong(p -> p.reserved.cardinality()).sum();
        return "no free /" + mask + " block left in " + f + " pool" + (ps.size() > 1 ? "s " : " ")
                + ps.stream().map(p -> p.pool.cidr().toString()).collect(Collectors.joining(", "))
                + " (" + total + " blocks, " + reserved + " reserved, all others allocated)";
    }

    /** The reserved blocks were written to the Node: it is ALLOCATED. */
    public synchronized NodeCidrs confirm(String name, List<IpPrefix> cidrs) {
        Tracked t = nodes.get(name);
        if (t == null) {
            throw new IllegalStateException("Node " + name + " is unknown");
        }
        t.view = new NodeCidrs(name, t.view.nodeUid(), cidrs, AllocationState.ALLOCATED, "");
        track(name, t.view);
        publish(ChangeType.MODIFIED, t.view);
        return t.view;
    }

    /** Writing the reserved blocks failed: give them back; the Node waits again. */
    public synchronized void abandon(String name, String why) {
        Tracked t = nodes.get(name);
        if (t == null || !t.view.cidrs().isEmpty()) {
            return;
        }
        release(t, false);
        String message = why == null ? PENDING_MESSAGE : PENDING_MESSAGE + " (" + why + ")";
        if (t.view.state() != AllocationState.PENDING || !t.view.message().equals(message)) {
            t.view = new NodeCidrs(name, t.view.nodeUid(), List.of(), AllocationState.PENDING, message);
            publish(ChangeType.MODIFIED, t.view);
        }
    }

    /** The Node is gone: its blocks are free again, and Nodes in CONFLICT get another chance at theirs. */
    public synchronized void remove(String name) {
        Tracked t = nodes.remove(name);
        if (t == null) {
            return;
        }
        conflicted.remove(name);
        boolean freed = !t.claims.isEmpty();
        release(t, true);
        publish(ChangeType.DELETED, t.view);
        if (freed) {
            retryConflicts();
        }
    }

    private void retryConflicts() {
        List<String> names = nodes.entrySet().stream().filter(e -> conflicted.contains(e.getKey()))
                .sorted(CREATION_ORDER).map(Map.Entry::getKey).toList();
        for (String name : names) {
            Tracked t = nodes.get(name);
            release(t, false); // re-claiming the same Node's own blocks frees nothing
            List<String> problems = new ArrayList<>();
            t.claims = claimCarried(name, t.view.cidrs(), problems);
            NodeCidrs view = carriedView(name, t.view.nodeUid(), t.view.cidrs(), problems);
            if (!view.equals(t.view)) {
                t.view = view;
                track(name, view);
                publish(ChangeType.MODIFIED, view);
            }
        }
    }

    /**
     * Replaces the whole state with the given Nodes, oldest first (so an overlap is resolved as it was when the
     * older Node got its block). Watchers get the difference as changes.
     */
    public synchronized void rebuild(Collection<NodeView> views) {
        Map<String, NodeCidrs> before = new HashMap<>();
        nodes.forEach((k, v) -> before.put(k, v.view));
        quiet = true;
        try {
            nodes.clear();
            conflicted.clear();
            pools.forEach(PoolBits::clear);
            views.stream().sorted(Comparator.comparing(NodeView::creationTimestamp).thenComparing(NodeView::name))
                    .forEach(this::observe);
        } finally {
            quiet = false;
        }
        before.forEach((name, old) -> {
            Tracked now = nodes.get(name);
            if (now == null) {
                publish(ChangeType.DELETED, old);
            } else if (!now.view.equals(old)) {
                publish(ChangeType.MODIFIED, now.view);
            }
        });
        nodes.forEach((name, t) -> {
            if (!before.containsKey(name)) {
                publish(ChangeType.ADDED, t.view);
            }
        });
    }

    /** How many times blocks were given back (by deletion or change): the controller retries waiting Nodes then. */
    public synchronized long releases() {
        return releases;
    }

    /** Nodes waiting for blocks (PENDING or POOL_EXHAUSTED), oldest first. */
    public synchronized List<String> waitingNodes() {
        return nodes.entrySet().stream()
                .filter(e -> e.getValue().view.cidrs().isEmpty() && e.getValue().claims.isEmpty())
                .sorted(CREATION_ORDER).map(Map.Entry::getKey).toList();
    }

    private void publish(ChangeType type, NodeCidrs view) {
        if (quiet) {
            return;
        }
        Change change = new Change(type, view, ++revision);
        for (Consumer<Change> l : listeners) {
            try {
                l.accept(change);
            } catch (RuntimeException e) {
                LOG.warnf(e, "Allocation listener failed on %s", change);
            }
        }
    }

    // ---------------------------------------------------------------- queries (any thread)

    public synchronized long revision() {
        return revision;
    }

    public synchronized Optional<NodeCidrs> get(String name) {
        Tracked t = nodes.get(name);
        return t == null ? Optional.empty() : Optional.of(t.view);
    }

    /** Every Node, sorted by name. */
    public synchronized List<NodeCidrs> list() {
        return nodes.values().stream().map(t -> t.view).toList();
    }

    public synchronized int size() {
        return nodes.size();
    }

    /** The pool a CIDR lies in, if any. */
    public Optional<CidrPool> poolOf(IpPrefix cidr) {
        return settings.pools().stream().filter(p -> p.cidr().contains(cidr)).findFirst();
    }

    public synchronized Owner lookup(IpAddress ip) {
        for (PoolBits p : pools) {
            int idx = p.pool.indexOf(ip);
            if (idx < 0) {
                continue;
            }
            String owner = p.owners.get(idx);
            if (owner == null) {
                return new Owner(ip, p.pool, null, null, p.reserved.get(idx));
            }
            NodeCidrs node = nodes.get(owner).view;
            IpPrefix podCidr = null;
            for (IpPrefix c : node.cidrs()) {
                if (c.contains(ip)) {
                    podCidr = c;
                    break;
                }
            }
            return new Owner(ip, p.pool, node, podCidr != null ? podCidr : p.pool.block(idx), false);
        }
        // A Node in CONFLICT may carry a CIDR outside every pool: few, so a scan of them is cheap.
        for (String name : conflicted) {
            NodeCidrs node = nodes.get(name).view;
            for (IpPrefix c : node.cidrs()) {
                if (c.contains(ip) && poolOf(c).isEmpty()) {
                    return new Owner(ip, null, node, c, false);
                }
            }
        }
        return new Owner(ip, null, null, null, false);
    }

    public synchronized List<PoolUsage> utilization() {
        List<PoolUsage> out = new ArrayList<>(pools.size());
        for (PoolBits p : pools) {
            long total = p.pool.blockCount();
            long reserved = p.reserved.cardinality();
            long occupied = p.occupied.cardinality();
            out.add(new PoolUsage(p.pool, total, occupied - reserved, reserved, total - occupied));
        }
        return out;
    }

    /** Open watches. */
    public int watchers() {
        return listeners.size();
    }

    /**
     * Hands the current state to {@code snapshot} and then every later change to {@code listener}, with nothing lost
     * or repeated in between. Both are called under the allocator's lock: they must not block.
     */
    public synchronized Watch watch(Consumer<List<NodeCidrs>> snapshot, Consumer<Change> listener) {
        snapshot.accept(list());
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }
}
