package dev.weft.ipam;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;
import dev.weft.proto.ipam.v1.AllocationEvent;
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
import dev.weft.proto.ipam.v1.PoolUtilization;
import dev.weft.proto.ipam.v1.PoolUtilizationResponse;
import dev.weft.proto.ipam.v1.WatchAllocationsRequest;
import io.grpc.Status;
import io.quarkus.grpc.GrpcService;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.subscription.BackPressureFailure;
import io.smallrye.mutiny.subscription.BackPressureStrategy;

import java.util.List;

/**
 * gRPC face of the IPAM. Every answer comes from this replica's allocator, which its Node informer keeps current, so
 * followers answer as well as the leader.
 */
@GrpcService
public class IpamGrpcService implements Ipam {

    /** Events a watch may have waiting for its client (at least twice the snapshot). */
    static final int MIN_WATCH_BUFFER = 65_536;

    private final NodeCidrAllocator allocator;

    IpamGrpcService(NodeCidrAllocator allocator) {
        this.allocator = allocator;
    }

    @Override
    public Uni<NodeAllocation> getNodeCidrs(GetNodeCidrsRequest request) {
        String name = request.getNodeName().strip();
        if (name.isEmpty()) {
            return Uni.createFrom().failure(Status.INVALID_ARGUMENT.withDescription("node_name is required")
                    .asRuntimeException());
        }
        return allocator.get(name)
                .map(n -> Uni.createFrom().item(toProto(n, null)))
                .orElseGet(() -> Uni.createFrom().failure(Status.NOT_FOUND.withDescription("no Node named '" + name
                        + "' is known (" + allocator.size() + " Nodes known)").asRuntimeException()));
    }

    @Override
    public Uni<ListAllocationsResponse> listAllocations(ListAllocationsRequest request) {
        AddressFamily family = fromProto(request.getFamily());
        if (family == null && request.getFamilyValue() != 0) {
            return Uni.createFrom().failure(Status.INVALID_ARGUMENT.withDescription("unknown family "
                    + request.getFamilyValue()).asRuntimeException());
        }
        ListAllocationsResponse.Builder b;
        // Revision and list read together, under the allocator's lock.
        synchronized (allocator) {
            b = ListAllocationsResponse.newBuilder().setRevision(allocator.revision());
            for (NodeCidrAllocator.NodeCidrs n : allocator.list()) {
                if (family == null || n.cidrs().stream().anyMatch(c -> c.family() == family)) {
                    b.addAllocations(toProto(n, family));
                }
            }
        }
        return Uni.createFrom().item(b.build());
    }

