package dev.weft.agent.service;

import dev.weft.agent.host.NodePortSteering;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import org.jboss.logging.Logger;

import java.util.List;
import java.util.concurrent.Executors;
import java.util.function.Consumer;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Informers on Services and discovery.k8s.io/v1 EndpointSlices (all namespaces) feeding {@link ServiceFeature}: any
 * event schedules one sync on a single worker thread, which resolves the whole model from the informers' stores
 * ({@link ServiceModel#resolve}) once both have synced and gives it to the feature (which installs only what changed).
 * Events arriving while a sync is pending are coalesced into it. A failed install is retried after a second.
 */
public final class ServiceWatcher implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(ServiceWatcher.class);

    private final KubernetesClient client;
    private final String nodeName;
    private final ServiceFeature feature;
    private final ScheduledExecutorService worker = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "services");
        t.setDaemon(true);
        return t;
    });
    private final AtomicBoolean pending = new AtomicBoolean();
    private volatile SharedIndexInformer<Service> services;
    private volatile SharedIndexInformer<EndpointSlice> slices;

    private final Consumer<List<NodePortSteering.NodePort>> nodePorts;

    public ServiceWatcher(KubernetesClient client, String nodeName, ServiceFeature feature) {
        this(client, nodeName, feature, np -> { });
    }

    /** @param nodePorts told the node ports after every sync (the host side steers them into the gateway) */
    public ServiceWatcher(KubernetesClient client, String nodeName, ServiceFeature feature,
                          Consumer<List<NodePortSteering.NodePort>> nodePorts) {
        this.client = client;
        this.nodeName = nodeName;
        this.feature = feature;
        this.nodePorts = nodePorts;
    }

    public ServiceWatcher start() {
        services = client.services().inAnyNamespace().runnableInformer(0);
        slices = client.discovery().v1().endpointSlices().inAnyNamespace().runnableInformer(0);
        services.addEventHandler(handler());
        slices.addEventHandler(handler());
        services.start().whenComplete((v, e) -> started("Service", e));
        slices.start().whenComplete((v, e) -> started("EndpointSlice", e));
        return this;
    }

    private void started(String kind, Throwable e) {
        if (e != null) {
            LOG.warnf("%s informer: %s", kind, e.getMessage());
        }
        schedule(0);
    }

    private <T> ResourceEventHandler<T> handler() {
        return new ResourceEventHandler<>() {
            public void onAdd(T o) {
                schedule(0);
            }

            public void onUpdate(T o, T n) {
                schedule(0);
            }

            public void onDelete(T o, boolean unknown) {
                schedule(0);
            }
        };
    }

    /** Another sync (the switch came back, the node changed): coalesced with a pending one. */
    public void schedule(long delayMs) {
        if (pending.compareAndSet(false, true)) {
            worker.schedule(this::sync, delayMs, TimeUnit.MILLISECONDS);
        }
    }

    private void sync() {
        pending.set(false);
        SharedIndexInformer<Service> s = services;
        SharedIndexInformer<EndpointSlice> e = slices;
        if (s == null || e == null || !s.hasSynced() || !e.hasSynced()) {
            return; // the informers' start completes and schedules again
        }
        try {
            var ports = ServiceModel.resolve(s.getStore().list(), e.getStore().list(), nodeName);
            feature.update(ports);
            nodePorts.accept(ServiceModel.nodePorts(ports));
        } catch (RuntimeException ex) {
            LOG.warnf("Services: %s (retrying)", ex.getMessage());
            schedule(1000);
        }
    }

    @Override
    public void close() {
        if (services != null) {
            services.stop();
        }
        if (slices != null) {
            slices.stop();
        }
        worker.shutdownNow();
    }
}
