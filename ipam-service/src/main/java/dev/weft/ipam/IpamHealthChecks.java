package dev.weft.ipam;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;

/**
 * Ready once the Node cache is synced (before that, queries would answer from a partial view; the reason says why not,
 * e.g. the API server is unreachable). Liveness stays UP while the API is away: the informer keeps trying, restarting the
 * process would not bring the API back. An exhausted pool or
 * not being the leader is no health problem: a follower answers queries, and an exhausted pool is reported on the
 * Nodes concerned.
 */
@ApplicationScoped
public class IpamHealthChecks {

    @Produces
    @Readiness
    HealthCheck nodeCacheSynced(NodeInformer nodes, IpamLifecycle lifecycle, NodeCidrAllocator allocator) {
        return () -> {
            PodCidrController c = lifecycle.controller();
            var response = HealthCheckResponse.named("node-informer-synced");
            if (!nodes.hasSynced()) {
                response.withData("reason", nodes.notSyncedReason());
            }
            return response
                    .status(nodes.hasSynced())
                    .withData("nodes", nodes.nodes().size())
                    .withData("allocations", allocator.size())
                    .withData("leader", c != null && c.isLeader())
                    .withData("currentLeader", c == null ? "" : c.currentLeader())
                    .build();
        };
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
