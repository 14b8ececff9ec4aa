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

    ClusterInformers(KubernetesClient client) {
        this.client = client;
    }

    @PostConstruct
    void create() {
        // Created without starting, so that handlers registered by computation get every object from the first list.
        namespaces = client.namespaces().runnableInformer(0);
        pods = client.pods().inAnyNamespace().runnableInformer(0);
        networkPolicies = client.network().v1().networkPolicies().inAnyNamespace().runnableInformer(0);
    }

    /** Starts the informers; called once computation has registered its handlers. */
    public void run() {
        namespaces.start();
        pods.start();
        networkPolicies.start();
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

    public boolean hasSynced() {
        return all().allMatch(i -> i != null && i.hasSynced());
    }

    /** Informers that were started and have stopped (e.g. a watch that cannot be re-established). */
    public List<String> stopped() {
        return Stream.of(pods, namespaces, networkPolicies)
                .filter(i -> i != null && i.stopped().toCompletableFuture().isDone())
                .map(i -> i.getApiTypeClass().getSimpleName())
                .toList();
    }
}
