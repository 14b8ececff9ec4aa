package dev.weft.agent.ovsdb;

import dev.weft.agent.AgentConfig;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Disposes;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

import java.time.Duration;

/**
 * Makes the agent's one {@link OvsdbClient} (on {@code agent.ovsdb-socket}) a CDI bean. It connects lazily, so the
 * agent starts (and reports not-ready through its health check) while Open vSwitch is still coming up.
 */
@ApplicationScoped
public class OvsdbClientProducer {

    @Produces
    @Singleton
    OvsdbClient ovsdbClient(AgentConfig config) {
        return new OvsdbClient(config.resolvedOvsdbSocket(), Duration.ofSeconds(10));
    }

    void close(@Disposes OvsdbClient client) {
        client.close();
    }
}
