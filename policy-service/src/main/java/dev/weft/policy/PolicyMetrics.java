package dev.weft.policy;

import dev.weft.policy.core.PolicyEngine;
import dev.weft.policy.status.Leadership;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The service's Prometheus metrics (docs/metrics.md): what the engine holds (policies, groups, pods), the agents
 * connected and each stream's backlog, stream overflows, computation time per informer event, leadership. Gauges
 * read the engine when scraped; nothing is copied.
 */
@ApplicationScoped
public class PolicyMetrics {
    private final MeterRegistry registry;
    private final java.util.List<Meter> meters = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final PolicyComputation computation;
    private final Leadership leadership;
    private final Map<String, Timer> computeTimers = new ConcurrentHashMap<>();
    private final Map<NodeStream, Meter.Id> streamGauges = new ConcurrentHashMap<>();
    private final Counter overflows;

    PolicyMetrics(MeterRegistry registry, PolicyComputation computation, Leadership leadership) {
        this.registry = registry;
        this.computation = computation;
        this.leadership = leadership;
        this.overflows = keep(Counter.builder("weft.policy.stream.overflows")
                .description("Agent streams closed with RESOURCE_EXHAUSTED because their backlog exceeded the buffer")
                .register(registry));
    }

    void start(@Observes StartupEvent ev) {
        PolicyEngine engine = computation.engine();
        keep(Gauge.builder("weft.policy.connected.agents", engine, PolicyEngine::subscriptionCount)
                .description("Agents with an open WatchPolicies stream").register(registry));
        keep(Gauge.builder("weft.policy.networkpolicies", engine, PolicyEngine::policyCount)
                .description("NetworkPolicies the engine holds (valid and invalid)").register(registry));
        keep(Gauge.builder("weft.policy.networkpolicies.invalid", engine, PolicyEngine::invalidPolicyCount)
                .description("NetworkPolicies refused by the translator (see their Events)").register(registry));
        keep(Gauge.builder("weft.policy.groups", engine, e -> e.groups().size())
                .description("Shared pod groups (address and applied-to groups are shared by selector)").register(registry));
        keep(Gauge.builder("weft.policy.pods", engine, PolicyEngine::podCount)
                .description("Pods the engine indexes").register(registry));
        keep(Gauge.builder("weft.policy.leader", leadership, l -> l.isLeader() ? 1 : 0)
                .description("1 while this replica holds the status Lease and writes realization annotations")
                .register(registry));
    }

    void stop(@Observes ShutdownEvent ev) {
        meters.forEach(registry::remove);
        meters.clear();
        streamGauges.values().forEach(registry::remove);
        streamGauges.clear();
        computeTimers.clear();
    }

    /** Wall time of one informer event's computation, by kind (Pod, Namespace, NetworkPolicy). */
    Timer computeTimer(String kind) {
        return computeTimers.computeIfAbsent(kind, k -> keep(Timer.builder("weft.policy.event.compute")
                .description("Time the engine spends on one informer event, fan-out to agents' queues included")
                .tag("kind", k).publishPercentiles(0.5, 0.99).register(registry)));
    }

    /** A stream's backlog as a gauge tagged with its node, for as long as the stream is open. */
    void streamOpened(NodeStream stream) {
        Gauge gauge = Gauge.builder("weft.policy.stream.queued.events", stream, NodeStream::queued)
                .description("Events waiting for HTTP/2 flow control on an agent's stream")
                .tag("node", stream.nodeName()).register(registry);
        streamGauges.put(stream, gauge.getId());
    }

    void streamClosed(NodeStream stream) {
        Meter.Id id = streamGauges.remove(stream);
        if (id != null) {
            registry.remove(id);
        }
    }

    void overflow() {
        overflows.increment();
    }

    /** Meters are removed at shutdown: a registry that outlives the application must not keep reading stopped beans. */
    private <M extends Meter> M keep(M meter) {
        meters.add(meter);
        return meter;
    }
}
