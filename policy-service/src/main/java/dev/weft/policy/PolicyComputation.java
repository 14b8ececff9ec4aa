package dev.weft.policy;

import dev.weft.policy.core.PolicyEngine;
import dev.weft.policy.status.StatusPublisher;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.jboss.logging.Logger;

import java.util.function.Consumer;

/** Owns the computation engine and feeds it from the informers (the same handlers the benchmark calls directly). */
@ApplicationScoped
public class PolicyComputation {

    private static final Logger LOG = Logger.getLogger(PolicyComputation.class);

    private final PolicyEngine engine;

    PolicyComputation(StatusPublisher publisher) {
        this.engine = new PolicyEngine(publisher::invalidPolicy);
    }

    public PolicyEngine engine() {
        return engine;
    }

    void start(@Observes StartupEvent ev, ClusterInformers informers, StatusPublisher publisher,
               dev.weft.policy.status.Leadership leadership, PolicyMetrics metrics,
               dev.weft.policy.info.ControllerInfoPublisher controllerInfo) {
        Runnable computed = () -> {
            publisher.wake();
            controllerInfo.wake();
        };
        informers.namespaces().addEventHandler(handler(metrics.computeTimer("Namespace"), computed, informers,
                io.fabric8.kubernetes.api.model.Namespace.class, engine::onNamespace, engine::onNamespaceDeleted));
        informers.pods().addEventHandler(handler(metrics.computeTimer("Pod"), computed, informers,
                io.fabric8.kubernetes.api.model.Pod.class, engine::onPod, engine::onPodDeleted));
        informers.networkPolicies().addEventHandler(handler(metrics.computeTimer("NetworkPolicy"), computed, informers,
                io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy.class, engine::onPolicy, engine::onPolicyDeleted));
        informers.run();
        publisher.start(engine);
        leadership.start();
    }

    /** An exception in one object's handling is logged; it must never stop the informer's delivery to the others. */
    private static <T extends io.fabric8.kubernetes.api.model.HasMetadata> ResourceEventHandler<T> handler(
            io.micrometer.core.instrument.Timer timer, Runnable computed, ClusterInformers informers, Class<T> type,
            Consumer<T> upsert, Consumer<T> delete) {
        String kind = type.getSimpleName();
        return new ResourceEventHandler<>() {
            @Override
            public void onAdd(T obj) {
                run(obj, upsert);
            }

            @Override
            public void onUpdate(T oldObj, T newObj) {
                run(newObj, upsert);
            }

            @Override
            public void onDelete(T obj, boolean deletedFinalStateUnknown) {
                run(obj, delete);
            }

            private void run(T obj, Consumer<T> c) {
                try {
                    timer.record(() -> c.accept(obj));
                    computed.run();
                } catch (RuntimeException e) {
                    LOG.errorf(e, "Handling %s %s/%s failed", kind, obj.getMetadata().getNamespace(),
                            obj.getMetadata().getName());
                }
                // Handled, even when it failed (logged): readiness waits for every object of the first list.
                informers.handled(type, obj);
            }
        };
    }
}
