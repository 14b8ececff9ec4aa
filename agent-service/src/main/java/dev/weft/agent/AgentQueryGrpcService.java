package dev.weft.agent;

import dev.weft.agent.ovsdb.OvsdbProbe;
import dev.weft.proto.agent.v1.AgentInfo;
import dev.weft.proto.agent.v1.AgentQuery;
import dev.weft.proto.agent.v1.DumpFlowsRequest;
import dev.weft.proto.agent.v1.DumpFlowsResponse;
import dev.weft.proto.agent.v1.GetAgentInfoRequest;
import dev.weft.proto.agent.v1.ListNetworkPoliciesRequest;
import dev.weft.proto.agent.v1.ListNetworkPoliciesResponse;
import dev.weft.proto.agent.v1.ListPodInterfacesRequest;
import dev.weft.proto.agent.v1.ListPodInterfacesResponse;
import dev.weft.proto.agent.v1.ListTablesRequest;
import dev.weft.proto.agent.v1.ListTablesResponse;
import io.grpc.Status;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import io.smallrye.mutiny.Uni;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/** The agent's local query API (used by weftctl). Flows, pods and policies are filled in by their features. */
@GrpcService
public class AgentQueryGrpcService implements AgentQuery {

    private final AgentConfig config;

    AgentQueryGrpcService(AgentConfig config) {
        this.config = config;
    }

    @Override
    @Blocking
    public Uni<AgentInfo> getAgentInfo(GetAgentInfoRequest request) {
        AgentInfo info = AgentInfo.newBuilder()
                .setNodeName(config.resolvedNodeName())
                .setVersion(AgentQueryGrpcService.class.getPackage().getImplementationVersion() == null
                        ? "dev" : AgentQueryGrpcService.class.getPackage().getImplementationVersion())
                .setBridge(config.bridge())
                .setOvsdbConnected(OvsdbProbe.check(config.resolvedOvsdbSocket(), Duration.ofMillis(500)) == null)
                .setRssBytes(residentSetBytes())
                .setUptimeSeconds(ManagementFactory.getRuntimeMXBean().getUptime() / 1000)
                .build();
        return Uni.createFrom().item(info);
    }

    /** VmRSS from /proc: what the node pays for this agent (heap figures hide metaspace, code cache, direct buffers). */
    static long residentSetBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // not Linux: unknown
        }
        return 0;
    }

    @Override
    public Uni<ListTablesResponse> listTables(ListTablesRequest request) {
        return unimplemented("ListTables");
    }

    @Override
    public Uni<DumpFlowsResponse> dumpFlows(DumpFlowsRequest request) {
        return unimplemented("DumpFlows");
    }

    @Override
    public Uni<ListPodInterfacesResponse> listPodInterfaces(ListPodInterfacesRequest request) {
        return unimplemented("ListPodInterfaces");
    }

    @Override
    public Uni<ListNetworkPoliciesResponse> listNetworkPolicies(ListNetworkPoliciesRequest request) {
        return unimplemented("ListNetworkPolicies");
    }

    private static <T> Uni<T> unimplemented(String rpc) {
        return Uni.createFrom().failure(Status.UNIMPLEMENTED.withDescription(rpc).asRuntimeException());
    }
}
