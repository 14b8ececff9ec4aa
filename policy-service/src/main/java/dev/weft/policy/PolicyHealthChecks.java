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
    HealthCheck informersSynced(ClusterInformers informers) {
        return () -> {
            var response = HealthCheckResponse.named("informers-synced");
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
