package dev.weft.cli;

import dev.weft.proto.ipam.v1.GetNodeCidrsRequest;
import dev.weft.proto.ipam.v1.GetPoolUtilizationRequest;
import dev.weft.proto.ipam.v1.IpamGrpc;
import dev.weft.proto.ipam.v1.LookupIpRequest;
import dev.weft.security.auth.BearerTokenFile;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Function;

/**
 * {@code weftctl ipam}: questions for ipam-service (the cluster's pod CIDR allocator), not the node's agent: how full
 * each pool is, which CIDRs a Node has, who owns an address.
 */
@Command(name = "ipam", mixinStandardHelpOptions = true,
        description = "Ask ipam-service about pools, Nodes' pod CIDRs and addresses.",
        subcommands = {IpamCommand.Pools.class, IpamCommand.NodeCidrs.class, IpamCommand.Lookup.class},
        footer = {"", "Examples:",
                "  $ weftctl ipam pools",
                "  $ weftctl ipam node worker-1 -o yaml",
                "  $ weftctl ipam lookup 10.10.1.7"})
class IpamCommand {

    @Option(names = "--ipam-server", defaultValue = "${env:WEFT_IPAM_SERVER:-127.0.0.1:9091}",
            description = "ipam-service address host:port (default ${DEFAULT-VALUE}; env WEFT_IPAM_SERVER).")
    String server;

    /** Where the agent's projected token is mounted in its container (weft.yml), so weftctl there needs no flag. */
    static final String AGENT_TOKEN_FILE = "/var/run/secrets/weft.dev/control-plane/token";

    @Option(names = "--token-file", defaultValue = "${env:WEFT_TOKEN_FILE:-" + AGENT_TOKEN_FILE + "}",
            description = "ServiceAccount token (audience weft-control-plane) sent to ipam-service, which answers"
                    + " authenticated callers only (default ${DEFAULT-VALUE}, the agent container's; env WEFT_TOKEN_FILE).")
    Path tokenFile;

    @Option(names = "--ca-file", defaultValue = "${env:WEFT_CA_FILE}",
            description = "PEM CA bundle ipam-service's certificate must be issued by: the ConfigMap the control plane"
                    + " publishes, kubectl -n weft-system get configmap weft-ca -o jsonpath='{.data.ca\\.crt}' (env WEFT_CA_FILE).")
    Path caFile;

    @Option(names = "--server-name", defaultValue = "ipam-service.weft-system.svc",
            description = "Name ipam-service's certificate must carry (default ${DEFAULT-VALUE}, its Service's DNS name).")
    String serverName;

    @ParentCommand
    Weftctl root;

    /** ipam-service serves TLS only: its certificate is checked against --ca-file. */
    private Weftctl.Tls tls() {
        if (caFile == null) {
            throw new IllegalArgumentException("ipam-service serves TLS only: give --ca-file (or WEFT_CA_FILE) with the"
                    + " control plane's CA, e.g. kubectl -n weft-system get configmap weft-ca -o jsonpath='{.data.ca\\.crt}' > ca.crt");
        }
        String pem;
        try {
            pem = Files.readString(caFile);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("cannot read --ca-file " + caFile + ": " + e.getMessage());
        }
        List<java.security.cert.X509Certificate> cas;
        try {
            cas = dev.weft.security.tls.Pem.parseCertificates(pem, caFile.toString());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("--ca-file " + caFile + ": " + e.getMessage());
        }
        return new Weftctl.Tls(dev.weft.security.tls.ReloadableTrustManager.of(cas, caFile.toString()), serverName);
    }

    <T> T call(Function<IpamGrpc.IpamBlockingStub, T> rpc) {
        // No token file at the default place (weftctl outside the agent's container): the call goes without one, and
        // ipam-service's refusal says what it needs.
        boolean send = Files.exists(tokenFile) || !tokenFile.toString().equals(AGENT_TOKEN_FILE);
        return root.call("ipam-service", server, tls(), ch -> send
                ? IpamGrpc.newBlockingStub(ch).withInterceptors(new BearerTokenFile(tokenFile))
                : IpamGrpc.newBlockingStub(ch), rpc);
    }

    abstract static class Base implements Callable<Integer> {
        @ParentCommand
        IpamCommand ipam;

        @Option(names = {"-o", "--output"}, defaultValue = "table", description = "Output format: table, json or yaml.")
        String output;

        @Override
        public final Integer call() {
            try {
                System.out.print(render(Output.Format.parse(output)));
                return 0;
            } catch (IllegalArgumentException | IllegalStateException e) {
                System.err.println("error: " + e.getMessage());
                return 1;
            }
        }

        abstract String render(Output.Format f);
    }

    @Command(name = "pools", mixinStandardHelpOptions = true, description = "Each pool's node blocks: total, allocated, reserved, free.")
    static class Pools extends Base {
        @Override
        String render(Output.Format f) {
            return Render.ipamPools(ipam.call(s -> s.getPoolUtilization(GetPoolUtilizationRequest.getDefaultInstance())).getPoolsList(), f);
        }
    }

    @Command(name = "node", mixinStandardHelpOptions = true, description = "A Node's pod CIDRs and allocation state.")
    static class NodeCidrs extends Base {
        @Parameters(index = "0", description = "Node name.")
        String node;

        @Override
        String render(Output.Format f) {
            return Render.ipamNode(ipam.call(s -> s.getNodeCidrs(GetNodeCidrsRequest.newBuilder().setNodeName(node).build())), f);
        }
    }

    @Command(name = "lookup", mixinStandardHelpOptions = true, description = "Which Node's pod CIDR (and pool) holds an address.")
    static class Lookup extends Base {
        @Parameters(index = "0", description = "IPv4 or IPv6 address.")
        String ip;

        @Override
        String render(Output.Format f) {
            return Render.ipamLookup(ipam.call(s -> s.lookupIp(LookupIpRequest.newBuilder().setIp(ip).build())), f);
        }
    }
}
