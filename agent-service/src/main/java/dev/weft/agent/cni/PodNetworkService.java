package dev.weft.agent.cni;

import dev.weft.agent.AgentConfig;
import dev.weft.agent.ipam.IpLease;
import dev.weft.agent.ipam.IpamException;
import dev.weft.agent.ipam.NodeIpAllocator;
import dev.weft.agent.ipam.PodSubnet;
import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.node.PersistentPodInterfaceStore;
import dev.weft.agent.node.PodDatapath;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.ovsdb.AddedPort;
import dev.weft.agent.ovsdb.OvsPort;
import dev.weft.agent.ovsdb.OvsdbClient;
import dev.weft.agent.ovsdb.OvsdbException;
import dev.weft.agent.ovsdb.PortSpec;
import dev.weft.net.InterfaceAddress;
import dev.weft.net.IpAddress;
import dev.weft.proto.cni.v1.CniResult;
import dev.weft.proto.cni.v1.ErrorCode;
import dev.weft.proto.cni.v1.Interface;
import dev.weft.proto.cni.v1.IpConfig;
import dev.weft.proto.cni.v1.Route;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;

/**
 * CNI ADD / CHECK / DEL: the veth pair, the pod side (name, MAC, address, default route via the gateway, tx
 * checksum offload off for the userspace datapath), the host end on the bridge over OVSDB with the pod's identity in
 * external_ids, the node-local address lease and the pod's flows through {@link PodDatapath}.
 *
 * <p>ADD either completes or undoes every step it took (in reverse order), so a failed ADD leaves nothing behind.
 * DEL is idempotent and works from what can be found (the stored attachment, the lease, the deterministic host
 * interface name), so it also cleans up after a crash.
 */
@ApplicationScoped
public class PodNetworkService {

    private static final Logger LOG = Logger.getLogger(PodNetworkService.class);
    public static final String OWNER = "weft.dev/owner";
    public static final String OWNER_CNI = "weft-cni";

    @Inject
    AgentConfig config;

    @Inject
    OvsdbClient ovsdb;

    @Inject
    NodeIpAllocator ipam;

    @Inject
    PersistentPodInterfaceStore store;

    @Inject
    Instance<PodDatapath> datapath;

    private Commands commands;
    private volatile NodeNetwork node;
    private final ReentrantLock[] locks = new ReentrantLock[64];

    public PodNetworkService() {
        for (int i = 0; i < locks.length; i++) {
            locks[i] = new ReentrantLock();
        }
    }

    private Commands commands() {
        if (commands == null) {
            commands = new Commands(config.nodeNetns());
        }
        return commands;
    }

    /** Called once the gateway is up: from now on ADD is accepted. */
    public void nodeReady(NodeNetwork node) {
        this.node = node;
    }

    public Optional<NodeNetwork> node() {
        return Optional.ofNullable(node);
    }

    /** The host end's name: deterministic from the attachment so DEL finds it without any state. */
    public static String hostIfName(String containerId, String ifName) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest((containerId + "/" + ifName).getBytes(StandardCharsets.UTF_8));
            return "weft" + HexFormat.of().formatHex(h).substring(0, 11);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private ReentrantLock lockFor(String containerId) {
        return locks[Math.floorMod(containerId.hashCode(), locks.length)];
    }

    private PodDatapath datapathOrNull() {
        return datapath.isResolvable() ? datapath.get() : null;
    }

    // ------------------------------------------------------------------ ADD

    public CniResult add(CniInvocation inv) throws CniFailure {
        NodeNetwork n = node;
        if (n == null) {
            throw new CniFailure(ErrorCode.TRY_AGAIN_LATER, "the node network is not ready yet (waiting for the node's pod CIDR and gateway)");
        }
        if (!Files.exists(Path.of(inv.netns()))) {
            throw new CniFailure(ErrorCode.UNKNOWN_CONTAINER, "network namespace " + inv.netns() + " does not exist");
        }
        ReentrantLock lock = lockFor(inv.containerId());
        lock.lock();
        try {
            Optional<PodInterface> existing = store.byAttachment(inv.containerId(), inv.ifName());
            if (existing.isPresent() && existing.get().netns().equals(inv.netns()) && verify(existing.get()) == null) {
                // A retried ADD of a complete attachment: answer it again rather than fail on "exists".
                return result(inv, existing.get(), n);
            }
            if (existing.isPresent()) {
                delLocked(inv.containerId(), inv.ifName(), existing.get().netns());
            }
            return addLocked(inv, n);
        } finally {
            lock.unlock();
        }
    }

