package dev.weft.agent.cni;

import dev.weft.proto.agent.v1.AgentInfo;
import dev.weft.proto.agent.v1.AgentQueryGrpc;
import dev.weft.proto.agent.v1.GetAgentInfoRequest;
import dev.weft.proto.agent.v1.Group;
import dev.weft.proto.agent.v1.GroupMember;
import dev.weft.proto.agent.v1.ListGroupsRequest;
import dev.weft.proto.agent.v1.ListGroupsResponse;
import dev.weft.proto.agent.v1.ListTablesRequest;
import dev.weft.proto.agent.v1.Table;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.weft.agent.policy.Events.addressGroupPatch;
import static dev.weft.agent.policy.Events.member;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The agent's query API that weftctl reads, on the running agent with real Open vSwitch and a controlplane stream:
 * the groups it received (and a patch to them), the pipeline's tables from the registered features' declarations,
 * and its build version.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@QuarkusTestResource(value = CniTestEnvironment.class, restrictToAnnotatedClass = true)
@QuarkusTestResource(value = ControlPlaneTestResource.class, restrictToAnnotatedClass = true)
class AgentQueryTest {

    @Inject
    CniAgent agent;

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    @ConfigProperty(name = "quarkus.application.version")
    String version;

    private ManagedChannel channel;
    private AgentQueryGrpc.AgentQueryBlockingStub stub;

    @BeforeEach
    void connect() {
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        stub = AgentQueryGrpc.newBlockingStub(channel);
    }

    @AfterEach
    void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private AgentQueryGrpc.AgentQueryBlockingStub call() {
        return stub.withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    private static List<String> members(ListGroupsResponse r, String group) {
        return r.getGroupsList().stream().filter(g -> g.getName().equals(group)).findFirst().orElseThrow()
                .getMembersList().stream().map(m -> m.getPod() + "=" + String.join(",", m.getIpsList())).toList();
    }

    @Test
    void groupsAsReceivedFromTheControlPlane() {
        await().atMost(Duration.ofSeconds(30)).until(() -> agent.notReadyReason() == null);
        await().atMost(Duration.ofSeconds(30)).until(() -> call().listAddressGroups(ListGroupsRequest.getDefaultInstance())
                .getGroupsCount() == 1);
        ListGroupsResponse ag = call().listAddressGroups(ListGroupsRequest.getDefaultInstance());
        assertEquals(List.of("default/nginx-1=10.244.7.5", "default/nginx-2=10.244.8.6"),
                members(ag, ControlPlaneTestResource.ADDRESS_GROUP));
        ListGroupsResponse atg = call().listAppliedToGroups(ListGroupsRequest.getDefaultInstance());
        assertEquals(List.of(ControlPlaneTestResource.APPLIED_TO_GROUP), atg.getGroupsList().stream().map(Group::getName).toList());
        assertEquals(List.of("default/nginx-1=10.244.7.5"), members(atg, ControlPlaneTestResource.APPLIED_TO_GROUP));

        // A patch from the controlplane shows at once: nginx-2 leaves the address group.
        ControlPlaneTestResource.controlPlane.push(addressGroupPatch(ControlPlaneTestResource.ADDRESS_GROUP, List.of(),
                List.of(member("default", "nginx-2", "10.244.8.6"))));
        await().atMost(Duration.ofSeconds(10)).until(() -> members(call().listAddressGroups(
                ListGroupsRequest.getDefaultInstance()), ControlPlaneTestResource.ADDRESS_GROUP).size() == 1);

        // One group by name; an unknown name is NOT_FOUND, not an empty list.
        assertEquals(1, call().listAppliedToGroups(ListGroupsRequest.newBuilder()
                .setName(ControlPlaneTestResource.APPLIED_TO_GROUP).build()).getGroupsCount());
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> call().listAddressGroups(
                ListGroupsRequest.newBuilder().setName("no-such-group").build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("no-such-group"), e.getStatus().getDescription());
        GroupMember first = ag.getGroups(0).getMembers(0);
        System.out.println("address group " + ag.getGroups(0).getName() + ": " + first.getPod() + " " + first.getIpsList());
    }

    @Test
    void tablesComeFromTheFeaturesAndTheVersionFromTheBuild() {
        await().atMost(Duration.ofSeconds(30)).until(() -> agent.notReadyReason() == null);
        List<Table> tables = call().listTables(ListTablesRequest.getDefaultInstance()).getTablesList();
        List<Integer> ids = tables.stream().map(Table::getId).toList();
        assertEquals(ids.stream().sorted().toList(), ids, "in pipeline order");
        Table ingress = tables.stream().filter(t -> t.getName().equals("IngressRule")).findFirst().orElseThrow();
        assertEquals(90, ingress.getId());
        assertTrue(ingress.getFeaturesList().contains("NetworkPolicy"), ingress.toString());
        Table classification = tables.getFirst();
        assertEquals("Classification", classification.getName());
        assertTrue(classification.getFlows() > 0, classification.toString());
        for (Table t : tables) {
            assertTrue(t.getFeaturesCount() > 0, "every table listed is declared by a feature: " + t);
            System.out.println("table " + t.getId() + " " + t.getName() + " " + t.getFeaturesList() + " flows=" + t.getFlows());
        }

        AgentInfo info = call().getAgentInfo(GetAgentInfoRequest.getDefaultInstance());
        assertEquals(version, info.getVersion());
        assertNotEquals("dev", info.getVersion());
    }
}
