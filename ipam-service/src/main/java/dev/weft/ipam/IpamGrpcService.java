package dev.weft.ipam;

import dev.weft.proto.ipam.v1.AllocationEvent;
import dev.weft.proto.ipam.v1.AllocationState;
import dev.weft.proto.ipam.v1.GetNodeCidrsRequest;
import dev.weft.proto.ipam.v1.GetPoolUtilizationRequest;
import dev.weft.proto.ipam.v1.IpFamily;
import dev.weft.proto.ipam.v1.Ipam;
import dev.weft.proto.ipam.v1.ListAllocationsRequest;
import dev.weft.proto.ipam.v1.ListAllocationsResponse;
import dev.weft.proto.ipam.v1.LookupIpRequest;
import dev.weft.proto.ipam.v1.LookupIpResponse;
import dev.weft.proto.ipam.v1.NodeAllocation;
import dev.weft.proto.ipam.v1.PodCidr;
import dev.weft.proto.ipam.v1.PoolUtilizationResponse;
import io.fabric8.kubernetes.api.model.Node;
import io.grpc.Status;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;

import java.util.Comparator;
import java.util.List;

/** gRPC face of the IPAM. Allocation and its queries come with the IPAM issue. */
@GrpcService
public class IpamGrpcService implements Ipam {

    private final NodeInformer nodes;

    IpamGrpcService(NodeInformer nodes) {
        this.nodes = nodes;
    }

    @Override
    public Uni<ListAllocationsResponse> listAllocations(ListAllocationsRequest request) {
        // What the Kubernetes API holds today, as Nodes carry it.
        List<NodeAllocation> all = nodes.nodes().stream()
                .sorted(Comparator.comparing(n -> n.getMetadata().getName()))
                .map(IpamGrpcService::fromNode)
                .toList();
        return Uni.createFrom().item(ListAllocationsResponse.newBuilder().addAllAllocations(all).build());
    }

    static NodeAllocation fromNode(Node node) {
        NodeAllocation.Builder b = NodeAllocation.newBuilder()
                .setNodeName(node.getMetadata().getName())
                .setNodeUid(node.getMetadata().getUid() == null ? "" : node.getMetadata().getUid());
        List<String> cidrs = node.getSpec() == null ? List.of() : node.getSpec().getPodCIDRs();
        for (String c : cidrs) {
            b.addCidrs(PodCidr.newBuilder().setCidr(c).setFamily(c.contains(":") ? IpFamily.IPV6 : IpFamily.IPV4));
        }
        return b.setState(cidrs.isEmpty() ? AllocationState.PENDING : AllocationState.ALLOCATED).build();
    }

    @Override
    public Uni<NodeAllocation> getNodeCidrs(GetNodeCidrsRequest request) {
        return Uni.createFrom().failure(Status.UNIMPLEMENTED.withDescription("GetNodeCidrs").asRuntimeException());
    }

    @Override
    public Uni<LookupIpResponse> lookupIp(LookupIpRequest request) {
        return Uni.createFrom().failure(Status.UNIMPLEMENTED.withDescription("LookupIp").asRuntimeException());
    }

    @Override
    public Uni<PoolUtilizationResponse> getPoolUtilization(GetPoolUtilizationRequest request) {
        return Uni.createFrom().failure(Status.UNIMPLEMENTED.withDescription("GetPoolUtilization").asRuntimeException());
    }

    @Override
    public Multi<AllocationEvent> watchAllocations(dev.weft.proto.ipam.v1.WatchAllocationsRequest request) {
        return Multi.createFrom().failure(Status.UNIMPLEMENTED.withDescription("WatchAllocations").asRuntimeException());
    }
}
