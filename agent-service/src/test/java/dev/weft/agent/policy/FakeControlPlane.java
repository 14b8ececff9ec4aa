package dev.weft.agent.policy;

import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.NodeRealizationReport;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.ReportStatusResponse;
import dev.weft.proto.controlplane.v1.WatchPoliciesRequest;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static dev.weft.agent.policy.Events.syncComplete;

/** A controlplane server that replays a scripted snapshot to each stream and can push later events. */
public final class FakeControlPlane extends ControlPlaneGrpc.ControlPlaneImplBase {
    public volatile List<PolicyEvent> snapshot = List.of();
    public final List<StreamObserver<PolicyEvent>> streams = new CopyOnWriteArrayList<>();
    public final List<NodeRealizationReport> reports = new CopyOnWriteArrayList<>();

    @Override
    public void watchPolicies(WatchPoliciesRequest request, StreamObserver<PolicyEvent> out) {
        long seq = 0;
        for (PolicyEvent e : snapshot) {
            out.onNext(e.toBuilder().setSequence(++seq).build());
        }
        out.onNext(syncComplete());
        ((ServerCallStreamObserver<PolicyEvent>) out).setOnCancelHandler(() -> streams.remove(out));
        streams.add(out);
    }

    @Override
    public void reportStatus(NodeRealizationReport request, StreamObserver<ReportStatusResponse> out) {
        reports.add(request);
        out.onNext(ReportStatusResponse.getDefaultInstance());
        out.onCompleted();
    }

    public void push(PolicyEvent e) {
        streams.forEach(s -> s.onNext(e));
    }

    /** As policy-service does for a slow agent: the agent must reconnect and take a fresh snapshot. */
    public void dropStreams() {
        streams.forEach(s -> s.onError(Status.RESOURCE_EXHAUSTED.withDescription("agent too slow").asRuntimeException()));
        streams.clear();
    }
}
