package dev.weft.agent;

import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.node.PodInterfaceStore;
import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.FlowStats;
import dev.weft.agent.openflow.MatchEntry;
import dev.weft.agent.openflow.OfAction;
import dev.weft.agent.openflow.OfException;
import dev.weft.agent.openflow.OfField;
import dev.weft.agent.ovsdb.OvsdbClient;
import dev.weft.agent.ovsdb.OvsdbProbe;
import dev.weft.agent.pipeline.Cookie;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.DatapathService;
import dev.weft.agent.pipeline.PipelineFields;
import dev.weft.agent.pipeline.PipelineTable;
import dev.weft.agent.policy.PolicyAgent;
import dev.weft.agent.policy.PolicyCompiler;
import dev.weft.proto.agent.v1.AgentInfo;
import dev.weft.proto.agent.v1.AgentNetworkPolicy;
import dev.weft.proto.agent.v1.AgentQuery;
import dev.weft.proto.agent.v1.DumpFlowsRequest;
import dev.weft.proto.agent.v1.DumpFlowsResponse;
import dev.weft.proto.agent.v1.Flow;
import dev.weft.proto.agent.v1.GetAgentInfoRequest;
import dev.weft.proto.agent.v1.Group;
import dev.weft.proto.agent.v1.GroupMember;
import dev.weft.proto.agent.v1.ListGroupsRequest;
import dev.weft.proto.agent.v1.ListGroupsResponse;
import dev.weft.proto.agent.v1.ListNetworkPoliciesRequest;
import dev.weft.proto.agent.v1.ListNetworkPoliciesResponse;
import dev.weft.proto.agent.v1.ListPodInterfacesRequest;
import dev.weft.proto.agent.v1.ListPodInterfacesResponse;
import dev.weft.proto.agent.v1.ListTablesRequest;
import dev.weft.proto.agent.v1.ListTablesResponse;
import dev.weft.proto.agent.v1.Table;
import dev.weft.proto.agent.v1.TraceflowRequest;
import dev.weft.proto.agent.v1.TraceflowResponse;
import io.grpc.Status;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import io.smallrye.mutiny.Uni;
import jakarta.enterprise.inject.Instance;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;

/** The agent's local query API (used by weftctl): agent info, the pipeline's tables and flows, pods and policies. */
@GrpcService
public class AgentQueryGrpcService implements AgentQuery {

    private final AgentConfig config;
    private final DatapathService datapath;
    private final PolicyAgent policy;
    private final Instance<PodInterfaceStore> podStore;
    private final Instance<OvsdbClient> ovsdb;
    private final AgentState state;
    private final TraceflowService traceflow;

    AgentQueryGrpcService(AgentConfig config, DatapathService datapath, PolicyAgent policy,
                          Instance<PodInterfaceStore> podStore, Instance<OvsdbClient> ovsdb, AgentState state,
                          TraceflowService traceflow) {
        this.state = state;
        this.traceflow = traceflow;
        this.config = config;
        this.datapath = datapath;
        this.policy = policy;
        this.podStore = podStore;
        this.ovsdb = ovsdb;
    }

    @Override
    @Blocking
    public Uni<AgentInfo> getAgentInfo(GetAgentInfoRequest request) {
        return Uni.createFrom().item(state.info());
    }

    /**
     * The tables of this agent's pipeline, in order: every table a registered feature declares (weftctl's
     * {@code get ovsflows -h} lists them, so the CLI never carries its own copy), with the features that use it.
     */
    @Override
    @Blocking
    public Uni<ListTablesResponse> listTables(ListTablesRequest request) {
        Datapath dp = datapath.datapath();
        Map<Integer, Long> counts = dp.storedFlowsPerTable();
        java.util.TreeMap<Integer, List<String>> declaredBy = new java.util.TreeMap<>();
        for (var feature : dp.features()) {
            var d = feature.declaration();
            for (PipelineTable t : d.tables()) {
                declaredBy.computeIfAbsent(t.id, k -> new ArrayList<>()).add(d.name());
            }
        }
        ListTablesResponse.Builder r = ListTablesResponse.newBuilder();
        for (var e : declaredBy.entrySet()) {
            PipelineTable t = PipelineTable.byId(e.getKey()).orElseThrow();
            r.addTables(Table.newBuilder().setId(t.id).setName(t.displayName).setMissAction(t.missAction())
                    .setFlows(counts.getOrDefault(t.id, 0L).intValue()).addAllFeatures(e.getValue()));
        }
        return Uni.createFrom().item(r.build());
    }

