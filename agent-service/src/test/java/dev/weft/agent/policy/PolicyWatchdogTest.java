package dev.weft.agent.policy;

import dev.weft.agent.health.Watchdog;
import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.NetnsPod;
import dev.weft.agent.testing.OvsSandbox;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyType;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static dev.weft.agent.policy.Events.*;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The watchdog on the policy stream consumer, with a real policy stream and real Open vSwitch: a batch whose handler
 * blocks (the on-synced hook, armed by the test) turns the agent's liveness DOWN naming the loop and the batch; when
 * the handler continues, liveness is UP again and the controller goes on applying events.
 */
class PolicyWatchdogTest {

    @Test
    void aStuckPolicyBatchTurnsLivenessDownUntilItContinues() throws Exception {
        FakeControlPlane cp = new FakeControlPlane();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(cp).build().start();
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        try (OvsSandbox ovs = OvsSandbox.start();
             NetnsPod web = NetnsPod.create(ovs, "10.252.11.6/24", null, 6)) {
            Datapath dp = PolicyOvsTest.datapath(ovs);
            PolicyController pc = new PolicyController("n1", channel, dp);
            Watchdog watchdog = new Watchdog().watch(pc.heartbeat(), Duration.ofMillis(300));
            AtomicBoolean armed = new AtomicBoolean();
            CountDownLatch release = new CountDownLatch(1);
            pc.onSynced(() -> {
                if (armed.getAndSet(false)) {
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            try {
                await().atMost(Duration.ofSeconds(20)).until(dp::isReady);
                dp.nodeNetworkReady(new NodeNetwork("n1", List.of("10.252.11.0/24"), List.of("10.252.11.1"), null, "gw0", 0, ""));
                dp.podAdded(web.asInterface("default", "web-1"));
                cp.snapshot = List.of(appliedToGroup("atg-web", member("default", "web-1", web.ip)),
                        policy(PolicyEvent.Type.ADDED, policy("uid-deny", "default", "deny", 1, List.of("atg-web"),
                                List.of(PolicyType.INGRESS))));
                pc.start();
                await().atMost(Duration.ofSeconds(20)).until(() -> pc.isSynced() && pc.realized());
                await().atMost(Duration.ofSeconds(5)).until(() -> pc.heartbeat().inFlightCount() == 0);
                assertEquals(HealthCheckResponse.Status.UP, watchdog.check().getStatus());

                // The next batch blocks in its handler.
                armed.set(true);
                cp.push(policy(PolicyEvent.Type.ADDED, policy("uid-deny-2", "default", "deny-2", 1, List.of("atg-web"),
                        List.of(PolicyType.INGRESS))));
                await().atMost(Duration.ofSeconds(20)).until(() -> watchdog.check().getStatus() == HealthCheckResponse.Status.DOWN);
                HealthCheckResponse down = watchdog.check();
                String detail = String.valueOf(down.getData().orElseThrow().get("policy-stream"));
                assertTrue(detail.startsWith("stuck: batch of 1 policy events on policy-worker"), detail);

                // It continues: liveness UP, and later events are applied as before.
                release.countDown();
                await().atMost(Duration.ofSeconds(20)).until(() -> watchdog.check().getStatus() == HealthCheckResponse.Status.UP);
                cp.push(deleted(dev.weft.proto.controlplane.v1.ObjectKind.NETWORK_POLICY, "uid-deny"));
                await().atMost(Duration.ofSeconds(20)).until(() -> pc.views().keySet().equals(java.util.Set.of("uid-deny-2")));
                assertEquals(HealthCheckResponse.Status.UP, watchdog.check().getStatus());
            } finally {
                release.countDown();
                pc.close();
                dp.close();
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
