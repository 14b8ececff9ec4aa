package dev.weft.ipam;

import dev.weft.proto.ipam.v1.AllocationState;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The service's Prometheus metrics (docs/metrics.md): pool blocks by state, Nodes by allocation state, allocations and
 * conflicts as counters, leadership and open watches. Gauges read the allocator when scraped (no copy of its state);
 * the counters follow the allocator's change stream, so they count what every replica observes, leader or not.
 */
@ApplicationScoped
public class IpamMetrics {
    private final MeterRegistry registry;
    private final java.util.List<Meter> meters = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final NodeCidrAllocator allocator;
    private final IpamLifecycle lifecycle;
    /** Last state seen per Node, to count transitions (guarded by the allocator's lock: listeners run under it). */
    private final Map<String, NodeCidrAllocator.NodeCidrs> seen = new HashMap<>();
    private Counter allocations;
    private Counter conflicts;
    private Counter exhaustions;
    private NodeCidrAllocator.Watch watch;

    IpamMetrics(MeterRegistry registry, NodeCidrAllocator allocator, IpamLifecycle lifecycle) {
        this.registry = registry;
        this.allocator = allocator;
        this.lifecycle = lifecycle;
    }

    void start(@Observes StartupEvent ev) {
        List<NodeCidrAllocator.PoolUsage> pools = allocator.utilization();
        for (int i = 0; i < pools.size(); i++) {
            CidrPool pool = pools.get(i).pool();
            int index = i;
            poolGauge(pool, index, "total", NodeCidrAllocator.PoolUsage::totalBlocks);
            poolGauge(pool, index, "allocated", NodeCidrAllocator.PoolUsage::allocatedBlocks);
            poolGauge(pool, index, "reserved", NodeCidrAllocator.PoolUsage::reservedBlocks);
            poolGauge(pool, index, "free", NodeCidrAllocator.PoolUsage::freeBlocks);
            keep(Gauge.builder("weft.ipam.pool.utilization", allocator, a -> a.utilization().get(index).utilization())
                    .description("Allocated blocks / (total - reserved), 0 to 1")
                    .tags("pool", pool.cidr().toString(), "family", family(pool))
                    .register(registry));
        }
        for (AllocationState state : List.of(AllocationState.ALLOCATED, AllocationState.PENDING,
                AllocationState.POOL_EXHAUSTED, AllocationState.CONFLICT)) {
            keep(Gauge.builder("weft.ipam.nodes", allocator, a -> countNodes(a, state))
                    .description("Nodes known to the allocator by allocation state")
                    .tag("state", state.name()).register(registry));
        }
        keep(Gauge.builder("weft.ipam.leader", lifecycle, l -> l.controller() != null && l.controller().isLeader() ? 1 : 0)
                .description("1 while this replica holds the allocation Lease").register(registry));
        keep(Gauge.builder("weft.ipam.watches", allocator, NodeCidrAllocator::watchers)
                .description("Open WatchAllocations streams (and internal listeners)").register(registry));
        allocations = keep(Counter.builder("weft.ipam.allocations")
                .description("Nodes given pod CIDRs (a Node counted again when its CIDRs change)").register(registry));
        conflicts = keep(Counter.builder("weft.ipam.conflicts")
                .description("Nodes found carrying a CIDR that overlaps another Node's or lies outside every pool")
                .register(registry));
        exhaustions = keep(Counter.builder("weft.ipam.pool.exhausted")
                .description("Nodes that could not get a block because a pool was full").register(registry));
        watch = allocator.watch(snapshot -> snapshot.forEach(n -> seen.put(n.nodeName(), n)), this::observe);
    }

    void stop(@Observes ShutdownEvent ev) {
        if (watch != null) {
            watch.close();
        }
        meters.forEach(registry::remove);
        meters.clear();
    }

    private void observe(NodeCidrAllocator.Change change) {
        NodeCidrAllocator.NodeCidrs now = change.node();
        if (change.type() == NodeCidrAllocator.ChangeType.DELETED) {
            seen.remove(now.nodeName());
            return;
        }
        NodeCidrAllocator.NodeCidrs before = seen.put(now.nodeName(), now);
        boolean changedState = before == null || before.state() != now.state();
        switch (now.state()) {
            case ALLOCATED -> {
                if (before == null || before.state() != AllocationState.ALLOCATED || !before.cidrs().equals(now.cidrs())) {
                    allocations.increment();
                }
            }
            case CONFLICT -> {
                if (changedState) {
                    conflicts.increment();
                }
            }
            case POOL_EXHAUSTED -> {
                if (changedState) {
                    exhaustions.increment();
                }
            }
            default -> {
            }
        }
    }

    private void poolGauge(CidrPool pool, int index, String state, ToDoubleFunction<NodeCidrAllocator.PoolUsage> value) {
        keep(Gauge.builder("weft.ipam.pool.blocks", allocator, a -> value.applyAsDouble(a.utilization().get(index)))
                .description("Node blocks of a pool by state (total, allocated, reserved, free)")
                .tags("pool", pool.cidr().toString(), "family", family(pool), "state", state)
                .register(registry));
    }

    private static String family(CidrPool pool) {
        return pool.family().name().toLowerCase(java.util.Locale.ROOT);
    }

    private static double countNodes(NodeCidrAllocator a, AllocationState state) {
        return a.list().stream().filter(n -> n.state() == state).count();
    }

    /** Meters are removed at shutdown: a registry that outlives the application must not keep reading stopped beans. */
    private <M extends Meter> M keep(M meter) {
        meters.add(meter);
        return meter;
    }
}
