package dev.weft.agent;

import dev.weft.agent.ovsdb.OvsdbProbe;
import dev.weft.agent.pipeline.DatapathService;
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

    /** The pipeline must be on the bridge: connected over OpenFlow and every flow installed (or replayed). */
    @Produces
    @Readiness
    HealthCheck openflowConnected(DatapathService datapath, AgentConfig config) {
        return () -> {
            var dp = datapath.datapath();
            return HealthCheckResponse.named("openflow")
                    .status(dp.isReady())
                    .withData("endpoint", config.resolvedOpenflowEndpoint())
                    .withData("status", dp.status())
                    .withData("round", dp.round())
                    .withData("flows", dp.flowCount())
                    .build();
        };
    }
}
