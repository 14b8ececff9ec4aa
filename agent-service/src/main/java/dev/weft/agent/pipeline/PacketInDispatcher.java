package dev.weft.agent.pipeline;

import dev.weft.agent.openflow.PacketIn;
import org.jboss.logging.Logger;

import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The one home of packet-ins: a feature registers a handler for its cookie category ({@link Cookie.Category}); a
 * packet-in goes to the handler of the category of the cookie of the flow that sent it. The OpenFlow event loop only
 * queues packets (a bounded queue; overflow is counted and dropped): the handlers run on the dispatcher's own thread,
 * one packet at a time, so a slow handler can delay packet-ins but never the switch connection. Packet-ins no handler
 * claims are counted and dropped. Every flow that sends to the controller has a meter in front of its CONTROLLER
 * action ({@link Datapath#declareMeter}), so the rate arriving here is bounded by the switch.
 */
public final class PacketInDispatcher implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(PacketInDispatcher.class);
    static final int QUEUE = 1024;

    /** Handles the packet-ins of one cookie category, on the dispatcher's thread. */
    @FunctionalInterface
    public interface Handler {
        void handle(PacketIn packet);
    }

    private final Map<Cookie.Category, Handler> handlers = new ConcurrentHashMap<>();
    private final BlockingQueue<PacketIn> queue = new ArrayBlockingQueue<>(QUEUE);
    private final AtomicLong dispatched = new AtomicLong();
    private final AtomicLong unclaimed = new AtomicLong();
    private final AtomicLong overflowed = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final Thread thread;
    private volatile boolean closed;

    public PacketInDispatcher() {
        thread = new Thread(this::run, "packet-in");
        thread.setDaemon(true);
        thread.start();
    }

    /** Routes the packet-ins of flows with this cookie category to {@code handler}; one handler per category. */
    public void register(Cookie.Category category, Handler handler) {
        if (category == Cookie.Category.UNKNOWN) {
            throw new IllegalArgumentException("packet-ins of cookie category UNKNOWN cannot be claimed");
        }
        Handler prev = handlers.putIfAbsent(category, handler);
        if (prev != null && prev != handler) {
            throw new IllegalArgumentException("cookie category " + category + " already has a packet-in handler");
        }
    }

    public void unregister(Cookie.Category category) {
        handlers.remove(category);
    }

    /** Called on the OpenFlow event loop: queues the packet, never blocks. */
    public void accept(PacketIn packet) {
        if (!queue.offer(packet)) {
            overflowed.incrementAndGet();
        }
    }

    private void run() {
        while (!closed) {
            PacketIn p;
            try {
                p = queue.poll(1, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                return;
            }
            if (p == null) {
                continue;
            }
            Handler h = handlers.get(Cookie.categoryOf(p.cookie()));
            if (h == null) {
                unclaimed.incrementAndGet();
                continue;
            }
            try {
                h.handle(p);
                dispatched.incrementAndGet();
            } catch (RuntimeException e) {
                failed.incrementAndGet();
                LOG.warnf("packet-in handler for %s failed: %s", Cookie.categoryOf(p.cookie()), e.toString());
            }
        }
    }

    /** Packet-ins a handler took. */
    public long dispatched() {
        return dispatched.get();
    }

    /** Packet-ins whose cookie category has no handler (dropped). */
    public long unclaimed() {
        return unclaimed.get();
    }

    /** Packet-ins dropped because the queue was full. */
    public long overflowed() {
        return overflowed.get();
    }

    /** Packet-ins whose handler threw. */
    public long failed() {
        return failed.get();
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
