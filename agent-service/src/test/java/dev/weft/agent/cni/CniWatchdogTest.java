package dev.weft.agent.cni;

import dev.weft.proto.cni.v1.CniResponse;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.startsWith;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The watchdog on the CNI request path, with a real fault: ovsdb-server is stopped (SIGSTOP) while a CNI ADD needs
 * it, so the ADD hangs in its OVSDB transaction. Liveness turns DOWN naming the loop and the request; once
 * ovsdb-server continues (SIGCONT) the ADD completes and liveness is UP again.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@QuarkusTestResource(value = CniTestEnvironment.class, restrictToAnnotatedClass = true)
@TestProfile(CniWatchdogTest.ShortBound.class)
class CniWatchdogTest {

    public static class ShortBound implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("agent.watchdog.cni-request-bound", "500ms");
        }
    }

    @Inject
    CniAgent agent;

    private static void signal(String signal, long pid) throws Exception {
        PodNetns.run("kill", "-" + signal, Long.toString(pid));
    }

    @Test
    void aHungCniAddTurnsLivenessDownUntilItCompletes() throws Exception {
        await().atMost(Duration.ofSeconds(30)).until(() -> agent.notReadyReason() == null);
        given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
        long ovsdbPid = Long.parseLong(Files.readString(CniTestEnvironment.ovs.dir.resolve("ovsdb-server.pid")).trim());
        try (CniClient client = new CniClient(CniTestEnvironment.dir.resolve("cni.sock"));
             PodNetns pod = new PodNetns()) {
            signal("STOP", ovsdbPid);
            CompletableFuture<CniResponse> add;
            try {
                add = CompletableFuture.supplyAsync(() -> client.add(
                        CniClient.request("ctr-hung", pod.path(), "eth0", "default", "hung-1", CniClient.CONFIG)));
                await().atMost(Duration.ofSeconds(8)).untilAsserted(() -> given().get("/q/health/live").then()
                        .statusCode(503)
                        .body("checks.find { it.name == 'watchdog' }.data.cni-requests", startsWith("stuck: ADD ctr-hung/eth0")));
            } finally {
                signal("CONT", ovsdbPid);
            }
            CniResponse response = add.get(30, TimeUnit.SECONDS);
            assertTrue(response.hasResult(), response.toString());
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                    given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP")));
            assertTrue(client.del(CniClient.request("ctr-hung", pod.path(), "eth0", "default", "hung-1",
                    CniClient.CONFIG)).hasResult());
        }
    }
}
