package dev.weft.agent.health;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.Liveness;

/** The agent's one {@link Watchdog} and its liveness check; the loops register themselves when they start. */
@ApplicationScoped
public class WatchdogBeans {

    @Produces
    @Singleton
    Watchdog watchdog() {
        return new Watchdog();
    }

    @Produces
    @Liveness
    HealthCheck loopsNotStuck(Watchdog watchdog) {
        return watchdog::check;
    }
}
