package dev.weft.agent.policy;

import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.NodeRealizationReport;
import dev.weft.proto.controlplane.v1.ReportStatusResponse;
import io.grpc.stub.StreamObserver;
import org.jboss.logging.Logger;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Sends realization reports to policy-service one at a time, always the newest.
 *
 * <p>Each report is the node's full status, so only the latest matters. Firing one RPC per change let an older report
 * overtake a newer one on the wire and leave the service at "0/1 realized" while the flows were in place. Here at most one
 * RPC is in flight; a report submitted meanwhile replaces any pending one and is sent when the current RPC ends; a failed
 * RPC is retried; and the latest report is re-sent periodically, so a policy-service restart or a lost report heals.
 */
final class StatusReporter {

    private static final Logger LOG = Logger.getLogger(StatusReporter.class);

    private final ControlPlaneGrpc.ControlPlaneStub stub;
    private final ScheduledExecutorService timer;
    private final long retryMillis;

    private NodeRealizationReport latest;
    private boolean pending;
    private boolean inFlight;

    StatusReporter(ControlPlaneGrpc.ControlPlaneStub stub, ScheduledExecutorService timer, long retryMillis, long refreshMillis) {
        this.stub = stub;
        this.timer = timer;
        this.retryMillis = retryMillis;
        timer.scheduleWithFixedDelay(this::refresh, refreshMillis, refreshMillis, TimeUnit.MILLISECONDS);
    }

    /** Queues the node's current status; it supersedes every report not yet sent. */
    synchronized void submit(NodeRealizationReport report) {
        latest = report;
        pending = true;
        sendNextLocked();
    }

    private synchronized void refresh() {
        if (latest != null) {
            pending = true;
            sendNextLocked();
        }
    }

    private void sendNextLocked() {
        if (inFlight || !pending || latest == null) {
            return;
        }
        pending = false;
        inFlight = true;
        NodeRealizationReport report = latest;
        try {
            stub.withDeadlineAfter(10, TimeUnit.SECONDS).reportStatus(report, new StreamObserver<>() {
                @Override
                public void onNext(ReportStatusResponse value) {
                }

                @Override
                public void onError(Throwable t) {
                    LOG.debugf("ReportStatus failed, retrying: %s", t.getMessage());
                    done(true);
                }

                @Override
                public void onCompleted() {
                    done(false);
                }
            });
        } catch (RuntimeException e) {
            LOG.debugf("ReportStatus not sent: %s", e.getMessage());
            inFlight = false;
            pending = true;
            retryLater();
        }
    }

    private synchronized void done(boolean failed) {
        inFlight = false;
        if (failed) {
            pending = true;
            retryLater();
        } else {
            sendNextLocked();
        }
    }

    private void retryLater() {
        try {
            timer.schedule(() -> {
                synchronized (StatusReporter.this) {
                    sendNextLocked();
                }
            }, retryMillis, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // closing
        }
    }
}
