package dev.weft.policy;

import dev.weft.proto.controlplane.v1.ControlPlane;
import dev.weft.proto.controlplane.v1.GetPolicyStatusRequest;
import dev.weft.proto.controlplane.v1.NodeRealizationReport;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyStatusList;
import dev.weft.proto.controlplane.v1.ReportStatusResponse;
import dev.weft.proto.controlplane.v1.WatchPoliciesRequest;
import io.grpc.Status;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;

/** The per-node policy stream; owned by the policy issue. */
@GrpcService
public class ControlPlaneGrpcService implements ControlPlane {

    @Override
    public Multi<PolicyEvent> watchPolicies(WatchPoliciesRequest request) {
        return Multi.createFrom().failure(Status.UNIMPLEMENTED.withDescription("WatchPolicies").asRuntimeException());
    }

    @Override
    public Uni<ReportStatusResponse> reportStatus(NodeRealizationReport request) {
        return Uni.createFrom().failure(Status.UNIMPLEMENTED.withDescription("ReportStatus").asRuntimeException());
    }

    @Override
    public Uni<PolicyStatusList> getPolicyStatus(GetPolicyStatusRequest request) {
        return Uni.createFrom().failure(Status.UNIMPLEMENTED.withDescription("GetPolicyStatus").asRuntimeException());
    }
}