    private CniResult addLocked(CniInvocation inv, NodeNetwork n) throws CniFailure {
        Deque<Undo> undo = new ArrayDeque<>();
        String host = hostIfName(inv.containerId(), inv.ifName());
        try {
            PodSubnet cidr = ipam.cidr().orElseThrow(() -> new CniFailure(ErrorCode.TRY_AGAIN_LATER, "node CIDR not known yet"));
            IpLease lease;
            try {
                lease = ipam.allocate(inv.containerId(), inv.ifName(), inv.podNamespace(), inv.podName());
            } catch (IpamException e) {
                throw new CniFailure(switch (e.reason()) {
                    case EXHAUSTED -> ErrorCode.IP_ADDRESSES_EXHAUSTED;
                    case NOT_READY -> ErrorCode.TRY_AGAIN_LATER;
                    case IO -> ErrorCode.IO_FAILURE;
                }, e.getMessage());
            }
            undo.push(() -> ipam.release(inv.containerId(), inv.ifName()));

            IpAddress podIp = IpAddress.parse(lease.ip());
            String mac = PodSubnet.macFor(podIp).toString();
            String mtu = Integer.toString(n.mtu());
            // A leftover host end of this attachment (crash between steps) would make the create fail: remove it.
            deleteLinkIfPresent(host);
            // The peer is created directly in the pod's namespace under its final name (no rename, no move).
            // If "link add" fails, ip -batch stops there; the undo below tolerates a host end that never existed.
            undo.push(() -> deleteLinkIfPresent(host));
            commands().ipNodeBatch("link add " + host + " mtu " + mtu + " type veth peer name " + inv.ifName()
                    + " mtu " + mtu + " netns " + inv.netns() + "\n"
                    + "link set " + host + " up\n");
            String gateway = n.gatewayIps().get(0);
            // Values are validated (ifname pattern, addresses we generated), so they are safe in a script.
            commands().inPodScript(inv.netns(), String.join("\n",
                    "ip -batch - <<EOF",
                    "link set " + inv.ifName() + " address " + mac,
                    "addr add " + new InterfaceAddress(podIp, cidr.prefixLength()) + " dev " + inv.ifName(),
                    "link set " + inv.ifName() + " up",
                    "link set lo up",
                    "route replace default via " + gateway + " dev " + inv.ifName(),
                    "EOF",
                    // The userspace datapath does not fill in checksums: the pod must compute them itself.
                    "ethtool -K " + inv.ifName() + " tx off >/dev/null", ""));

            Map<String, String> ids = new LinkedHashMap<>();
            ids.put(OWNER, OWNER_CNI);
            ids.put("weft.dev/pod-namespace", inv.podNamespace());
            ids.put("weft.dev/pod-name", inv.podName());
            ids.put("weft.dev/container-id", inv.containerId());
            ids.put("weft.dev/ifname", inv.ifName());
            ids.put("weft.dev/ip", lease.ip());
            ids.put("attached-mac", mac);
            ids.put("iface-id", inv.podNamespace() + "/" + inv.podName());
            ovsdb.deletePort(config.bridge(), host);
            AddedPort port = ovsdb.addPort(config.bridge(), new PortSpec(host, "", Map.of(), ids, 0), Duration.ofSeconds(15));
            undo.push(() -> ovsdb.deletePort(config.bridge(), host));
            // Pin the number: the pod's flows name it, and an ovs-vswitchd restart may otherwise renumber the port.
            ovsdb.requestOfport(host, port.ofport());

            PodInterface pod = new PodInterface(inv.podNamespace(), inv.podName(), inv.containerId(), inv.ifName(),
                    inv.netns(), List.of(lease.ip()), mac, host, port.portUuid(), port.ofport());
            PodDatapath dp = datapathOrNull();
            if (dp != null) {
                dp.podAdded(pod);
                undo.push(() -> dp.podRemoved(pod));
            }
            store.put(pod);
            LOG.debugf("ADD %s %s/%s: %s on ofport %d", inv.containerId(), inv.podNamespace(), inv.podName(), lease.ip(), port.ofport());
            return result(inv, pod, n);
        } catch (CniFailure e) {
            rollback(undo, e);
            throw e;
        } catch (PodDatapath.DatapathException e) {
            rollback(undo, e);
            throw new CniFailure(ErrorCode.INTERNAL_ERROR, "datapath could not install the pod's flows: " + e.getMessage());
        } catch (OvsdbException e) {
            rollback(undo, e);
            throw new CniFailure(ErrorCode.IO_FAILURE, "Open vSwitch: " + e.getMessage());
        } catch (IOException | RuntimeException e) {
            rollback(undo, e);
            throw new CniFailure(ErrorCode.CONFIG_INTERFACE_FAILURE, "cannot configure the pod interface: " + e.getMessage());
        }
    }

    private interface Undo {
        void run() throws Exception;
    }

    private static void rollback(Deque<Undo> undo, Exception cause) {
        while (!undo.isEmpty()) {
            try {
                undo.pop().run();
            } catch (Exception e) {
                cause.addSuppressed(e);
                LOG.warnf("rollback step failed: %s", e.getMessage());
            }
        }
    }

    private void deleteLinkIfPresent(String host) throws IOException {
        try {
            commands().ipNode("link", "del", host);
        } catch (IOException e) {
            if (!e.getMessage().contains("Cannot find device") && !e.getMessage().contains("does not exist")) {
                throw e;
            }
        }
    }

