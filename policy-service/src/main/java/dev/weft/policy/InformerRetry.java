package dev.weft.policy;

import io.fabric8.kubernetes.client.WatcherException;
import io.fabric8.kubernetes.client.informers.ExceptionHandler;
import org.jboss.logging.Logger;

/**
 * Keeps an informer trying while the Kubernetes API is unreachable, also before its first list (fabric8's default
 * handler gives up on a failed first list, which left the service up but blind for good), and remembers the last
 * failure so that readiness can say why it is DOWN. A watch event that cannot be decoded still stops the informer:
 * that is a bug, not an outage, and liveness reports it.
 */
public final class InformerRetry implements ExceptionHandler {
    private static final Logger LOG = Logger.getLogger(InformerRetry.class);

    private final String what;
    private volatile String lastFailure = "";
    private volatile boolean loggedOutage;

    InformerRetry(String what) {
        this.what = what;
    }

    @Override
    public boolean retryAfterException(boolean isStarted, Throwable t) {
        lastFailure = describe(t);
        if (t instanceof WatcherException && isStarted) {
            return false;
        }
        if (!loggedOutage) {
            loggedOutage = true;
            LOG.warnf("%s: Kubernetes API unreachable (%s); retrying", what, lastFailure);
        }
        return true;
    }

    /** Empty once the informer has listed since the last failure. */
    String lastFailure() {
        return lastFailure;
    }

    void connected() {
        if (loggedOutage) {
            LOG.infof("%s: Kubernetes API reachable again", what);
        }
        loggedOutage = false;
        lastFailure = "";
    }

    static String describe(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String top = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        return root == t || root.getMessage() == null ? top : top + ": " + root.getMessage();
    }
}
