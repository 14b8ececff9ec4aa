package dev.weft.agent.cni;

import dev.weft.agent.AgentConfig;
import dev.weft.agent.ipam.IpLease;
import dev.weft.agent.ipam.IpamException;
import dev.weft.agent.ipam.NodeIpAllocator;
import dev.weft.agent.node.PersistentPodInterfaceStore;
import dev.weft.agent.node.PodDatapath;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.ovsdb.OvsPort;
import dev.weft.agent.ovsdb.OvsdbClient;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * On agent start, before any ADD is accepted: brings leases, stored attachments and OVS pod ports back in line.
 *
 * <p>An attachment is released only when it is provably dead: the Kubernetes API answered and has no such pod on
 * this node. When the API cannot be read nothing is released. Attachments that live on get their flows replayed
 * (PodDatapath calls are idempotent) with the ofport OVS reports now.
 */
@ApplicationScoped
public class AttachmentReconciler {

    private static final Logger LOG = Logger.getLogger(AttachmentReconciler.class);

    @Inject
    AgentConfig config;

    @Inject
    OvsdbClient ovsdb;

    @Inject
    NodeIpAllocator ipam;

    @Inject
    PersistentPodInterfaceStore store;

    @Inject
    KubernetesClient kubernetes;

    @Inject
    Instance<PodDatapath> datapath;

    @Inject
    PodNetworkService pods;

    /** What reconcile did, for logs and tests. */
    public record Outcome(int kept, int released, int portsRemoved, int adopted, boolean apiAnswered) {
    }

    public synchronized Outcome reconcile() throws IOException {
        Optional<Set<String>> apiPods = podsOnThisNode();
        Map<String, OvsPort> portsByAttachment = new HashMap<>();
        for (OvsPort p : ovsdb.listPorts(config.bridge())) {
            if (PodNetworkService.OWNER_CNI.equals(p.externalIds().get(PodNetworkService.OWNER))) {
                portsByAttachment.put(p.externalIds().get("weft.dev/container-id") + "/" + p.externalIds().get("weft.dev/ifname"), p);
            }
        }
        int released = 0;
        int portsRemoved = 0;
        int adopted = 0;
        // 1. Leases and stored attachments of pods the API says are gone.
        if (apiPods.isPresent()) {
            Set<String> alive = apiPods.get();
            try {
                for (IpLease l : ipam.leases()) {
                    if (!alive.contains(l.namespace() + "/" + l.name())) {
                        pods.del(invocationFor(l.containerId(), l.ifName()));
                        portsByAttachment.remove(l.containerId() + "/" + l.ifName());
                        released++;
                        LOG.infof("released %s of %s/%s (container %s): the pod is no longer on this node",
                                l.ip(), l.namespace(), l.name(), l.containerId());
                    }
                }
                for (PodInterface p : store.all()) {
                    if (!alive.contains(p.key())) {
                        pods.del(invocationFor(p.containerId(), p.ifName()));
                        portsByAttachment.remove(p.containerId() + "/" + p.ifName());
                    }
                }
                // 2. Ports without lease: adopt when the pod is alive (the lease file was lost), else remove.
                for (OvsPort p : List.copyOf(portsByAttachment.values())) {
                    Map<String, String> ids = p.externalIds();
                    String cid = ids.get("weft.dev/container-id");
                    String ifn = ids.get("weft.dev/ifname");
                    if (ipam.lease(cid, ifn).isPresent()) {
                        continue;
                    }
                    String key = ids.get("weft.dev/pod-namespace") + "/" + ids.get("weft.dev/pod-name");
                    if (alive.contains(key) && ipam.adopt(new IpLease(ids.get("weft.dev/ip"), cid, ifn,
                            ids.get("weft.dev/pod-namespace"), ids.get("weft.dev/pod-name"), System.currentTimeMillis()))) {
                        adopted++;
                    } else {
                        pods.del(invocationFor(cid, ifn));
                        portsByAttachment.remove(cid + "/" + ifn);
                        portsRemoved++;
                    }
                }
            } catch (CniFailure | IpamException e) {
                throw new IOException("reconcile: " + e.getMessage(), e);
            }
        } else {
            LOG.warn("the Kubernetes API did not answer: keeping every lease and attachment until the next start");
        }
        // 3. Replay the flows of every attachment whose port is still on the bridge (ofports may have changed).
        int kept = 0;
        PodDatapath dp = datapath.isResolvable() ? datapath.get() : null;
        for (PodInterface p : store.all()) {
            OvsPort port = portsByAttachment.get(p.containerId() + "/" + p.ifName());
            if (port == null || port.ofport() <= 0) {
                continue;
            }
            PodInterface now = new PodInterface(p.namespace(), p.name(), p.containerId(), p.ifName(), p.netns(), p.ips(),
                    p.mac(), p.hostIfName(), port.portUuid(), port.ofport());
            if (!now.equals(p)) {
                store.put(now);
            }
            try {
                // attachments of an agent that did not pin their port yet (see PodNetworkService.addLocked)
                ovsdb.requestOfport(p.hostIfName(), port.ofport());
            } catch (RuntimeException | dev.weft.agent.ovsdb.OvsdbException e) {
                LOG.warnf("cannot pin ofport %d of %s: %s", port.ofport(), p.hostIfName(), e.getMessage());
            }
            if (dp != null) {
                try {
                    dp.podAdded(now);
                } catch (PodDatapath.DatapathException e) {
                    LOG.warnf("replaying flows of %s failed: %s", p.key(), e.getMessage());
                }
            }
            kept++;
        }
        Outcome o = new Outcome(kept, released, portsRemoved, adopted, apiPods.isPresent());
        LOG.infof("reconciled attachments: %s", o);
        return o;
    }

