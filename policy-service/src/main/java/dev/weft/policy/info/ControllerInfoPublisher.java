package dev.weft.policy.info;

import dev.weft.policy.ClusterInformers;
import dev.weft.policy.PolicyComputation;
import dev.weft.policy.core.PolicyEngine;
import dev.weft.policy.status.Leadership;
import dev.weft.policy.status.RealizationTracker;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.ConfigProvider;
import org.jboss.logging.Logger;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * Keeps the cluster-scoped WeftControllerInfo {@value #NAME} current, as Antrea's controller keeps
 * AntreaControllerInfo: version, the connected agents (count and nodes: those with a policy stream here, and those
 * whose realization reports other replicas forwarded within {@code forwarded-agent-window}), counts of NetworkPolicies, address groups and
 * applied-to groups, the ControllerHealthy condition with its reason, and the leader pod. Written by the Lease holder
 * alone ({@link Leadership}), so two replicas never fight over it.
 * <p>
 * Event-driven with a floor: an agent connecting or leaving, or a computed informer event, wakes the writer; it writes
 * when the content changed, at most once per {@code min-interval} (changes in between are batched) and at least once
 * per {@code refresh-interval} (the heartbeat). A failed write is logged and retried on the next wake or refresh.
 */
@ApplicationScoped
public class ControllerInfoPublisher {

    private static final Logger LOG = Logger.getLogger(ControllerInfoPublisher.class);
    public static final String NAME = "weft-controller";
    public static final ResourceDefinitionContext CONTEXT = new ResourceDefinitionContext.Builder()
            .withGroup("weft.dev").withVersion("v1alpha1").withKind("WeftControllerInfo").withPlural("weftcontrollerinfos")
            .withNamespaced(false).build();

    /** What the object says, without the time stamps: equal content is not written again before the refresh. */
    record Content(String version, List<String> connectedAgents, int networkPolicies, int invalidNetworkPolicies,
                   int addressGroups, int appliedToGroups, boolean healthy, String reason, String message,
                   String leaderIdentity) {
        Content {
            connectedAgents = List.copyOf(connectedAgents);
        }
    }

    private final KubernetesClient client;
    private final PolicyComputation computation;
    private final ClusterInformers informers;
    private final Leadership leadership;
    private final RealizationTracker reports;
    private final ControllerInfoConfig config;
    private final Semaphore wake = new Semaphore(0);
    private volatile boolean running = true;
    private Thread thread;
    private Content written;
    private long writtenAtNanos;
    private long writes;

    ControllerInfoPublisher(KubernetesClient client, PolicyComputation computation, ClusterInformers informers,
                            Leadership leadership, RealizationTracker reports, ControllerInfoConfig config) {
        this.client = client;
        this.computation = computation;
        this.informers = informers;
        this.leadership = leadership;
        this.reports = reports;
        this.config = config;
    }

    void start(@Observes StartupEvent ev) {
        if (!config.enabled()) {
            return;
        }
        leadership.onChange(this::wake);
        thread = Thread.ofPlatform().daemon().name("weft-controller-info").start(this::loop);
    }

    void stop(@Observes ShutdownEvent ev) {
        running = false;
        Thread t = thread;
        if (t != null) {
            t.interrupt();
        }
    }

    /** Something the object shows may have changed: never blocks (called under the engine's and gRPC's threads). */
    public void wake() {
        if (wake.availablePermits() == 0) {
            wake.release();
        }
    }

    /** Writes done by this replica (for tests and the log). */
    public synchronized long writes() {
        return writes;
    }

    private void loop() {
        long refreshMillis = config.refreshInterval().toMillis();
        // Forwarded agents leave the list by time, not by an event: looked at again at least once per window.
        long lookMillis = Math.min(refreshMillis, config.forwardedAgentWindow().toMillis());
        while (running) {
            try {
                // An unhealthy object is looked at again each floor interval: the informers' first sync wakes no one.
                Content last = written;
                wake.tryAcquire(last != null && last.healthy() ? lookMillis : config.minInterval().toMillis(),
                        TimeUnit.MILLISECONDS);
                wake.drainPermits();
                if (!leadership.isLeader()) {
                    written = null; // a new term compares from scratch: another replica may have written meanwhile
                    continue;
                }
                Content c = content();
                boolean refreshDue = System.nanoTime() - writtenAtNanos >= TimeUnit.MILLISECONDS.toNanos(refreshMillis);
                if (c.equals(written) && !refreshDue) {
                    continue;
                }
                try {
                    write(c);
                    synchronized (this) {
                        written = c;
                        writes++;
                    }
                    writtenAtNanos = System.nanoTime();
                } catch (KubernetesClientException e) {
                    LOG.warnf("WeftControllerInfo %s not written (retried on the next change or in %s): %s", NAME,
                            config.refreshInterval(), e.getMessage());
                }
                Thread.sleep(config.minInterval().toMillis()); // the floor: changes meanwhile make one write after it
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                LOG.warnf(e, "WeftControllerInfo %s not written", NAME);
            }
        }
    }

    Content content() {
        PolicyEngine engine = computation.engine();
        boolean synced = informers.hasSynced();
        int invalid = engine.invalidPolicyCount();
        String message = synced ? (invalid == 0 ? "" : invalid + " NetworkPolicies are invalid (see their Events)")
                : "waiting for the first list of Pods, Namespaces and NetworkPolicies";
        // The agents of every replica: this one's streams, and the nodes whose reports the others forwarded lately.
        java.util.SortedSet<String> agents = new java.util.TreeSet<>(engine.subscribedNodes());
        agents.addAll(reports.nodesReportedWithin(config.forwardedAgentWindow()));
        return new Content(version(), List.copyOf(agents), engine.policyCount(), invalid, engine.addressGroupCount(),
                engine.appliedToGroupCount(), synced, synced ? "InformersSynced" : "InformersNotSynced", message,
                leadership.holder());
    }

    /** The build's version (the Maven project version Quarkus records as quarkus.application.version). */
    static String version() {
        return ConfigProvider.getConfig().getOptionalValue("quarkus.application.version", String.class).orElse("dev");
    }

    private void write(Content c) {
        GenericKubernetesResource desired = object(c, Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        var resource = client.genericKubernetesResources(CONTEXT).withName(NAME);
        GenericKubernetesResource current = resource.get();
        if (current == null) {
            client.genericKubernetesResources(CONTEXT).resource(desired).create();
        } else {
            desired.getMetadata().setResourceVersion(current.getMetadata().getResourceVersion());
            client.genericKubernetesResources(CONTEXT).resource(desired).update();
        }
    }

    GenericKubernetesResource object(Content c, String now) {
        GenericKubernetesResource o = new GenericKubernetesResource();
        o.setApiVersion("weft.dev/v1alpha1");
        o.setKind("WeftControllerInfo");
        o.setMetadata(new ObjectMetaBuilder().withName(NAME).addToLabels("app", "policy-service").build());
        Map<String, Object> p = o.getAdditionalProperties();
        p.put("version", c.version());
        Map<String, Object> pod = new LinkedHashMap<>();
        config.podNamespace().ifPresent(ns -> pod.put("namespace", ns));
        config.podName().ifPresent(n -> pod.put("name", n));
        if (!pod.isEmpty()) {
            p.put("podRef", pod);
        }
        p.put("leaderIdentity", c.leaderIdentity());
        p.put("connectedAgentNum", c.connectedAgents().size());
        p.put("connectedAgents", c.connectedAgents());
        p.put("networkPolicyNum", c.networkPolicies());
        p.put("invalidNetworkPolicyNum", c.invalidNetworkPolicies());
        p.put("addressGroupNum", c.addressGroups());
        p.put("appliedToGroupNum", c.appliedToGroups());
        Map<String, Object> healthy = new LinkedHashMap<>();
        healthy.put("type", "ControllerHealthy");
        healthy.put("status", c.healthy() ? "True" : "False");
        healthy.put("lastHeartbeatTime", now);
        healthy.put("reason", c.reason());
        healthy.put("message", c.message());
        p.put("controllerConditions", List.of(healthy));
        return o;
    }
}
