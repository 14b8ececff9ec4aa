package dev.weft.agent.health;

import java.util.Comparator;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The units of work a loop has in flight, with when each began. A loop waiting for work has nothing in flight and is
 * healthy however long it waits; a loop stuck inside a unit (a blocked call, a deadlock, an endless compile) shows as
 * that unit growing old, which the {@link Watchdog} turns into liveness DOWN. Several units may be in flight at once
 * (CNI requests run on a pool).
 */
public final class LoopHeartbeat {

    /** One unit of work in flight. */
    public record InFlight(String what, long startNanos, String thread) {
    }

    private final String name;
    private final ConcurrentHashMap<Long, InFlight> inFlight = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();
    private final AtomicLong completed = new AtomicLong();

    public LoopHeartbeat(String name) {
        this.name = name;
    }

    public String name() {
        return name;
    }

    /** Marks a unit as started; close the returned handle when it ends, however it ends (try-with-resources). */
    public Unit begin(String what) {
        long id = ids.incrementAndGet();
        inFlight.put(id, new InFlight(what, System.nanoTime(), Thread.currentThread().getName()));
        return new Unit(id);
    }

    /** The unit in flight the longest, if any. */
    public Optional<InFlight> oldest() {
        return inFlight.values().stream().min(Comparator.comparingLong(InFlight::startNanos));
    }

    public int inFlightCount() {
        return inFlight.size();
    }

    public long completed() {
        return completed.get();
    }

    /** The handle of one started unit. */
    public final class Unit implements AutoCloseable {
        private final long id;

        private Unit(long id) {
            this.id = id;
        }

        @Override
        public void close() {
            if (inFlight.remove(id) != null) {
                completed.incrementAndGet();
            }
        }
    }
}
