package dev.weft.cli;

import dev.weft.proto.agent.v1.AgentQueryGrpc;
import dev.weft.proto.agent.v1.DumpFlowsRequest;
import dev.weft.proto.agent.v1.GetAgentInfoRequest;
import dev.weft.proto.agent.v1.ListNetworkPoliciesRequest;
import dev.weft.proto.agent.v1.ListPodInterfacesRequest;
import dev.weft.proto.agent.v1.PodFilter;
import dev.weft.proto.agent.v1.PolicyFilter;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.quarkus.picocli.runtime.annotations.TopCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/** weftctl: asks the local agent (gRPC AgentQuery on --server) about its datapath, as antctl does for Antrea. */
@TopCommand
@Command(name = "weftctl", mixinStandardHelpOptions = true, version = "weftctl 0.1.0",
        description = "Weft's command line: query the agent of this node, or ipam-service.",
        subcommands = {Weftctl.Get.class, IpamCommand.class, TraceflowCommand.class})
public class Weftctl {

    /** Where the bundle's agent serves its local API (agent.local-api-socket, hostPath /var/run/weft). */
    static final String AGENT_SOCKET = "/var/run/weft/agent.sock";

    @Option(names = "--socket", defaultValue = "${env:WEFT_AGENT_SOCKET:-" + AGENT_SOCKET + "}",
            description = "The agent's local API socket (default ${DEFAULT-VALUE}; root only; env WEFT_AGENT_SOCKET).")
    String socket;

    @Option(names = "--server", description = "Agent address host:port instead of the socket (an agent with its"
            + " query API on TCP without peer authentication, e.g. in tests).")
    String server;

    @Option(names = "--timeout", defaultValue = "10", description = "Seconds to wait for the agent (default ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    <T> T call(Function<AgentQueryGrpc.AgentQueryBlockingStub, T> rpc) {
        return call("agent", server != null ? server : UNIX + socket, AgentQueryGrpc::newBlockingStub, rpc);
    }

    static final String UNIX = "unix:";

    /**
     * One RPC on a channel of its own to {@code target}, within --timeout; a gRPC error becomes one line naming
     * {@code what} answered it (exit code 1 in the commands).
     */
    <S extends io.grpc.stub.AbstractBlockingStub<S>, T> T call(String what, String target, Function<io.grpc.Channel, S> stub,
                                                            Function<S, T> rpc) {
        return call(what, target, null, stub, rpc);
    }

    /** The server's certificate must be issued by a CA of {@code trust} for {@code serverName}. */
    record Tls(dev.weft.security.tls.ReloadableTrustManager trust, String serverName) {
    }

    /** As above, over TLS when {@code tls} is given (ipam-service), plaintext otherwise (the agent's local API). */
    <S extends io.grpc.stub.AbstractBlockingStub<S>, T> T call(String what, String target, Tls tls,
                                                            Function<io.grpc.Channel, S> stub, Function<S, T> rpc) {
        io.netty.channel.EventLoopGroup group = target.startsWith(UNIX) ? new io.netty.channel.epoll.EpollEventLoopGroup(1) : null;
        ManagedChannel ch = tls != null ? dev.weft.security.tls.ClientTls.channel(target, tls.trust(), tls.serverName())
                : group == null ? ManagedChannelBuilder.forTarget(target).usePlaintext().build()
                : io.grpc.netty.NettyChannelBuilder.forAddress(new io.netty.channel.unix.DomainSocketAddress(target.substring(UNIX.length())))
                .channelType(io.netty.channel.epoll.EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
        try {
            return rpc.apply(stub.apply(ch).withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS));
        } catch (StatusRuntimeException e) {
            String d = e.getStatus().getDescription();
            throw new IllegalStateException(what + " at " + target + ": " + e.getStatus().getCode() + (d == null ? "" : ": " + d));
        } finally {
            ch.shutdownNow();
            if (group != null) {
                group.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            }
        }
    }

    @Command(name = "get", description = "Display one or many resources.", mixinStandardHelpOptions = true,
            subcommands = {OvsFlows.class, NetworkPolicies.class, PodInterfaces.class, AgentInfoCmd.class,
                    Groups.AddressGroups.class, Groups.AppliedToGroups.class})
    static class Get {
        @ParentCommand
        Weftctl root;
    }

    abstract static class Base implements Callable<Integer> {
        @ParentCommand
        Get get;

        @Option(names = {"-o", "--output"}, defaultValue = "table", description = "Output format: table, json or yaml.")
        String output;

        Output.Format format() {
            return Output.Format.parse(output);
        }

