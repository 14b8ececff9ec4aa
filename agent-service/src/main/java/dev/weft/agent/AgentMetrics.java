package dev.weft.agent;

import dev.weft.agent.ovsdb.OvsdbProbe;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.DatapathService;
import dev.weft.agent.pipeline.PipelineTable;
import dev.weft.agent.policy.PolicyAgent;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.Meter;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The agent's Prometheus metrics (docs/metrics.md): flows per table as the switch holds them, the OpenFlow and OVSDB
 * connections, local pods, policies, flow replays, CNI requests by command and result with their latency, and the
 * realization lag of policy updates. Gauges read the datapath when scraped; the datapath knows nothing of metrics.
 * Every meter is removed at shutdown: a registry that outlives the application (Quarkus tests restart it) must not
 * keep gauges reading beans of a stopped container, nor shadow the new ones (meters are deduplicated by name and tags).
 */
@ApplicationScoped
public class AgentMetrics {
    private final MeterRegistry registry;
    private final DatapathService datapath;
    private final PolicyAgent policy;
    private final AgentConfig config;
    private final Map<String, Timer> cniTimers = new ConcurrentHashMap<>();
    private final Timer realization;
    private final java.util.List<Meter> meters = new java.util.concurrent.CopyOnWriteArrayList<>();

    AgentMetrics(MeterRegistry registry, DatapathService datapath, PolicyAgent policy, AgentConfig config) {
        this.registry = registry;
        this.datapath = datapath;
        this.policy = policy;
        this.config = config;
        this.realization = keep(Timer.builder("weft.agent.policy.realization")
                .description("From a policy event arriving on the stream to its flows installed on the switch")
                .publishPercentiles(0.5, 0.99).register(registry));
    }

    private <M extends Meter> M keep(M meter) {
        meters.add(meter);
        return meter;
    }

    void stop(@Observes ShutdownEvent ev) {
        meters.forEach(registry::remove);
        meters.clear();
        cniTimers.clear();
    }

    void start(@Observes StartupEvent ev) {
        for (PipelineTable t : PipelineTable.ordered()) {
            keep(Gauge.builder("weft.agent.flows", datapath, d -> d.datapath().storedFlowsPerTable().getOrDefault(t.id, 0L))
                    .description("Flows the agent keeps on the switch, per pipeline table")
                    .tags("table", t.displayName, "table_id", Integer.toString(t.id)).register(registry));
        }
        keep(Gauge.builder("weft.agent.openflow.connected", datapath, d -> d.datapath().isReady() ? 1 : 0)
                .description("1 while the OpenFlow connection to the bridge is up and every flow is replayed")
                .register(registry));
        keep(Gauge.builder("weft.agent.ovsdb.connected", config,
                        c -> OvsdbProbe.check(c.resolvedOvsdbSocket(), Duration.ofMillis(300)) == null ? 1 : 0)
                .description("1 while ovsdb-server answers on its socket").register(registry));
        keep(Gauge.builder("weft.agent.controller.connected", policy, p -> p.controller().isSynced() ? 1 : 0)
                .description("1 while the policy stream from policy-service is synced").register(registry));
        keep(Gauge.builder("weft.agent.local.pods", datapath, d -> d.datapath().localPods().size())
                .description("Pods of this node with an interface on the bridge").register(registry));
        keep(Gauge.builder("weft.agent.networkpolicies", policy, p -> p.controller().views().size())
                .description("NetworkPolicies applied to pods of this node").register(registry));
        keep(FunctionCounter.builder("weft.agent.flow.replays", datapath, d -> d.datapath().replays())
                .description("Times every stored flow was replayed onto a restarted or reconnected switch")
                .register(registry));
        policy.controller().onRealizationLag(nanos -> realization.record(nanos, TimeUnit.NANOSECONDS));
    }

    /** One CNI request through the shim: its command (ADD, DEL, CHECK, GC), {@code ok} or the CNI error, its time. */
    public void cniRequest(String command, String result, long nanos) {
        cniTimers.computeIfAbsent(command + "|" + result, k -> keep(Timer.builder("weft.agent.cni.requests")
                        .description("CNI requests served, by command and result")
                        .tags("command", command, "result", result).publishPercentiles(0.5, 0.99).register(registry)))
                .record(nanos, TimeUnit.NANOSECONDS);
    }
}
