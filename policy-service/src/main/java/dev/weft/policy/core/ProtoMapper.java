package dev.weft.policy.core;

import dev.weft.proto.controlplane.v1.AddressGroup;
import dev.weft.proto.controlplane.v1.AppliedToGroup;
import dev.weft.proto.controlplane.v1.Direction;
import dev.weft.proto.controlplane.v1.GroupPatch;
import dev.weft.proto.controlplane.v1.IpBlock;
import dev.weft.proto.controlplane.v1.NetworkPolicy;
import dev.weft.proto.controlplane.v1.NetworkPolicyPeer;
import dev.weft.proto.controlplane.v1.NetworkPolicyRule;
import dev.weft.proto.controlplane.v1.NetworkPolicySource;
import dev.weft.proto.controlplane.v1.ObjectKind;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyType;
import dev.weft.proto.controlplane.v1.Protocol;
import dev.weft.proto.controlplane.v1.Service;

import java.util.Collection;

/** Internal objects to their wire form (controlplane.proto). */
final class ProtoMapper {

    private ProtoMapper() {
    }

    /** All members that have an IP: address groups are matched by IP, a pod without one matches nothing yet. */
    static AddressGroup addressGroup(Group g) {
        AddressGroup.Builder b = AddressGroup.newBuilder().setName(g.name());
        for (PodState p : g.members) {
            if (p.hasIps()) {
                b.addMembers(p.member());
            }
        }
        return b.build();
    }

    /** Only the members hosted on {@code node}. */
    static AppliedToGroup appliedToGroup(Group g, String node) {
        AppliedToGroup.Builder b = AppliedToGroup.newBuilder().setName(g.name());
        for (PodState p : g.members) {
            if (node.equals(p.node)) {
                b.addMembers(p.member());
            }
        }
        return b.build();
    }

    /** Patch for the address view; null when nothing visible changed. */
    static GroupPatch addressPatch(Group g, Collection<PodState> added, Collection<PodState> removed) {
        GroupPatch.Builder b = GroupPatch.newBuilder().setName(g.name());
        for (PodState p : removed) {
            if (p.hasIps()) {
                b.addRemovedMembers(p.member());
            }
        }
        for (PodState p : added) {
            if (p.hasIps()) {
                b.addAddedMembers(p.member());
            }
        }
        return b.getAddedMembersCount() + b.getRemovedMembersCount() == 0 ? null : b.build();
    }

    /** Patch for the applied-to view of {@code node}; null when nothing on that node changed. */
    static GroupPatch appliedToPatch(Group g, String node, Collection<PodState> added, Collection<PodState> removed) {
        GroupPatch.Builder b = GroupPatch.newBuilder().setName(g.name());
        for (PodState p : removed) {
            if (node.equals(p.node)) {
                b.addRemovedMembers(p.member());
            }
        }
        for (PodState p : added) {
            if (node.equals(p.node)) {
                b.addAddedMembers(p.member());
            }
        }
        return b.getAddedMembersCount() + b.getRemovedMembersCount() == 0 ? null : b.build();
    }

    static NetworkPolicy policy(PolicyState s) {
        NetworkPolicy cached = s.proto;
        if (cached != null) {
            return cached;
        }
        CompiledPolicy c = s.compiled;
        NetworkPolicy.Builder b = NetworkPolicy.newBuilder()
                .setName(s.uid)
                .setSource(NetworkPolicySource.newBuilder().setNamespace(c.namespace()).setName(c.name())
                        .setUid(c.uid()).setGeneration(c.generation()))
                .addAppliedToGroups(s.appliedTo.name());
        for (CompiledPolicy.Rule r : c.rules()) {
            NetworkPolicyPeer.Builder peer = NetworkPolicyPeer.newBuilder();
            for (GroupKey k : r.peerGroups()) {
                peer.addAddressGroups(k.hashName());
            }
            for (CompiledPolicy.IpBlock ip : r.ipBlocks()) {
                peer.addIpBlocks(IpBlock.newBuilder().setCidr(ip.cidr()).addAllExcept(ip.except()));
            }
            NetworkPolicyRule.Builder rb = NetworkPolicyRule.newBuilder()
                    .setDirection(r.direction() == CompiledPolicy.Direction.IN ? Direction.IN : Direction.OUT)
                    .setIndex(r.index())
                    .setPeer(peer);
            for (CompiledPolicy.Port p : r.ports()) {
                Service.Builder sb = Service.newBuilder().setProtocol(Protocol.valueOf(p.protocol().name()));
                if (p.name() != null) {
                    sb.setPortName(p.name());
                } else if (p.number() != 0) {
                    sb.setPortNumber(p.number()).setEndPort(p.endPort());
                }
                rb.addServices(sb);
            }
            b.addRules(rb);
        }
        if (c.ingressIsolated()) {
            b.addPolicyTypes(PolicyType.INGRESS);
        }
        if (c.egressIsolated()) {
            b.addPolicyTypes(PolicyType.EGRESS);
        }
        b.setLogDenied(c.logDenied());
        return s.proto = b.build();
    }

    static PolicyEvent.Builder event(PolicyEvent.Type type, ObjectKind kind, String name) {
        return PolicyEvent.newBuilder().setType(type).setKind(kind).setName(name);
    }
}
