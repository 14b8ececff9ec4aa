package dev.weft.agent.health;

import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Liveness from the agent's loops: each watched {@link LoopHeartbeat} has a bound, and a unit in flight longer than its
 * bound means the loop is stuck. A restart is then the fix (the agent reconciles from OVS, its lease store and the API
 * after a restart), so liveness goes DOWN naming the loop and the unit; it is UP again as soon as the unit ends.
 */
public final class Watchdog {
    private static final Logger LOG = Logger.getLogger(Watchdog.class);

    /** A watched loop and how long one of its units may take. */
    private record Watched(LoopHeartbeat heartbeat, Duration bound) {
    }

    /** A unit in flight past its loop's bound. */
    public record Stall(String loop, String what, String thread, Duration age, Duration bound) {
        public String describe() {
            return what + " on " + thread + " in flight for " + age.toMillis() + " ms (bound " + bound.toMillis() + " ms)";
        }
    }

    private final List<Watched> watched = new CopyOnWriteArrayList<>();
    private volatile List<Stall> lastReported = List.of();

    public Watchdog watch(LoopHeartbeat heartbeat, Duration bound) {
        if (bound.isNegative() || bound.isZero()) {
            throw new IllegalArgumentException("watchdog bound of " + heartbeat.name() + " must be positive: " + bound);
        }
        watched.add(new Watched(heartbeat, bound));
        return this;
    }

    public void unwatch(LoopHeartbeat heartbeat) {
        watched.removeIf(w -> w.heartbeat() == heartbeat);
    }

    public List<Stall> stalls() {
        long now = System.nanoTime();
        List<Stall> out = new ArrayList<>();
        for (Watched w : watched) {
            w.heartbeat().oldest().ifPresent(u -> {
                Duration age = Duration.ofNanos(now - u.startNanos());
                if (age.compareTo(w.bound()) > 0) {
                    out.add(new Stall(w.heartbeat().name(), u.what(), u.thread(), age, w.bound()));
                }
            });
        }
        return out;
    }

    /** The liveness response: DOWN with one data entry per stalled loop, UP with each loop's in-flight count. */
    public HealthCheckResponse check() {
        List<Stall> stalls = stalls();
        HealthCheckResponseBuilder b = HealthCheckResponse.named("watchdog").status(stalls.isEmpty());
        for (Watched w : watched) {
            b.withData(w.heartbeat().name(), w.heartbeat().inFlightCount() + " in flight, " + w.heartbeat().completed()
                    + " done");
        }
        for (Stall s : stalls) {
            b.withData(s.loop(), "stuck: " + s.describe());
        }
        if (stalls.isEmpty() != lastReported.isEmpty()) {
            if (stalls.isEmpty()) {
                LOG.info("watchdog: no loop is stuck any more");
            } else {
                stalls.forEach(s -> LOG.errorf("watchdog: loop %s stuck: %s", s.loop(), s.describe()));
            }
        }
        lastReported = stalls;
        return b.build();
    }
}
