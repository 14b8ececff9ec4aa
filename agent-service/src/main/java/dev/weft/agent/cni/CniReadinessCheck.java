package dev.weft.agent.cni;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/** Ready when the node network is up (CIDR known, gateway on the bridge, leases reconciled, conflist installed). */
@Readiness
@ApplicationScoped
public class CniReadinessCheck implements HealthCheck {

    @Inject
    CniAgent agent;

    @Override
    public HealthCheckResponse call() {
        String why = agent.notReadyReason();
        return HealthCheckResponse.named("cni-node-network").status(why == null)
                .withData("status", why == null ? "ready" : why).build();
    }
}
