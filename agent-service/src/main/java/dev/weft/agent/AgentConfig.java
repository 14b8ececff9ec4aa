package dev.weft.agent;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalInt;

/** Node agent configuration. Every path is configurable so several agents (one per simulated node) can share a machine. */
@ConfigMapping(prefix = "agent")
public interface AgentConfig {

    /** This node's Kubernetes name; defaults to the NODE_NAME environment variable, then the host name. */
    Optional<String> nodeName();

    /** The integration bridge the pipeline is programmed on. */
    @WithDefault("br-int")
    String bridge();

    /** Open vSwitch run directory (db.sock, <bridge>.mgmt). */
    @WithDefault("/var/run/openvswitch")
    Path ovsRunDir();

    /** OVSDB JSON-RPC socket; defaults to {@code <ovs-run-dir>/db.sock}. */
    Optional<Path> ovsdbSocket();

    /** Node-local durable state (IP leases, flow round). */
    @WithDefault("/var/lib/weft")
    Path stateDir();

    // ---- CNI (dev.weft.agent.cni / ipam / ovsdb) ----

    /** Optional name under /var/run/netns holding the node's OVS, gateway and veth host ends; empty = our own netns. */
    Optional<String> nodeNetns();

    /** UNIX socket on which the agent answers the shim's CNI calls (cni.proto: CniCall -> CniReply). */
    @WithDefault("/var/run/weft/cni.sock")
    Path cniSocket();

    /**
     * UNIX socket of the agent's local query API (agent.proto AgentQuery: weftctl, the Antrea walkthrough's antctl
     * queries), mode 0600: only root on the node reaches it, so it needs no token (docs/security.md "The agent's
     * local API"). weftctl's --socket defaults to this path.
     */
    @WithDefault("/var/run/weft/agent.sock")
    Path localApiSocket();

    /** Where the agent installs its CNI conflist at start. */
    @WithDefault("/etc/cni/net.d")
    Path cniConfDir();

    /** The node gateway's OVS internal port (the Antrea walkthrough's gw0). */
    @WithDefault("gw0")
    String gatewayName();

    /** OpenFlow port requested for the gateway. */
    @WithDefault("2")
    int gatewayOfport();

    /**
     * MTU of pod interfaces and the gateway. Default: the uplink's MTU (the interface holding the node IP) minus the
     * tunnel overhead, 50 bytes for Geneve or VXLAN over IPv4 (1500 - 50 = 1450). See {@code dev.weft.agent.host.NodeMtu}.
     */
    OptionalInt podMtu();

    /**
     * How often attachments whose pod is gone from the Kubernetes API are looked for (released when seen so twice in a
     * row, see AttachmentGc); 0 turns the sweep off (CNI GC from the runtime still works).
     */
    @WithDefault("5m")
    java.time.Duration leaseGcInterval();

    /** Node pod CIDRs to use without asking ipam-service or the API (comma-separated; for tests and static nodes). */
    Optional<java.util.List<String>> podCidrs();

    // ---- datapath (dev.weft.agent.openflow / pipeline / policy) ----

    /** OpenFlow endpoint of the bridge: {@code unix:PATH} or {@code tcp:HOST:PORT}; default the bridge's .mgmt socket. */
    Optional<String> openflowEndpoint();

    /** Tunnel port carrying traffic to peer nodes' pod CIDRs ({@code remote_ip=flow}). */
    @WithDefault("weft-tun0")
    String tunnelName();

    /** geneve or vxlan. */
    @WithDefault("geneve")
    String tunnelType();

    /** After this many seconds the previous run's flows are deleted even if the policy stream has not synced. */
    @WithDefault("120")
    int flowRoundGraceSeconds();

    // ---- node host side: bridge set-up, forwarding, routes to peers, SNAT (dev.weft.agent.host) ----

    /**
     * Datapath type of the bridge when the agent creates it: {@code system} (the openvswitch kernel module) on real
     * nodes, {@code netdev} (userspace) where there is no module, as in the local cluster. A bridge that exists with
     * another type is reported (readiness), never recreated.
     */
    @WithDefault("system")
    String bridgeDatapathType();

    /**
     * The cluster's pod CIDRs (comma-separated, e.g. 10.244.0.0/16): pod traffic to anything outside them (and not to
     * a node IP) is masqueraded. Default: the pod CIDRs of every node the agent knows (its own and its peers').
     */
    Optional<java.util.List<String>> clusterCidrs();

