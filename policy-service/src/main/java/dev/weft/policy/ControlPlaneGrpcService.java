package dev.weft.policy;

import dev.weft.policy.core.PolicyEngine;
import dev.weft.policy.status.Leadership;
import dev.weft.policy.status.RealizationTracker;
import dev.weft.policy.status.ReportForwarder;
import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.GetPolicyStatusRequest;
import dev.weft.proto.controlplane.v1.NodeRealizationReport;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyStatusList;
import dev.weft.proto.controlplane.v1.ReportStatusResponse;
import dev.weft.proto.controlplane.v1.WatchPoliciesRequest;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import org.jboss.logging.Logger;

import java.util.Comparator;

/**
 * The control-plane API for agents. Implemented on the grpc-java observer API rather than Mutiny because the
 * per-node stream needs the transport's readiness (isReady / on-ready) to bound what a slow agent costs.
 */
@GrpcService
public class ControlPlaneGrpcService extends ControlPlaneGrpc.ControlPlaneImplBase {

    private static final Logger LOG = Logger.getLogger(ControlPlaneGrpcService.class);

    private final PolicyComputation computation;
    private final RealizationTracker tracker;
    private final ClusterInformers informers;
    private final PolicyConfig config;
    private final Leadership leadership;
    private final ReportForwarder forwarder;
    private final PolicyMetrics metrics;
    private final dev.weft.policy.status.StatusPublisher publisher;
    private final dev.weft.policy.info.ControllerInfoPublisher controllerInfo;

    ControlPlaneGrpcService(PolicyComputation computation, RealizationTracker tracker, ClusterInformers informers,
                            PolicyConfig config, Leadership leadership, ReportForwarder forwarder,
                            PolicyMetrics metrics, dev.weft.policy.status.StatusPublisher publisher,
                            dev.weft.policy.info.ControllerInfoPublisher controllerInfo) {
        this.controllerInfo = controllerInfo;
        this.metrics = metrics;
        this.publisher = publisher;
        this.computation = computation;
        this.tracker = tracker;
        this.informers = informers;
        this.config = config;
        this.leadership = leadership;
        this.forwarder = forwarder;
    }

    @Override
    @Blocking
    public void watchPolicies(WatchPoliciesRequest request, StreamObserver<PolicyEvent> responseObserver) {
        if (request.getNodeName().isEmpty()) {
            responseObserver.onError(Status.INVALID_ARGUMENT.withDescription("node_name is required").asRuntimeException());
            return;
        }
        var observer = (ServerCallStreamObserver<PolicyEvent>) responseObserver;
        PolicyEngine engine = computation.engine();
        NodeStream stream = new NodeStream(request.getNodeName(), request.getAgentId(), observer,
                config.streamBufferSize(), metrics::overflow);
        observer.setOnReadyHandler(stream::drain);
        metrics.streamOpened(stream);
        // This replica speaks for the node's reports while the stream is open (closed by either side, once).
        forwarder.streamOpened(request.getNodeName());
        java.util.concurrent.atomic.AtomicBoolean ended = new java.util.concurrent.atomic.AtomicBoolean();
        Runnable streamEnded = () -> {
            if (ended.compareAndSet(false, true)) {
                metrics.streamClosed(stream);
                forwarder.streamClosed(request.getNodeName());
            }
        };
        observer.setOnCloseHandler(streamEnded);
        observer.setOnCancelHandler(() -> {
            stream.cancelled();
            engine.unsubscribe(stream);
            controllerInfo.wake();
            streamEnded.run();
            LOG.debugf("Policy stream of node %s (agent %s) ended", request.getNodeName(), request.getAgentId());
        });
        if (informers.hasSynced()) {
            engine.subscribe(stream);
            controllerInfo.wake();
            return;
        }
        // A snapshot from a partial view would make the agent delete what it must keep: wait for the first list.
        Thread.ofVirtual().name("wait-sync-" + request.getNodeName()).start(() -> {
            try {
                while (!informers.hasSynced() && !stream.closed()) {
                    Thread.sleep(100);
                }
                if (!stream.closed()) {
                    engine.subscribe(stream);
                    controllerInfo.wake();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    @Override
    @Blocking
    public void reportStatus(NodeRealizationReport request, StreamObserver<ReportStatusResponse> responseObserver) {
        if (request.getNodeName().isEmpty()) {
            responseObserver.onError(Status.INVALID_ARGUMENT.withDescription("node_name is required").asRuntimeException());
            return;
        }
        tracker.report(request);
        publisher.wake();
        controllerInfo.wake(); // an agent of another replica, first heard of here, counts as connected
        forwarder.received(request);
        responseObserver.onNext(ReportStatusResponse.getDefaultInstance());
        responseObserver.onCompleted();
    }

    @Override
    @Blocking
    public void getPolicyStatus(GetPolicyStatusRequest request, StreamObserver<PolicyStatusList> responseObserver) {
        // The leader holds every agent's report; a follower only its own agents'.
        var fromLeader = leadership.isLeader() ? java.util.Optional.<PolicyStatusList>empty() : forwarder.statusFromLeader(request);
        if (fromLeader.isPresent()) {
            responseObserver.onNext(fromLeader.get());
            responseObserver.onCompleted();
            return;
        }
        var spans = computation.engine().policySpans().stream()
                .filter(s -> request.getNamespace().isEmpty() || request.getNamespace().equals(s.namespace()))
                .filter(s -> request.getName().isEmpty() || request.getName().equals(s.name()))
                .sorted(Comparator.comparing(PolicyEngine.PolicySpan::namespace).thenComparing(PolicyEngine.PolicySpan::name))
                .toList();
        responseObserver.onNext(PolicyStatusList.newBuilder().addAllItems(tracker.statuses(spans)).build());
        responseObserver.onCompleted();
    }
}
