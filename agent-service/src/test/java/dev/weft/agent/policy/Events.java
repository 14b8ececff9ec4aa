package dev.weft.agent.policy;

import dev.weft.proto.controlplane.v1.AddressGroup;
import dev.weft.proto.controlplane.v1.AppliedToGroup;
import dev.weft.proto.controlplane.v1.Direction;
import dev.weft.proto.controlplane.v1.GroupMember;
import dev.weft.proto.controlplane.v1.GroupPatch;
import dev.weft.proto.controlplane.v1.IpBlock;
import dev.weft.proto.controlplane.v1.NamedPort;
import dev.weft.proto.controlplane.v1.NetworkPolicy;
import dev.weft.proto.controlplane.v1.NetworkPolicyPeer;
import dev.weft.proto.controlplane.v1.NetworkPolicyRule;
import dev.weft.proto.controlplane.v1.NetworkPolicySource;
import dev.weft.proto.controlplane.v1.ObjectKind;
import dev.weft.proto.controlplane.v1.PodReference;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyType;
import dev.weft.proto.controlplane.v1.Protocol;
import dev.weft.proto.controlplane.v1.Service;

import java.util.List;

/** Generated controlplane events, shaped as policy-service sends them. */
public final class Events {

    private Events() {
    }

    public static GroupMember member(String ns, String name, String ip, NamedPort... ports) {
        return GroupMember.newBuilder().setPod(PodReference.newBuilder().setNamespace(ns).setName(name)).addIps(ip)
                .addAllNamedPorts(List.of(ports)).setNodeName("n1").build();
    }

    public static NamedPort namedPort(String name, int port) {
        return NamedPort.newBuilder().setName(name).setProtocol(Protocol.TCP).setPort(port).build();
    }

    public static PolicyEvent addressGroup(String name, GroupMember... members) {
        return PolicyEvent.newBuilder().setType(PolicyEvent.Type.ADDED).setKind(ObjectKind.ADDRESS_GROUP).setName(name)
                .setAddressGroup(AddressGroup.newBuilder().setName(name).addAllMembers(List.of(members))).build();
    }

    public static PolicyEvent addressGroupPatch(String name, List<GroupMember> added, List<GroupMember> removed) {
        return PolicyEvent.newBuilder().setType(PolicyEvent.Type.MODIFIED).setKind(ObjectKind.ADDRESS_GROUP).setName(name)
                .setGroupPatch(GroupPatch.newBuilder().setName(name).addAllAddedMembers(added).addAllRemovedMembers(removed))
                .build();
    }

    public static PolicyEvent appliedToGroup(String name, GroupMember... members) {
        return PolicyEvent.newBuilder().setType(PolicyEvent.Type.ADDED).setKind(ObjectKind.APPLIED_TO_GROUP).setName(name)
                .setAppliedToGroup(AppliedToGroup.newBuilder().setName(name).addAllMembers(List.of(members))).build();
    }

    public static PolicyEvent policy(PolicyEvent.Type type, NetworkPolicy p) {
        return PolicyEvent.newBuilder().setType(type).setKind(ObjectKind.NETWORK_POLICY).setName(p.getName())
                .setNetworkPolicy(p).build();
    }

    public static PolicyEvent deleted(ObjectKind kind, String name) {
        return PolicyEvent.newBuilder().setType(PolicyEvent.Type.DELETED).setKind(kind).setName(name).build();
    }

    public static PolicyEvent syncComplete() {
        return PolicyEvent.newBuilder().setType(PolicyEvent.Type.SYNC_COMPLETE).build();
    }

    public static NetworkPolicyRule ingressFrom(int index, List<String> addressGroups, List<IpBlock> blocks, Service... services) {
        return NetworkPolicyRule.newBuilder().setDirection(Direction.IN).setIndex(index)
                .setPeer(NetworkPolicyPeer.newBuilder().addAllAddressGroups(addressGroups).addAllIpBlocks(blocks))
                .addAllServices(List.of(services)).build();
    }

    public static NetworkPolicyRule egressTo(int index, List<String> addressGroups, Service... services) {
        return NetworkPolicyRule.newBuilder().setDirection(Direction.OUT).setIndex(index)
                .setPeer(NetworkPolicyPeer.newBuilder().addAllAddressGroups(addressGroups))
                .addAllServices(List.of(services)).build();
    }

    public static NetworkPolicyRule egressToBlocks(int index, List<IpBlock> blocks, Service... services) {
        return NetworkPolicyRule.newBuilder().setDirection(Direction.OUT).setIndex(index)
                .setPeer(NetworkPolicyPeer.newBuilder().addAllIpBlocks(blocks)).addAllServices(List.of(services)).build();
    }

    public static Service port(Protocol p, int port) {
        return Service.newBuilder().setProtocol(p).setPortNumber(port).build();
    }

    public static Service portRange(Protocol p, int from, int to) {
        return Service.newBuilder().setProtocol(p).setPortNumber(from).setEndPort(to).build();
    }

    public static Service namedPortService(String name) {
        return Service.newBuilder().setProtocol(Protocol.TCP).setPortName(name).build();
    }

    public static IpBlock block(String cidr, String... except) {
        return IpBlock.newBuilder().setCidr(cidr).addAllExcept(List.of(except)).build();
    }

    public static NetworkPolicy policy(String name, String ns, String source, long generation, List<String> appliedTo,
                                List<PolicyType> types, NetworkPolicyRule... rules) {
        return NetworkPolicy.newBuilder().setName(name)
                .setSource(NetworkPolicySource.newBuilder().setNamespace(ns).setName(source).setUid(name).setGeneration(generation))
                .addAllAppliedToGroups(appliedTo).addAllPolicyTypes(types).addAllRules(List.of(rules)).build();
    }
}
