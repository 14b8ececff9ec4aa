package dev.weft.agent.host;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Readiness;

/**
 * {@code node-network}: ready when the node's host side is in place (bridge, tunnel, forwarding, gateway address,
 * routes to peers, SNAT); otherwise says which aspect is not and why, e.g. a bridge of the wrong datapath type or a
 * missing {@code nft}.
 */
@Readiness
@ApplicationScoped
public class NodeNetworkReadiness implements HealthCheck {

    @Inject
    NodeHostNetwork host;

    @Override
    public HealthCheckResponse call() {
        String why = host.notReadyReason();
        HealthCheckResponseBuilder r = HealthCheckResponse.named("node-network").status(why == null)
                .withData("status", why == null ? "ready" : why);
        host.status().forEach(r::withData);
        return r.build();
    }
}
