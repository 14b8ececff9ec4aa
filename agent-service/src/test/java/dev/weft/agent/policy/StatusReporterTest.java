package dev.weft.agent.policy;

import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.NodeRealizationReport;
import dev.weft.proto.controlplane.v1.PolicyRealization;
import dev.weft.proto.controlplane.v1.ReportStatusResponse;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reports over a real gRPC channel: never two in flight, never an older one after a newer one, failures retried. */
class StatusReporterTest {

    /** A policy-service whose answers are slow, and which refuses the first calls when asked to. */
    static final class SlowControlPlane extends ControlPlaneGrpc.ControlPlaneImplBase {
        final List<Long> received = new CopyOnWriteArrayList<>();
        final AtomicInteger inFlight = new AtomicInteger();
        final AtomicInteger maxInFlight = new AtomicInteger();
        final AtomicInteger failuresLeft = new AtomicInteger();
        final ScheduledExecutorService delay = Executors.newSingleThreadScheduledExecutor();

        @Override
        public void reportStatus(NodeRealizationReport request, StreamObserver<ReportStatusResponse> out) {
            maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            delay.schedule(() -> {
                inFlight.decrementAndGet();
                if (failuresLeft.getAndDecrement() > 0) {
                    out.onError(Status.UNAVAILABLE.withDescription("restarting").asRuntimeException());
                    return;
                }
                received.add(request.getPolicies(0).getGeneration());
                out.onNext(ReportStatusResponse.getDefaultInstance());
                out.onCompleted();
            }, 100, TimeUnit.MILLISECONDS);
        }
    }

    private static NodeRealizationReport report(long generation) {
        return NodeRealizationReport.newBuilder().setNodeName("n1")
                .addPolicies(PolicyRealization.newBuilder().setPolicyName("p").setGeneration(generation).setRealized(true))
                .build();
    }

    @Test
    void sendsOneAtATimeNewestLastAndRetriesFailures() throws Exception {
        SlowControlPlane cp = new SlowControlPlane();
        Server server = ServerBuilder.forPort(0).addService(cp).build().start();
        ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        try {
            StatusReporter reporter = new StatusReporter(ControlPlaneGrpc.newStub(ch), timer, 50, 60_000);
            for (long g = 1; g <= 20; g++) {
                reporter.submit(report(g));
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> !cp.received.isEmpty() && cp.received.getLast() == 20L);
            assertEquals(1, cp.maxInFlight.get(), "at most one report in flight");
            for (int i = 1; i < cp.received.size(); i++) {
                assertTrue(cp.received.get(i) > cp.received.get(i - 1), "reports arrive newest last: " + cp.received);
            }
            assertTrue(cp.received.size() < 20, "superseded reports are skipped: " + cp.received);

            // policy-service refuses twice (e.g. restarting): the newest report still arrives.
            cp.failuresLeft.set(2);
            reporter.submit(report(21));
            await().atMost(Duration.ofSeconds(10)).until(() -> cp.received.getLast() == 21L);
        } finally {
            timer.shutdownNow();
            ch.shutdownNow();
            server.shutdownNow();
            cp.delay.shutdownNow();
        }
    }
}