        /** Errors (agent unreachable, unknown table, bad flag) are one line on stderr and exit code 1. */
        @Override
        public final Integer call() {
            try {
                return run();
            } catch (IllegalArgumentException | IllegalStateException e) {
                System.err.println("error: " + e.getMessage());
                return 1;
            }
        }

        abstract Integer run();
    }

    /**
     * The flags and examples are static; the table list is not: {@code -h} asks the agent for its pipeline's tables
     * ({@link Groups#tableList}), so the help never disagrees with the agent it talks to.
     */
    @Command(name = "ovsflows", aliases = "of",
            description = "Dump all the OVS flows or the flows installed for the specified entity.",
            footer = {"", "Examples:",
                    "  Dump all OVS flows",
                    "  $ weftctl get ovsflows",
                    "  Dump OVS flows of a local Pod",
                    "  $ weftctl get ovsflows -p pod1 -n ns1",
                    "  Dump OVS flows of a NetworkPolicy",
                    "  $ weftctl get ovsflows --networkpolicy np1 -n ns1",
                    "  Dump OVS flows of a flow Table",
                    "  $ weftctl get ovsflows -T IngressRule"})
    static class OvsFlows extends Base {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @Option(names = {"-h", "--help"}, description = "Show this help (with the agent's flow tables) and exit.")
        boolean help;
        @Option(names = {"-T", "--table"}, description = "Flow table name or number.")
        String table;
        @Option(names = {"-p", "--pod"}, description = "Local pod name.")
        String pod;
        @Option(names = "--networkpolicy", description = "NetworkPolicy name.")
        String policy;
        @Option(names = {"-n", "--namespace"}, defaultValue = "default", description = "Namespace of the pod or policy.")
        String namespace;

        @Override
        Integer run() {
            if (help) {
                return Groups.ovsflowsHelp(spec, get.root);
            }
            int filters = (table != null ? 1 : 0) + (pod != null ? 1 : 0) + (policy != null ? 1 : 0);
            if (filters > 1) {
                throw new IllegalArgumentException("use only one of -T, -p, --networkpolicy");
            }
            DumpFlowsRequest.Builder r = DumpFlowsRequest.newBuilder();
            if (table != null) {
                r.setTable(table);
            } else if (pod != null) {
                r.setPod(PodFilter.newBuilder().setNamespace(namespace).setName(pod));
            } else if (policy != null) {
                r.setNetworkPolicy(PolicyFilter.newBuilder().setNamespace(namespace).setName(policy));
            }
            Output.Format f = format();
            var resp = get.root.call(s -> s.dumpFlows(r.build()));
            System.out.print(Render.flows(resp.getFlowsList(), f));
            return 0;
        }
    }

    @Command(name = "networkpolicies", aliases = {"networkpolicy", "netpol"}, mixinStandardHelpOptions = true,
            description = "NetworkPolicies applied on this node.")
    static class NetworkPolicies extends Base {
        @Option(names = {"-n", "--namespace"}, defaultValue = "", description = "Only this namespace.")
        String namespace;

        @Override
        Integer run() {
            Output.Format f = format();
            var resp = get.root.call(s -> s.listNetworkPolicies(ListNetworkPoliciesRequest.newBuilder().setNamespace(namespace).build()));
            System.out.print(Render.policies(resp.getItemsList(), f));
            return 0;
        }
    }

    @Command(name = "podinterfaces", aliases = {"podinterface", "pi"}, mixinStandardHelpOptions = true,
            description = "Local pods' network interfaces.")
    static class PodInterfaces extends Base {
        @Option(names = {"-n", "--namespace"}, defaultValue = "", description = "Only this namespace.")
        String namespace;
        @CommandLine.Parameters(arity = "0..1", description = "Pod name.")
        String name;

        @Override
        Integer run() {
            Output.Format f = format();
            var resp = get.root.call(s -> s.listPodInterfaces(ListPodInterfacesRequest.newBuilder().setNamespace(namespace)
                    .setName(name == null ? "" : name).build()));
            System.out.print(Render.pods(resp.getInterfacesList(), f));
            return 0;
        }
    }

    @Command(name = "agentinfo", aliases = "ai", mixinStandardHelpOptions = true, description = "The agent's state.")
    static class AgentInfoCmd extends Base {
        @Override
        Integer run() {
            Output.Format f = format();
            System.out.print(Render.agentInfo(get.root.call(s -> s.getAgentInfo(GetAgentInfoRequest.getDefaultInstance())), f));
            return 0;
        }
    }
}
