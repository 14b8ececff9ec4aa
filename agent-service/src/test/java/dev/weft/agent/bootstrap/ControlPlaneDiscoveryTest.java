package dev.weft.agent.bootstrap;

import dev.weft.proto.ipam.v1.GetNodeCidrsRequest;
import dev.weft.proto.ipam.v1.IpamGrpc;
import dev.weft.proto.ipam.v1.MutinyIpamGrpc;
import dev.weft.proto.ipam.v1.NodeAllocation;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * With {@code agent.control-plane-discovery=endpointslices} the agent's own gRPC client (configured as in the bundle,
 * host = SERVICE.NAMESPACE) reaches ipam-service at the address its EndpointSlice lists, through the API server.
 */
@QuarkusTest
@TestProfile(ControlPlaneDiscoveryTest.Discovery.class)
@WithKubernetesTestServer(crud = true)
class ControlPlaneDiscoveryTest {

    public static class Discovery implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("agent.control-plane-discovery", "endpointslices",
                    "quarkus.grpc.clients.ipam.host", "ipam-service.weft-system",
                    "quarkus.grpc.clients.ipam.port", "9091",
                    "quarkus.grpc.clients.controlplane.host", "policy-service.weft-system");
        }
    }

    @GrpcClient("ipam")
    MutinyIpamGrpc.MutinyIpamStub ipam;

    @Inject
    KubernetesClient kubernetes;

    @Test
    void theIpamClientFindsTheServiceThroughItsEndpointSlice() throws Exception {
        Server fakeIpam = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(new IpamGrpc.IpamImplBase() {
            @Override
            public void getNodeCidrs(GetNodeCidrsRequest request, StreamObserver<NodeAllocation> out) {
                out.onNext(NodeAllocation.newBuilder().setNodeName(request.getNodeName()).setNodeUid("found-by-endpointslice").build());
                out.onCompleted();
            }
        }).build().start();
        try {
            kubernetes.resource(EndpointSliceResolverTest.slice("ipam-service-abcde", "ipam-service", fakeIpam.getPort(),
                    List.of("127.0.0.1"), List.of())).create();
            NodeAllocation answer = ipam.withWaitForReady().getNodeCidrs(GetNodeCidrsRequest.newBuilder().setNodeName("test-node").build())
                    .await().atMost(Duration.ofSeconds(30));
            assertEquals("found-by-endpointslice", answer.getNodeUid());
        } finally {
            fakeIpam.shutdownNow();
        }
    }
}