    @Override
    @Blocking
    public Uni<DumpFlowsResponse> dumpFlows(DumpFlowsRequest request) {
        Datapath dp = datapath.datapath();
        int table = 0xff;
        Predicate<FlowMod> filter = f -> true;
        switch (request.getFilterCase()) {
            case TABLE -> {
                Optional<PipelineTable> t = PipelineTable.parse(request.getTable());
                if (t.isEmpty()) {
                    return Uni.createFrom().failure(Status.INVALID_ARGUMENT.withDescription("no table '" + request.getTable()
                            + "'; tables: " + PipelineTable.ordered().stream().map(x -> x.id + " " + x.displayName).toList())
                            .asRuntimeException());
                }
                table = t.get().id;
            }
            case POD -> {
                String key = request.getPod().getNamespace() + "/" + request.getPod().getName();
                var pod = dp.localPods().get(key);
                if (pod == null && podStore.isResolvable()) {
                    pod = podStore.get().byPod(request.getPod().getNamespace(), request.getPod().getName()).orElse(null);
                }
                if (pod == null) {
                    return notFound("no local pod " + key);
                }
                int port = pod.ofport();
                filter = f -> {
                    Cookie c = Cookie.of(f.cookie());
                    return (c.category() == Cookie.Category.POD && c.objectId() == port) || matches(f, OfField.IN_PORT, port)
                            || f.match().requires(PipelineFields.TARGET_OF_PORT_FIELD, port);
                };
            }
            case NETWORK_POLICY -> {
                PolicyCompiler.PolicyView v = findPolicy(request.getNetworkPolicy().getNamespace(),
                        request.getNetworkPolicy().getName());
                if (v == null) {
                    return notFound("no NetworkPolicy " + request.getNetworkPolicy().getNamespace() + "/"
                            + request.getNetworkPolicy().getName() + " on this node");
                }
                filter = f -> belongsTo(f, v);
            }
            default -> {
            }
        }
        List<FlowStats> stats;
        try {
            stats = request.getDesired() ? dp.desiredFlows(table) : dp.dumpFlows(table);
        } catch (OfException e) {
            return Uni.createFrom().failure(Status.UNAVAILABLE.withDescription(e.getMessage()).asRuntimeException());
        }
        DumpFlowsResponse.Builder r = DumpFlowsResponse.newBuilder();
        for (FlowStats s : stats) {
            FlowMod f = s.flow();
            if (!filter.test(f)) {
                continue;
            }
            String text = f.toString();
            int sp = text.indexOf(" actions=");
            String match = f.match().toString();
            r.addFlows(Flow.newBuilder().setTableId(f.table()).setTableName(PipelineTable.nameOf(f.table()))
                    .setCookie(f.cookie()).setPriority(f.priority()).setNPackets(s.packets()).setNBytes(s.bytes())
                    .setDurationSeconds(s.durationSeconds()).setMatch(match)
                    .setActions(sp < 0 ? "" : text.substring(sp + " actions=".length())));
        }
        return Uni.createFrom().item(r.build());
    }

    private static boolean matches(FlowMod f, OfField field, long value) {
        MatchEntry e = f.match().get(field);
        return e != null && !e.masked() && e.value() == value;
    }

    static boolean belongsTo(FlowMod f, PolicyCompiler.PolicyView v) {
        MatchEntry conj = f.match().get(OfField.CONJ_ID);
        if (conj != null && v.conjIds().contains(conj.value())) {
            return true;
        }
        for (OfAction a : f.actions()) {
            if (a instanceof OfAction.Conjunction c && v.conjIds().contains(c.id())) {
                return true;
            }
        }
        Cookie c = Cookie.of(f.cookie());
        return c.category() == Cookie.Category.POLICY_ISOLATION && v.isolatedPorts().contains((int) c.objectId());
    }

    private PolicyCompiler.PolicyView findPolicy(String namespace, String name) {
        for (PolicyCompiler.PolicyView v : policy.controller().views().values()) {
            if (v.sourceName().equals(name) && (namespace.isEmpty() || v.namespace().equals(namespace))) {
                return v;
            }
        }
        return null;
    }