    /**
     * After a reconnection to the switch: every stored attachment whose port Open vSwitch now numbers differently (an
     * ovs-vswitchd restart renumbers ports it has no {@code ofport_request} for, when a port added while it was down
     * took their number first) gets its flows moved to the new number, and is stored with it. Returns how many moved.
     * The flows of the old numbers are removed first, then every pod is installed on its new number, then the pods
     * that hold an old number now are installed again (removing the old flows removed theirs).
     */
    public synchronized int repairOfports() {
        PodDatapath dp = datapath.isResolvable() ? datapath.get() : null;
        Map<String, OvsPort> ports = new HashMap<>();
        try {
            for (OvsPort p : ovsdb.listPorts(config.bridge())) {
                ports.put(p.name(), p);
            }
        } catch (dev.weft.agent.ovsdb.OvsdbException e) {
            LOG.warnf("cannot check the pods' OpenFlow ports: %s", e.getMessage());
            return 0;
        }
        List<PodInterface[]> moved = new java.util.ArrayList<>();
        Set<Integer> oldNumbers = new HashSet<>();
        for (PodInterface p : store.all()) {
            OvsPort port = ports.get(p.hostIfName());
            if (port != null && port.ofport() > 0 && port.ofport() != p.ofport()) {
                PodInterface now = new PodInterface(p.namespace(), p.name(), p.containerId(), p.ifName(), p.netns(),
                        p.ips(), p.mac(), p.hostIfName(), port.portUuid(), port.ofport());
                moved.add(new PodInterface[]{p, now});
                oldNumbers.add(p.ofport());
                LOG.warnf("pod %s: Open vSwitch moved its port %s from ofport %d to %d (ovs-vswitchd restarted):"
                        + " moving its flows", p.key(), p.hostIfName(), p.ofport(), port.ofport());
            }
        }
        if (moved.isEmpty()) {
            return 0;
        }
        try {
            for (PodInterface[] m : moved) {
                if (dp != null) {
                    dp.podRemoved(m[0]);
                }
            }
            for (PodInterface[] m : moved) {
                store.put(m[1]);
                if (dp != null) {
                    dp.podAdded(m[1]);
                }
            }
            if (dp != null) {
                for (PodInterface p : store.all()) {
                    if (oldNumbers.contains(p.ofport())) {
                        dp.podAdded(p);
                    }
                }
            }
            for (PodInterface[] m : moved) {
                ovsdb.requestOfport(m[1].hostIfName(), m[1].ofport());
            }
        } catch (PodDatapath.DatapathException | IOException e) {
            LOG.warnf("moving the flows of renumbered pod ports failed: %s", e.getMessage());
        }
        return moved.size();
    }

    private static CniInvocation invocationFor(String containerId, String ifName) {
        return new CniInvocation(containerId, "", ifName, "", "", "", "1.0.0", "weft", null);
    }

    /** namespace/name of every pod the API places on this node; empty when the API did not answer. */
    Optional<Set<String>> podsOnThisNode() {
        String node = config.resolvedNodeName();
        try {
            Set<String> keys = new HashSet<>();
            List<Pod> listed = kubernetes.pods().inAnyNamespace().withField("spec.nodeName", node).list().getItems();
            if (listed.isEmpty()) {
                // Releasing on an empty answer must not depend on the server honouring the field selector (some test
                // servers answer none): confirm with an unfiltered list before declaring every pod gone.
                listed = kubernetes.pods().inAnyNamespace().list().getItems();
            }
            for (Pod p : listed) {
                // Filter here too: not every API server honours the field selector.
                if (p.getSpec() != null && node.equals(p.getSpec().getNodeName())) {
                    keys.add(p.getMetadata().getNamespace() + "/" + p.getMetadata().getName());
                }
            }
            return Optional.of(keys);
        } catch (RuntimeException e) {
            LOG.warnf("cannot list the pods of node %s: %s", node, e.getMessage());
            return Optional.empty();
        }
    }
}
