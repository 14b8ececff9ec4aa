package dev.weft.agent;

import dev.weft.proto.agent.v1.AgentInfo;
import dev.weft.proto.agent.v1.AgentQuery;
import dev.weft.proto.agent.v1.GetAgentInfoRequest;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Without Open vSwitch the agent is alive but not ready, and says why. */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
class AgentServiceTest {

    @GrpcClient("agent")
    AgentQuery agent;

    @Test
    void notReadyWithoutOvsdbButAnswersAgentInfo() {
        given().get("/q/health/live").then().statusCode(200);
        given().get("/q/health/ready").then().statusCode(503)
                .body("checks.find { it.name == 'ovsdb' }.data.error", org.hamcrest.Matchers.containsString("no OVSDB socket"));

        AgentInfo info = agent.getAgentInfo(GetAgentInfoRequest.getDefaultInstance()).await().atMost(Duration.ofSeconds(10));
        assertEquals("test-node", info.getNodeName());
        assertFalse(info.getOvsdbConnected());
        assertTrue(info.getRssBytes() > 0);
    }

    @org.eclipse.microprofile.config.inject.ConfigProperty(name = "agent.local-api-socket")
    java.nio.file.Path localApi;

    @Test
    void answersWeftctlOnItsRootOnlyUnixSocket() throws Exception {
        assertEquals(java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"),
                java.nio.file.Files.getPosixFilePermissions(localApi), "only root (the socket's owner) may connect");
        var group = new io.netty.channel.epoll.EpollEventLoopGroup(1);
        io.grpc.ManagedChannel ch = io.grpc.netty.NettyChannelBuilder
                .forAddress(new io.netty.channel.unix.DomainSocketAddress(localApi.toString()))
                .channelType(io.netty.channel.epoll.EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
        try {
            AgentInfo info = dev.weft.proto.agent.v1.AgentQueryGrpc.newBlockingStub(ch).withDeadlineAfter(10, java.util.concurrent.TimeUnit.SECONDS)
                    .getAgentInfo(GetAgentInfoRequest.getDefaultInstance());
            assertEquals("test-node", info.getNodeName());
        } finally {
            ch.shutdownNow().awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS);
            group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS);
        }
    }
}