    @Override
    @Blocking
    public Uni<ListPodInterfacesResponse> listPodInterfaces(ListPodInterfacesRequest request) {
        Collection<dev.weft.agent.node.PodInterface> pods = podStore.isResolvable()
                ? podStore.get().all() : datapath.datapath().localPods().values();
        List<dev.weft.agent.node.PodInterface> sorted = new ArrayList<>(pods);
        sorted.sort((a, b) -> a.key().compareTo(b.key()));
        ListPodInterfacesResponse.Builder r = ListPodInterfacesResponse.newBuilder();
        for (var p : sorted) {
            if (!request.getNamespace().isEmpty() && !request.getNamespace().equals(p.namespace())) {
                continue;
            }
            if (!request.getName().isEmpty() && !request.getName().equals(p.name())) {
                continue;
            }
            r.addInterfaces(dev.weft.proto.agent.v1.PodInterface.newBuilder().setNamespace(p.namespace()).setName(p.name())
                    .setInterfaceName(nz(p.hostIfName())).addAllIps(p.ips()).setMac(nz(p.mac())).setPortUuid(nz(p.portUuid()))
                    .setOfport(p.ofport()).setContainerId(nz(p.containerId())).setNetns(nz(p.netns())));
        }
        return Uni.createFrom().item(r.build());
    }

    private static String nz(String s) {
        return s == null ? "" : s;
    }

    @Override
    @Blocking
    public Uni<ListNetworkPoliciesResponse> listNetworkPolicies(ListNetworkPoliciesRequest request) {
        var controller = policy.controller();
        ListNetworkPoliciesResponse.Builder r = ListNetworkPoliciesResponse.newBuilder();
        List<PolicyCompiler.PolicyView> views = new ArrayList<>(controller.views().values());
        views.sort((a, b) -> (a.namespace() + "/" + a.sourceName()).compareTo(b.namespace() + "/" + b.sourceName()));
        for (PolicyCompiler.PolicyView v : views) {
            if (!request.getNamespace().isEmpty() && !request.getNamespace().equals(v.namespace())) {
                continue;
            }
            r.addItems(AgentNetworkPolicy.newBuilder().setNamespace(v.namespace()).setName(v.sourceName()).setUid(v.uid())
                    .setGeneration(v.generation()).addAllAppliedToGroups(v.appliedToGroups()).setRules(v.rules())
                    .setRealized(controller.realized()).setFlows(v.flows()));
        }
        return Uni.createFrom().item(r.build());
    }

    @Override
    @Blocking
    public Uni<TraceflowResponse> traceflow(TraceflowRequest request) {
        return Uni.createFrom().item(() -> traceflow.run(request));
    }

    // ------------------------------------------------------------------ groups (weftctl get addressgroups|appliedtogroups)

    @Override
    @Blocking
    public Uni<ListGroupsResponse> listAddressGroups(ListGroupsRequest request) {
        return groups(false, request);
    }

    @Override
    @Blocking
    public Uni<ListGroupsResponse> listAppliedToGroups(ListGroupsRequest request) {
        return groups(true, request);
    }

    private Uni<ListGroupsResponse> groups(boolean appliedTo, ListGroupsRequest request) {
        List<dev.weft.agent.policy.PolicyState.GroupView> groups;
        try {
            groups = policy.controller().groups(appliedTo, Duration.ofSeconds(5));
        } catch (java.util.concurrent.TimeoutException e) {
            return Uni.createFrom().failure(Status.UNAVAILABLE
                    .withDescription("the policy worker did not answer within 5 s (busy with a large batch?)").asRuntimeException());
        }
        ListGroupsResponse.Builder r = ListGroupsResponse.newBuilder();
        for (var g : groups) {
            if (!request.getName().isEmpty() && !request.getName().equals(g.name())) {
                continue;
            }
            Group.Builder b = Group.newBuilder().setName(g.name());
            for (var m : g.members()) {
                b.addMembers(GroupMember.newBuilder().setPod(m.pod()).addAllIps(m.ips()));
            }
            r.addGroups(b);
        }
        if (!request.getName().isEmpty() && r.getGroupsCount() == 0) {
            return notFound("no " + (appliedTo ? "applied-to" : "address") + " group " + request.getName() + " on this node");
        }
        return Uni.createFrom().item(r.build());
    }

    private static <T> Uni<T> notFound(String what) {
        return Uni.createFrom().failure(Status.NOT_FOUND.withDescription(what).asRuntimeException());
    }
}
