package dev.weft.agent.cni;

import dev.weft.agent.policy.FakeControlPlane;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyType;
import dev.weft.proto.controlplane.v1.Protocol;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static dev.weft.agent.policy.Events.*;

/**
 * A controlplane gRPC server on loopback for the agent under test, replaying a fixed snapshot: the Antrea walkthrough's
 * nginx-allow (applied to nginx, ingress TCP 80 from the nginx pods) as policy-service would send it to node
 * test-node.
 */
public class ControlPlaneTestResource implements QuarkusTestResourceLifecycleManager {

    public static final String ADDRESS_GROUP = "ag-nginx";
    public static final String APPLIED_TO_GROUP = "atg-nginx";
    public static FakeControlPlane controlPlane;
    private Server server;

    @Override
    public Map<String, String> start() {
        controlPlane = new FakeControlPlane();
        controlPlane.snapshot = List.of(
                addressGroup(ADDRESS_GROUP, member("default", "nginx-1", "10.244.7.5"), member("default", "nginx-2", "10.244.8.6")),
                appliedToGroup(APPLIED_TO_GROUP, member("default", "nginx-1", "10.244.7.5")),
                policy(PolicyEvent.Type.ADDED, policy("uid-nginx-allow", "default", "nginx-allow", 1, List.of(APPLIED_TO_GROUP),
                        List.of(PolicyType.INGRESS), ingressFrom(0, List.of(ADDRESS_GROUP), List.of(), port(Protocol.TCP, 80)))));
        try {
            server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(controlPlane).build().start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // In test mode the gRPC client dials its test-port, not its port.
        return Map.of("quarkus.grpc.clients.controlplane.host", "127.0.0.1",
                "quarkus.grpc.clients.controlplane.test-port", Integer.toString(server.getPort()));
    }

    @Override
    public void stop() {
        if (server != null) {
            try {
                server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
