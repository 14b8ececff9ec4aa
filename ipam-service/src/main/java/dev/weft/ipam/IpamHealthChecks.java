package dev.weft.ipam;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;

/** Ready once the Node cache is synced (before that, allocations could be handed out twice). */
@ApplicationScoped
public class IpamHealthChecks {

    @Produces
    @Readiness
    HealthCheck nodeCacheSynced(NodeInformer nodes) {
        return () -> HealthCheckResponse.named("node-informer-synced")
                .status(nodes.hasSynced())
                .withData("nodes", nodes.nodes().size())
                .build();
    }

    @Produces
    @Liveness
    HealthCheck nodeInformerRunning(NodeInformer nodes) {
        // A stopped informer never recovers by itself: restarting the process is the fix.
        return () -> HealthCheckResponse.named("node-informer-running")
                .status(nodes.informer() == null || nodes.isRunning())
                .build();
    }
}
