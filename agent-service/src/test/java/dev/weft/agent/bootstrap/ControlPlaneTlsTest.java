package dev.weft.agent.bootstrap;

import dev.weft.proto.ipam.v1.GetNodeCidrsRequest;
import dev.weft.proto.ipam.v1.IpamGrpc;
import dev.weft.proto.ipam.v1.MutinyIpamGrpc;
import dev.weft.proto.ipam.v1.NodeAllocation;
import dev.weft.security.tls.CertificateAuthority;
import dev.weft.security.tls.ServingCertificate;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.Server;
import io.grpc.netty.GrpcSslContexts;
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
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The agent's ipam channel as deployed: found through the EndpointSlice (an IP), TLS verified against the CA bundle
 * ConfigMap under the Service's DNS name. A bundle with another CA is refused; once the ConfigMap holds the right CA
 * the same channel connects, without an agent restart.
 */
@QuarkusTest
@TestProfile(ControlPlaneTlsTest.Tls.class)
@WithKubernetesTestServer(crud = true)
class ControlPlaneTlsTest {

    public static class Tls implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("agent.control-plane-discovery", "endpointslices",
                    "agent.control-plane-tls.enabled", "true",
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
    void verifiesTheServerAgainstTheBundleAndFollowsTheConfigMap() throws Exception {
        CertificateAuthority ca = CertificateAuthority.create("weft-control-plane-ca", Duration.ofDays(1), Instant.now());
        CertificateAuthority stranger = CertificateAuthority.create("stranger", Duration.ofDays(1), Instant.now());
        ServingCertificate cert = ca.issue(List.of("ipam-service.weft-system.svc"), Duration.ofHours(1), Instant.now());
        publish(stranger);
        Server tlsIpam = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .sslContext(GrpcSslContexts.configure(io.netty.handler.ssl.SslContextBuilder.forServer(cert.key(),
                        cert.chain().toArray(X509Certificate[]::new))).build())
                .addService(new IpamGrpc.IpamImplBase() {
                    @Override
                    public void getNodeCidrs(GetNodeCidrsRequest request, StreamObserver<NodeAllocation> out) {
                        out.onNext(NodeAllocation.newBuilder().setNodeName(request.getNodeName()).setNodeUid("tls").build());
                        out.onCompleted();
                    }
                }).build().start();
        try {
            kubernetes.resource(EndpointSliceResolverTest.slice("ipam-service-tls", "ipam-service", tlsIpam.getPort(),
                    List.of("127.0.0.1"), List.of())).create();
            GetNodeCidrsRequest request = GetNodeCidrsRequest.newBuilder().setNodeName("test-node").build();
            // The endpoint is found first; then the handshake fails on the stranger's bundle, with its source named.
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                Throwable refused = null;
                try {
                    ipam.getNodeCidrs(request).await().atMost(Duration.ofSeconds(5));
                } catch (RuntimeException e) {
                    refused = e;
                }
                String causes = causes(refused);
                org.junit.jupiter.api.Assertions.assertTrue(
                        causes.contains("not trusted by the CA bundle from ConfigMap weft-system/weft-ca"), causes);
            });

            publish(ca);
            // The informer delivers the new bundle; the channel's next handshake (after its reconnect backoff) uses it.
            await().atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() -> assertEquals("tls",
                    ipam.withWaitForReady().getNodeCidrs(request).await().atMost(Duration.ofSeconds(5)).getNodeUid()));
        } finally {
            tlsIpam.shutdownNow();
        }
    }

    private void publish(CertificateAuthority ca) {
        kubernetes.resource(new ConfigMapBuilder().withNewMetadata().withName("weft-ca").withNamespace("weft-system")
                .endMetadata().withData(Map.of("ca.crt", ca.certificatePem())).build()).createOr(existing -> existing.update());
    }

    private static String causes(Throwable t) {
        StringBuilder out = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            out.append(c).append(" <- ");
        }
        return out.toString();
    }
}
