package dev.weft.policy;

import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.quarkus.runtime.ShutdownEvent;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;

import java.util.List;
import java.util.stream.Stream;

/**
 * The three watched kinds. Policy computation subscribes to these informers; readiness waits until all three
 * have listed once, so agents never receive a snapshot computed from a partial view.
 */
@ApplicationScoped
public class ClusterInformers {

    private final KubernetesClient client;
    private volatile SharedIndexInformer<Pod> pods;
    private volatile SharedIndexInformer<Namespace> namespaces;
    private volatile SharedIndexInformer<NetworkPolicy> networkPolicies;
    private final java.util.Map<String, InformerRetry> retries = new java.util.LinkedHashMap<>();
    private final java.util.Map<String, FirstListHandled> firstLists = new java.util.LinkedHashMap<>();

    ClusterInformers(KubernetesClient client) {
        this.client = client;
    }

    @PostConstruct
    void create() {
        // Created without starting, so that handlers registered by computation get every object from the first list.
        namespaces = client.namespaces().runnableInformer(0);
        pods = client.pods().inAnyNamespace().runnableInformer(0);
        networkPolicies = client.network().v1().networkPolicies().inAnyNamespace().runnableInformer(0);
        all().forEach(i -> {
            InformerRetry retry = new InformerRetry(i.getApiTypeClass().getSimpleName() + " informer");
            retries.put(i.getApiTypeClass().getSimpleName(), retry);
            firstLists.put(i.getApiTypeClass().getSimpleName(), new FirstListHandled());
            i.exceptionHandler(retry);
        });
    }

    /**
     * Starts the informers without waiting for their first list (the API server may be away: they keep trying, and
     * readiness says why it is DOWN); called once computation has registered its handlers.
     */
    public void run() {
        all().forEach(i -> {
            String kind = i.getApiTypeClass().getSimpleName();
            i.start().thenRun(() -> {
                retries.get(kind).connected();
                firstLists.get(kind).listed(i.getStore().listKeys());
            });
        });
    }

    /** The handler registered by computation has computed this object (add, update or delete). */
    public void handled(Class<?> kind, io.fabric8.kubernetes.api.model.HasMetadata obj) {
        firstLists.get(kind.getSimpleName()).handled(io.fabric8.kubernetes.client.informers.cache.Cache.metaNamespaceKeyFunc(obj));
    }

    void stop(@Observes ShutdownEvent ev) {
        all().forEach(i -> {
            if (i != null) {
                i.close();
            }
        });
    }

    public SharedIndexInformer<Pod> pods() {
        return pods;
    }

    public SharedIndexInformer<Namespace> namespaces() {
        return namespaces;
    }

    public SharedIndexInformer<NetworkPolicy> networkPolicies() {
        return networkPolicies;
    }

    private Stream<SharedIndexInformer<?>> all() {
        return Stream.of(pods, namespaces, networkPolicies);
    }

    /**
     * Every informer has listed once and computation has handled every object of that list: only then is a snapshot
     * complete (fabric8's own hasSynced is true while the handler still works through the list).
     */
    public boolean hasSynced() {
        return all().allMatch(i -> i != null && i.hasSynced() && firstLists.get(i.getApiTypeClass().getSimpleName()).caughtUp());
    }

    /** Why readiness is DOWN: per informer not yet synced, the last failure talking to the API server. */
    public String notSyncedReason() {
        List<String> reasons = new java.util.ArrayList<>();
        all().filter(i -> i != null).forEach(i -> {
            String kind = i.getApiTypeClass().getSimpleName();
            FirstListHandled first = firstLists.get(kind);
            if (!i.hasSynced()) {
                String failure = retries.get(kind).lastFailure();
                reasons.add(kind + ": " + (failure.isEmpty() ? "waiting for the first list" : "Kubernetes API unreachable: " + failure));
            } else if (!first.caughtUp()) {
                int remaining = first.remaining();
                reasons.add(kind + ": computing the first list" + (remaining < 0 ? "" : " (" + remaining + " objects to go)"));
            }
        });
        return String.join("; ", reasons);
    }

    /** Informers that were started and have stopped (e.g. a watch that cannot be re-established). */
    public List<String> stopped() {
        return Stream.of(pods, namespaces, networkPolicies)
                .filter(i -> i != null && i.stopped().toCompletableFuture().isDone())
                .map(i -> i.getApiTypeClass().getSimpleName())
                .toList();
    }
}