    /**
     * The cluster's IPv4 Service CIDR (kube-apiserver's {@code --service-cluster-ip-range}, e.g. 10.96.0.0/12). When
     * set it is routed into the gateway ({@code dev.weft.agent.host.HostNetworkReconciler}), so that the node itself and
     * hostNetwork pods reach cluster IPs through the switch's Service tables; unset, only pods (and node ports) reach
     * Services.
     */
    Optional<String> serviceCidr();

    /** No SNAT (routed networks where pod IPs are reachable from outside): the agent then keeps no nftables table. */
    @WithDefault("false")
    boolean noSnat();

    /** How often the host side (bridge settings, tunnel, forwarding, gateway address, routes, SNAT) is checked and repaired. */
    @WithDefault("30")
    int hostNetworkResyncSeconds();

    // ---- bootstrap without Services (dev.weft.agent.bootstrap, docs/deploy.md) ----

    /**
     * API server URL to use instead of the in-cluster {@code kubernetes} Service address, e.g.
     * {@code https://192.168.1.10:6443} (Antrea's kubeAPIServerOverride): that Service needs a Service proxy.
     */
    Optional<String> kubeApiServerOverride();

    /**
     * How the ipam and controlplane gRPC clients find their services: {@code dns} connects to
     * {@code quarkus.grpc.clients.<client>.host:port} as given; {@code endpointslices} reads host as
     * SERVICE.NAMESPACE and follows that Service's EndpointSlices through the API (no cluster DNS, no Service proxy).
     */
    @WithDefault("dns")
    ControlPlaneDiscovery controlPlaneDiscovery();

    /**
     * The agent's projected ServiceAccount token (audience weft-control-plane, rotated by the kubelet), sent as
     * {@code authorization: Bearer} on every call to ipam-service and policy-service and re-read when the file
     * changes (docs/security.md "Caller identity"). Unset: calls carry no token, which a control plane with
     * authentication on refuses.
     */
    Optional<Path> controlPlaneTokenFile();
    /** TLS of the ipam and controlplane channels (docs/security.md). */
    ControlPlaneTls controlPlaneTls();

    /**
     * The agent's second projected token (audience {@code agent.peer-auth.audience}), sent to another node's agent on
     * the cross-node phases of traceflow (docs/security.md "The agent's peer port"). Unset: those calls carry no
     * token, which an agent with peer authentication on refuses.
     */
    Optional<Path> peerTokenFile();

    /** Who the agent's HTTP port answers AgentQuery calls for (docs/security.md "The agent's peer port"). */
    PeerAuth peerAuth();

    /** {@code agent.peer-auth.*}. */
    interface PeerAuth {
        /**
         * Authenticate callers of the HTTP port's gRPC services (only other agents' Traceflow phases are served there;
         * weftctl uses the local socket). false only for tests of other things.
         */
        @WithDefault("true")
        boolean enabled();

        /** The audience of the peer tokens: distinct from the control plane's, so neither side can replay the other's. */
        @WithDefault("weft-agent-peer")
        String audience();

        /** ServiceAccounts ({@code namespace:name}) of agents, the only callers answered. */
        @WithDefault("weft-system:weft-agent")
        java.util.List<String> serviceAccounts();
    }

    /** {@code agent.control-plane-tls.*}. */
    interface ControlPlaneTls {
        /** Verify ipam-service and policy-service over TLS; false only for plaintext stand-ins in tests. */
        @WithDefault("true")
        boolean enabled();

        /** Namespace and name of the CA bundle ConfigMap (key ca.crt) the services publish. */
        @WithDefault("weft-system")
        String caNamespace();

        @WithDefault("weft-ca")
        String caConfigMap();

        /** DNS names the servers' certificates are verified against (the Services' names, not the dialled IPs). */
        @WithDefault("ipam-service.weft-system.svc")
        String ipamServerName();

        @WithDefault("policy-service.weft-system.svc")
        String controlplaneServerName();
    }

    /** Values of {@link #controlPlaneDiscovery()}; each is the gRPC name-resolver scheme the clients use. */
    enum ControlPlaneDiscovery {
        DNS, ENDPOINTSLICES
    }

    default String resolvedOpenflowEndpoint() {
        return openflowEndpoint().filter(s -> !s.isBlank())
                .orElse("unix:" + ovsRunDir().resolve(bridge() + ".mgmt"));
    }

    default Path resolvedOvsdbSocket() {
        return ovsdbSocket().orElse(ovsRunDir().resolve("db.sock"));
    }

    default String resolvedNodeName() {
        return nodeName().filter(s -> !s.isBlank())
                .or(() -> Optional.ofNullable(System.getenv("NODE_NAME")).filter(s -> !s.isBlank()))
                .orElseGet(AgentConfig::hostName);
    }

    private static String hostName() {
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            return "localhost";
        }
    }
}
