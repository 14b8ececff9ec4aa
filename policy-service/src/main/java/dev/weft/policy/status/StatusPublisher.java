package dev.weft.policy.status;

import dev.weft.policy.PolicyConfig;
import dev.weft.policy.core.PolicyEngine;
import dev.weft.proto.controlplane.v1.PolicyStatus;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.jboss.logging.Logger;

import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * Writes what users and {@code localcluster apply} look at onto the Kubernetes objects, off the computation path:
 * the realization annotations on every NetworkPolicy (only when their value changes) and a Warning Event for every
 * invalid policy generation. Only while this replica holds the Lease ({@link Leadership}); the writes are idempotent,
 * so the moment two replicas may overlap (an old leader that has not noticed yet) costs nothing but a duplicate.
 */
@ApplicationScoped
public class StatusPublisher {

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final Logger LOG = Logger.getLogger(StatusPublisher.class);
    public static final String REALIZATION = "weft.dev/realization";
    public static final String REALIZATION_GENERATION = "weft.dev/realization-generation";
    public static final String REALIZATION_ERROR = "weft.dev/realization-error";

    private final KubernetesClient client;
    private final RealizationTracker tracker;
    private final PolicyConfig config;
    private final Leadership leadership;
    private final ConcurrentLinkedQueue<PolicyEngine.PolicyError> errors = new ConcurrentLinkedQueue<>();
    /** uid -> annotation values last written. */
    private final Map<String, String> written = new HashMap<>();
    private volatile boolean running = true;
    private Thread thread;
    /** Released when there is something to publish; the loop waits on it instead of polling. */
    private final java.util.concurrent.Semaphore wake = new java.util.concurrent.Semaphore(0);

    StatusPublisher(KubernetesClient client, RealizationTracker tracker, PolicyConfig config, Leadership leadership) {
        this.client = client;
        this.tracker = tracker;
        this.config = config;
        this.leadership = leadership;
    }

    /** Called by the engine under its lock: only queues. */
    public void invalidPolicy(PolicyEngine.PolicyError e) {
        errors.add(e);
        wake();
    }

    /**
     * Something may have changed (an informer event was computed, an agent reported): publish now. Changes that come
     * while a round is writing are batched into the next round, so a burst costs one round per write, not one per
     * change, and an idle service answers a single change at once.
     */
    public void wake() {
        if (wake.availablePermits() == 0) {
            wake.release();
        }
    }

    public synchronized void start(PolicyEngine engine) {
        if (thread != null) {
            return;
        }
        thread = Thread.ofPlatform().daemon().name("policy-status-publisher").start(() -> loop(engine));
    }

    void stop(@Observes ShutdownEvent ev) {
        running = false;
        Thread t = thread;
        if (t != null) {
            t.interrupt();
        }
    }

    private void loop(PolicyEngine engine) {
        Set<String> pending = new HashSet<>();
        boolean wasLeader = false;
        while (running) {
            try {
                boolean leader = leadership.isLeader();
                if (leader && !wasLeader) {
                    // A new term: another replica may have written meanwhile, so every policy is compared again (an
                    // unchanged annotation costs one patch that changes nothing).
                    written.clear();
                    engine.policySpans().forEach(s -> pending.add(s.uid()));
                }
                wasLeader = leader;
                PolicyEngine.PolicyError e;
                while ((e = errors.poll()) != null) {
                    if (leader) {
                        emitEvent(e); // every replica computes the same errors: the leader alone records them
                    }
                }
                // Only policies whose span, generation, error or reports changed: never a scan of all policies.
                pending.addAll(engine.drainStatusDirty());
                pending.addAll(tracker.drainChanged());
                if (!leader) {
                    pending.clear(); // the leader writes; on becoming leader everything is compared again
                } else if (config.statusAnnotations()) {
                    writeAnnotations(engine, pending);
                } else {
                    pending.clear();
                }
                // Woken by a change, or after the interval to notice a new term and retry failed writes.
                wake.tryAcquire(config.statusInterval().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
                wake.drainPermits();
            } catch (InterruptedException ie) {
                return;
            } catch (RuntimeException re) {
                LOG.warnf(re, "Publishing policy status failed; retrying");
            }
        }
    }

    /** Writes the changed annotations; what could not be written stays in {@code pending} for the next round. */
    private void writeAnnotations(PolicyEngine engine, Set<String> pending) {
        var it = pending.iterator();
        while (it.hasNext() && running && leadership.isLeader()) {
            String uid = it.next();
            PolicyEngine.PolicySpan span = engine.policySpan(uid);
            if (span == null) {
                written.remove(uid);
                it.remove();
                continue;
            }
            PolicyStatus s = tracker.status(span);
            String value = s.getRealizedNodes() + "/" + s.getDesiredNodes() + "|" + span.observedGeneration() + "|"
                    + (span.error() == null ? "" : span.error());
            if (value.equals(written.get(uid))) {
                it.remove();
                continue;
            }
            // JSON merge patch: a null value removes the error annotation.
            Map<String, String> annotations = new HashMap<>();
            annotations.put(REALIZATION, s.getRealizedNodes() + "/" + s.getDesiredNodes());
            annotations.put(REALIZATION_GENERATION, Long.toString(span.observedGeneration()));
            annotations.put(REALIZATION_ERROR, span.error());
            String patch;
            try {
                patch = MAPPER.writeValueAsString(Map.of("metadata", Map.of("annotations", annotations)));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("cannot encode annotations", e);
            }
            try {
                client.network().v1().networkPolicies().inNamespace(span.namespace()).withName(span.name())
                        .patch(PatchContext.of(PatchType.JSON_MERGE), patch);
                written.put(uid, value);
                it.remove();
            } catch (KubernetesClientException e) {
                if (e.getCode() == 404) {
                    it.remove();
                } else {
                    LOG.warnf("Could not annotate NetworkPolicy %s/%s (will retry): %s", span.namespace(), span.name(),
                            e.getMessage());
                    return;
                }
            }
        }
    }

    private void emitEvent(PolicyEngine.PolicyError e) {
        String now = Instant.now().toString();
        try {
            client.v1().events().inNamespace(e.namespace()).resource(new EventBuilder()
                    .withNewMetadata().withNamespace(e.namespace())
                    .withName(e.name() + "." + UUID.randomUUID().toString().substring(0, 8)).endMetadata()
                    .withNewInvolvedObject().withApiVersion("networking.k8s.io/v1").withKind("NetworkPolicy")
                    .withNamespace(e.namespace()).withName(e.name()).withUid(e.uid()).endInvolvedObject()
                    .withType("Warning").withReason("InvalidNetworkPolicy")
                    .withMessage("generation " + e.generation() + " not enforced: " + e.message())
                    .withNewSource().withComponent("weft-policy-service").endSource()
                    .withFirstTimestamp(now).withLastTimestamp(now).withCount(1)
                    .build()).create();
        } catch (KubernetesClientException ex) {
            LOG.warnf("Could not record an Event for invalid NetworkPolicy %s/%s: %s", e.namespace(), e.name(),
                    ex.getMessage());
        }
    }
}