    private CniResult result(CniInvocation inv, PodInterface pod, NodeNetwork n) {
        PodSubnet cidr = ipam.cidr().orElseThrow();
        String gw = n.gatewayIps().get(0);
        InterfaceAddress address = new InterfaceAddress(IpAddress.parse(pod.ips().get(0)), cidr.prefixLength());
        return CniResult.newBuilder()
                .setCniVersion(inv.cniVersion())
                .addInterfaces(Interface.newBuilder().setName(pod.hostIfName()).setMac(hostMac(pod.hostIfName())))
                .addInterfaces(Interface.newBuilder().setName(pod.ifName()).setMac(pod.mac()).setSandbox(pod.netns()))
                .addIps(IpConfig.newBuilder().setAddress(address.toString()).setGateway(gw).setInterface(1))
                .addRoutes(Route.newBuilder().setDst("0.0.0.0/0").setGw(gw))
                .build();
    }

    private String hostMac(String host) {
        try {
            return Files.readString(hostSysPath(host)).trim();
        } catch (IOException e) {
            return "";
        }
    }

    private Path hostSysPath(String host) {
        // /sys shows our own namespace only; in a node netns the host MAC is not worth a fork per ADD.
        return Path.of("/sys/class/net", host, "address");
    }

    // ------------------------------------------------------------------ DEL

    public void del(CniInvocation inv) throws CniFailure {
        if (ipam.cidr().isEmpty()) {
            // Leases are not loaded yet: a DEL now could not release the address.
            throw new CniFailure(ErrorCode.TRY_AGAIN_LATER, "the node network is not ready yet");
        }
        ReentrantLock lock = lockFor(inv.containerId());
        lock.lock();
        try {
            delLocked(inv.containerId(), inv.ifName(), inv.netns());
        } finally {
            lock.unlock();
        }
    }

    private void delLocked(String containerId, String ifName, String netns) throws CniFailure {
        String host = hostIfName(containerId, ifName);
        Optional<PodInterface> pod = store.byAttachment(containerId, ifName);
        try {
            PodDatapath dp = datapathOrNull();
            if (pod.isPresent() && dp != null) {
                dp.podRemoved(pod.get());
            }
            ovsdb.deletePort(config.bridge(), host);
            // Removing the host end removes its peer in the pod too.
            deleteLinkIfPresent(host);
            ipam.release(containerId, ifName);
            store.remove(containerId, ifName);
        } catch (PodDatapath.DatapathException e) {
            throw new CniFailure(ErrorCode.INTERNAL_ERROR, "datapath could not remove the pod's flows: " + e.getMessage());
        } catch (OvsdbException e) {
            throw new CniFailure(ErrorCode.TRY_AGAIN_LATER, "Open vSwitch: " + e.getMessage());
        } catch (IpamException | IOException e) {
            throw new CniFailure(ErrorCode.IO_FAILURE, "DEL of " + containerId + "/" + ifName + ": " + e.getMessage());
        }
    }

    // ------------------------------------------------------------------ CHECK

    public void check(CniInvocation inv) throws CniFailure {
        if (node == null) {
            throw new CniFailure(ErrorCode.TRY_AGAIN_LATER, "the node network is not ready yet");
        }
        PodInterface pod = store.byAttachment(inv.containerId(), inv.ifName())
                .orElseThrow(() -> new CniFailure(ErrorCode.UNKNOWN_CONTAINER,
                        "no attachment " + inv.containerId() + "/" + inv.ifName() + " on this node"));
        String problem = verify(pod);
        if (problem != null) {
            throw new CniFailure(ErrorCode.CONFIG_INTERFACE_FAILURE, problem);
        }
    }

    /** Null when everything the ADD set up is still in place; otherwise what is not. */
    String verify(PodInterface pod) {
        try {
            Optional<OvsPort> port = ovsdb.getPort(pod.hostIfName());
            if (port.isEmpty()) {
                return "port " + pod.hostIfName() + " is not on the bridge";
            }
            if (port.get().ofport() != pod.ofport()) {
                return "port " + pod.hostIfName() + " has ofport " + port.get().ofport() + ", expected " + pod.ofport();
            }
            if (!Files.exists(Path.of(pod.netns()))) {
                return "network namespace " + pod.netns() + " is gone";
            }
            String addr = commands().inPod(pod.netns(), "ip", "-o", "addr", "show", "dev", pod.ifName());
            if (!addr.contains(" " + pod.ips().get(0) + "/")) {
                return pod.ifName() + " in " + pod.netns() + " does not have " + pod.ips().get(0);
            }
            String link = commands().inPod(pod.netns(), "ip", "-o", "link", "show", "dev", pod.ifName());
            if (!link.contains(pod.mac())) {
                return pod.ifName() + " does not have MAC " + pod.mac();
            }
            String route = commands().inPod(pod.netns(), "ip", "route", "show", "default");
            if (!route.contains("via " + node.gatewayIps().get(0))) {
                return "no default route via " + node.gatewayIps().get(0) + " in " + pod.netns();
            }
            PodDatapath dp = datapathOrNull();
            if (dp != null && !dp.podInstalled(pod)) {
                return "the datapath has no flows for " + pod.key();
            }
            return null;
        } catch (IOException e) {
            return "cannot verify " + pod.key() + ": " + e.getMessage();
        }
    }
}
