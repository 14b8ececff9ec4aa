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

    public Outcome reconcile() throws IOException {
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
