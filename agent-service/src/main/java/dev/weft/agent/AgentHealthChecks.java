package dev.weft.agent;

import dev.weft.agent.ovsdb.OvsdbProbe;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

import java.time.Duration;

/** The agent is ready only when Open vSwitch answers: a CNI ADD before that would leave a pod unplugged. */
@ApplicationScoped
public class AgentHealthChecks {

    @Produces
    @Readiness
    HealthCheck ovsdbConnected(AgentConfig config) {
        return () -> {
            String problem = OvsdbProbe.check(config.resolvedOvsdbSocket(), Duration.ofSeconds(1));
            return HealthCheckResponse.named("ovsdb")
                    .status(problem == null)
                    .withData("socket", config.resolvedOvsdbSocket().toString())
                    .withData("error", problem == null ? "" : problem)
                    .build();
        };
    }
}
