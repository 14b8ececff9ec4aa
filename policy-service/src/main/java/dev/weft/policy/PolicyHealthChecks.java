package dev.weft.policy;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;

@ApplicationScoped
public class PolicyHealthChecks {

    @Produces
    @Readiness
    HealthCheck informersSynced(ClusterInformers informers, dev.weft.policy.status.Leadership leadership) {
        return () -> {
            // Followers are as ready as the leader: every replica serves agent streams.
            var response = HealthCheckResponse.named("informers-synced")
                    .withData("leader", leadership.isLeader())
                    .withData("currentLeader", leadership.holder());
            if (!informers.hasSynced()) {
                response.withData("reason", informers.notSyncedReason());
            }
            return response.status(informers.hasSynced()).build();
        };
    }

    @Produces
    @Liveness
    HealthCheck informersRunning(ClusterInformers informers) {
        return () -> {
            var stopped = informers.stopped();
            return HealthCheckResponse.named("informers-running")
                    .status(stopped.isEmpty())
                    .withData("stopped", String.join(",", stopped))
                    .build();
        };
    }
}
