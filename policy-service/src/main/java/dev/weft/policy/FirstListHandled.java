package dev.weft.policy;

import java.util.Collection;
import java.util.HashSet;
import java.util.Set;

/**
 * Whether an informer's event handler has processed every object of the informer's first list. fabric8's
 * {@code hasSynced()} is true once the list is in the informer's store, while the handler's notifications are still
 * queued: with 100,000 pods the computation trails the store by tens of seconds, and a snapshot taken then lacks pods
 * that exist (an agent replacing its state with it would drop their rules). Keys are tracked only until caught up.
 */
final class FirstListHandled {

    /** Keys handled before the list was known (the handler can run ahead of the start future's callback). */
    private Set<String> handledEarly = new HashSet<>();
    /** Keys of the first list not handled yet; null until the list is known. */
    private Set<String> pending;
    private volatile boolean caughtUp;

    /** After the handler has computed an add, update or delete of the object with this store key. */
    void handled(String key) {
        if (caughtUp) {
            return;
        }
        synchronized (this) {
            if (pending == null) {
                handledEarly.add(key);
            } else if (pending.remove(key) && pending.isEmpty()) {
                done();
            }
        }
    }

    /** The store's keys once the first list is in it: each has a notification queued for the handler. */
    synchronized void listed(Collection<String> keys) {
        if (caughtUp || pending != null) {
            return;
        }
        pending = new HashSet<>(keys);
        pending.removeAll(handledEarly);
        if (pending.isEmpty()) {
            done();
        }
    }

    private void done() {
        pending = null;
        handledEarly = null;
        caughtUp = true;
    }

    boolean caughtUp() {
        return caughtUp;
    }

    /** Objects of the first list the handler has still to compute, -1 while the list is not known. */
    synchronized int remaining() {
        return caughtUp ? 0 : pending == null ? -1 : pending.size();
    }
}
