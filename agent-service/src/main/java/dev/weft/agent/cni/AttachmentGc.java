package dev.weft.agent.cni;

import dev.weft.agent.AgentConfig;
import dev.weft.agent.cni.GcInvocation.AttachmentId;
import dev.weft.agent.ipam.IpLease;
import dev.weft.agent.ipam.NodeIpAllocator;
import dev.weft.agent.node.PersistentPodInterfaceStore;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.ovsdb.OvsPort;
import dev.weft.agent.ovsdb.OvsdbClient;
import dev.weft.agent.ovsdb.OvsdbException;
import dev.weft.proto.cni.v1.ErrorCode;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Releases attachments nobody uses any more: their IP lease, OVS port, host interface, flows and stored state (all
 * through {@link PodNetworkService#del}, as a DEL would). Two ways in:
 * <ul>
 *   <li>CNI {@code GC} (spec 1.1): the runtime names the attachments it still uses; every other one is released.</li>
 *   <li>The periodic sweep: an attachment whose pod the Kubernetes API no longer places on this node, seen so in two
 *   sweeps in a row (a kubelet's DEL normally comes within seconds of the pod's deletion, and the sweep must not race
 *   it), is released. It covers runtimes that never call GC and DELs that were lost.</li>
 * </ul>
 * Either way an attachment whose pod the API still has on this node is never released, and nothing is released when
 * the API cannot be read. The attachments considered are the union of the IP leases, the stored attachments and the
 * OVS ports this agent created, so a lease without port and a port without lease are both found.
 */
@ApplicationScoped
public class AttachmentGc {

    private static final Logger LOG = Logger.getLogger(AttachmentGc.class);

    @Inject
    AgentConfig config;

    @Inject
    OvsdbClient ovsdb;

    @Inject
    NodeIpAllocator ipam;

    @Inject
    PersistentPodInterfaceStore store;

    @Inject
    PodNetworkService pods;

    @Inject
    AttachmentReconciler reconciler;

    /** Attachments seen with their pod gone in the last sweep. */
    private final Set<AttachmentId> suspects = new HashSet<>();

    /** One attachment as the agent knows it, from whichever of its records have it. */
    public record Known(AttachmentId id, String podNamespace, String podName, String ip) {
        String podKey() {
            return podNamespace + "/" + podName;
        }
    }

    /** What one GC or sweep did. */
    public record Outcome(List<Known> released, List<Known> keptPodAlive) {
    }

    /** CNI GC: releases every attachment not in {@code valid} whose pod the API does not have on this node. */
    public synchronized Outcome gc(GcInvocation gc) throws CniFailure {
        Set<String> alive = alivePods().orElseThrow(() -> new CniFailure(ErrorCode.TRY_AGAIN_LATER,
                "the Kubernetes API did not answer: cannot tell which pods are alive, nothing was released"));
        List<Known> candidates = known().values().stream().filter(k -> !gc.valid().contains(k.id())).toList();
        Outcome o = release(candidates, alive, "not in " + GcInvocation.VALID_ATTACHMENTS);
        LOG.infof("CNI GC: %d valid attachments, released %d, kept %d whose pod is alive", gc.valid().size(),
                o.released().size(), o.keptPodAlive().size());
        return o;
    }

    /** The periodic sweep (see the class comment). */
    public synchronized Outcome sweep() throws CniFailure {
        Optional<Set<String>> alive = alivePods();
        if (alive.isEmpty()) {
            LOG.debug("lease GC skipped: the Kubernetes API did not answer");
            return new Outcome(List.of(), List.of());
        }
        List<Known> dead = known().values().stream().filter(k -> !alive.get().contains(k.podKey())).toList();
        List<Known> confirmed = dead.stream().filter(k -> suspects.contains(k.id())).toList();
        suspects.clear();
        dead.stream().filter(k -> !confirmed.contains(k)).forEach(k -> suspects.add(k.id()));
        Outcome o = release(confirmed, alive.get(), "its pod is gone from the API");
        if (!o.released().isEmpty()) {
            LOG.infof("lease GC released %d attachments; %d more suspected", o.released().size(), suspects.size());
        }
        return o;
    }

    private Optional<Set<String>> alivePods() throws CniFailure {
        if (ipam.cidr().isEmpty()) {
            throw new CniFailure(ErrorCode.TRY_AGAIN_LATER, "the node network is not ready yet (leases not loaded)");
        }
        return reconciler.podsOnThisNode();
    }

    private Outcome release(List<Known> candidates, Set<String> alive, String why) throws CniFailure {
        List<Known> released = new ArrayList<>();
        List<Known> kept = new ArrayList<>();
        List<String> failed = new ArrayList<>();
        for (Known k : candidates) {
            if (alive.contains(k.podKey())) {
                kept.add(k);
                continue;
            }
            try {
                pods.del(new CniInvocation(k.id().containerId(), "", k.id().ifName(), "", "", "", "1.1.0", "weft", null));
                released.add(k);
                LOG.infof("released attachment %s/%s of %s (%s): %s", k.id().containerId(), k.id().ifName(), k.podKey(),
                        k.ip(), why);
            } catch (CniFailure e) {
                failed.add(k.id().containerId() + "/" + k.id().ifName() + ": " + e.getMessage());
            }
        }
        if (!failed.isEmpty()) {
            throw new CniFailure(ErrorCode.IO_FAILURE, "released " + released.size() + " attachments, could not release "
                    + failed.size() + ": " + String.join("; ", failed));
        }
        return new Outcome(released, kept);
    }

    /** Every attachment of this agent: leases, stored attachments and our OVS ports, by (container, ifname). */
    Map<AttachmentId, Known> known() throws CniFailure {
        Map<AttachmentId, Known> out = new LinkedHashMap<>();
        for (IpLease l : ipam.leases()) {
            AttachmentId id = new AttachmentId(l.containerId(), l.ifName());
            out.put(id, new Known(id, l.namespace(), l.name(), l.ip()));
        }
        for (PodInterface p : store.all()) {
            AttachmentId id = new AttachmentId(p.containerId(), p.ifName());
            out.putIfAbsent(id, new Known(id, p.namespace(), p.name(), p.ips().isEmpty() ? "" : p.ips().getFirst()));
        }
        try {
            for (OvsPort p : ovsdb.listPorts(config.bridge())) {
                Map<String, String> ids = p.externalIds();
                if (!PodNetworkService.OWNER_CNI.equals(ids.get(PodNetworkService.OWNER))) {
                    continue;
                }
                AttachmentId id = new AttachmentId(ids.getOrDefault("weft.dev/container-id", ""),
                        ids.getOrDefault("weft.dev/ifname", ""));
                out.putIfAbsent(id, new Known(id, ids.getOrDefault("weft.dev/pod-namespace", ""),
                        ids.getOrDefault("weft.dev/pod-name", ""), ids.getOrDefault("weft.dev/ip", "")));
            }
        } catch (OvsdbException e) {
            throw new CniFailure(ErrorCode.TRY_AGAIN_LATER, "Open vSwitch: " + e.getMessage());
        }
        return out;
    }
}