    @Override
    public Uni<LookupIpResponse> lookupIp(LookupIpRequest request) {
        IpAddress ip;
        try {
            ip = IpAddress.parse(request.getIp().strip());
        } catch (IllegalArgumentException e) {
            return Uni.createFrom().failure(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
        }
        NodeCidrAllocator.Owner owner = allocator.lookup(ip);
        if (owner.node() == null) {
            String why = owner.pool() == null ? ip + " is in no cluster CIDR ("
                    + allocator.settings().pools().stream().map(p -> p.cidr().toString()).toList() + ")"
                    : ip + " is in pool " + owner.pool().cidr() + " but in no allocated block"
                    + (owner.reserved() ? " (its block is reserved)" : "");
            return Uni.createFrom().failure(Status.NOT_FOUND.withDescription(why).asRuntimeException());
        }
        return Uni.createFrom().item(LookupIpResponse.newBuilder()
                .setIp(ip.toString())
                .setNodeName(owner.node().nodeName())
                .setPodCidr(owner.podCidr().toString())
                .setPool(owner.pool() == null ? "" : owner.pool().cidr().toString())
                .setFamily(toProto(ip.family()))
                .build());
    }

    @Override
    public Uni<PoolUtilizationResponse> getPoolUtilization(GetPoolUtilizationRequest request) {
        PoolUtilizationResponse.Builder b = PoolUtilizationResponse.newBuilder();
        for (NodeCidrAllocator.PoolUsage u : allocator.utilization()) {
            b.addPools(PoolUtilization.newBuilder()
                    .setPoolCidr(u.pool().cidr().toString())
                    .setFamily(toProto(u.pool().family()))
                    .setNodeMaskSize(u.pool().blockPrefix())
                    .setTotalBlocks(u.totalBlocks())
                    .setAllocatedBlocks(u.allocatedBlocks())
                    .setReservedBlocks(u.reservedBlocks())
                    .setFreeBlocks(u.freeBlocks())
                    .setUtilization(u.utilization()));
        }
        return Uni.createFrom().item(b.build());
    }

    @Override
    public Multi<AllocationEvent> watchAllocations(WatchAllocationsRequest request) {
        String only = request.getNodeName().strip();
        int bufferSize = Math.max(MIN_WATCH_BUFFER, 2 * allocator.size() + 1024);
        return Multi.createFrom().<AllocationEvent>emitter(emitter -> {
            // Snapshot, SYNCED and registration happen under the allocator's lock: no change is lost or repeated.
            NodeCidrAllocator.Watch watch = allocator.watch(snapshot -> {
                long revision = allocator.revision();
                for (NodeCidrAllocator.NodeCidrs n : snapshot) {
                    if (only.isEmpty() || only.equals(n.nodeName())) {
                        emitter.emit(AllocationEvent.newBuilder().setType(AllocationEvent.Type.SNAPSHOT)
                                .setAllocation(toProto(n, null)).setRevision(revision).build());
                    }
                }
                emitter.emit(AllocationEvent.newBuilder().setType(AllocationEvent.Type.SYNCED).setRevision(revision).build());
            }, change -> {
                if (only.isEmpty() || only.equals(change.node().nodeName())) {
                    emitter.emit(AllocationEvent.newBuilder().setType(switch (change.type()) {
                        case ADDED -> AllocationEvent.Type.ADDED;
                        case MODIFIED -> AllocationEvent.Type.MODIFIED;
                        case DELETED -> AllocationEvent.Type.DELETED;
                    }).setAllocation(toProto(change.node(), null)).setRevision(change.revision()).build());
                }
            });
            emitter.onTermination(watch::close);
        }, BackPressureStrategy.ERROR)
                // A watcher that cannot keep up is cut off instead of buffering without bound; it watches again and
                // gets a fresh snapshot (as a Kubernetes client re-lists after "410 Gone").
                .onOverflow().buffer(bufferSize)
                .onFailure(BackPressureFailure.class).transform(e -> Status.RESOURCE_EXHAUSTED.withDescription(
                        "watcher too slow: more than " + bufferSize + " events waiting; watch again").asRuntimeException());
    }

    /** Proto form of one Node's allocation, optionally only the CIDRs of one family. */
    NodeAllocation toProto(NodeCidrAllocator.NodeCidrs n, AddressFamily family) {
        NodeAllocation.Builder b = NodeAllocation.newBuilder()
                .setNodeName(n.nodeName())
                .setNodeUid(n.nodeUid())
                .setState(n.state())
                .setMessage(n.message());
        List<IpPrefix> cidrs = n.cidrs();
        for (IpPrefix c : cidrs) {
            if (family == null || c.family() == family) {
                b.addCidrs(PodCidr.newBuilder().setCidr(c.toString()).setFamily(toProto(c.family()))
                        .setPool(allocator.poolOf(c).map(p -> p.cidr().toString()).orElse("")));
            }
        }
        return b.build();
    }

    static IpFamily toProto(AddressFamily family) {
        return family == AddressFamily.IPV4 ? IpFamily.IPV4 : IpFamily.IPV6;
    }

    /** null for IP_FAMILY_UNSPECIFIED (meaning: every family) and for values this build does not know. */
    static AddressFamily fromProto(IpFamily family) {
        return switch (family) {
            case IPV4 -> AddressFamily.IPV4;
            case IPV6 -> AddressFamily.IPV6;
            default -> null;
        };
    }
}
