package dev.weft.agent.policy;

import dev.weft.proto.controlplane.v1.GroupMember;
import dev.weft.proto.controlplane.v1.NetworkPolicy;
import dev.weft.proto.controlplane.v1.PolicyEvent;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * This node's view of the controlplane: address groups, applied-to groups (members on this node) and policies, as
 * received from policy-service. A new stream builds a fresh state that replaces the old one at SYNC_COMPLETE.
 */
public final class PolicyState {

    final Map<String, Map<String, GroupMember>> addressGroups = new LinkedHashMap<>();
    final Map<String, Map<String, GroupMember>> appliedToGroups = new LinkedHashMap<>();
    final Map<String, NetworkPolicy> policies = new LinkedHashMap<>();

    static String memberKey(GroupMember m) {
        return m.getPod().getNamespace() + "/" + m.getPod().getName() + "|" + String.join(",", m.getIpsList());
    }

    public Map<String, NetworkPolicy> policies() {
        return policies;
    }

    /** Applies one event; returns a description of a problem (the event is then ignored), or null. */
    public String apply(PolicyEvent e) {
        switch (e.getKind()) {
            case ADDRESS_GROUP -> {
                return applyGroup(addressGroups, e, e.hasAddressGroup() ? e.getAddressGroup().getMembersList() : null);
            }
            case APPLIED_TO_GROUP -> {
                return applyGroup(appliedToGroups, e, e.hasAppliedToGroup() ? e.getAppliedToGroup().getMembersList() : null);
            }
            case NETWORK_POLICY -> {
                switch (e.getType()) {
                    case ADDED, MODIFIED -> {
                        if (!e.hasNetworkPolicy()) {
                            return "policy event " + e.getName() + " without a policy";
                        }
                        policies.put(e.getNetworkPolicy().getName(), e.getNetworkPolicy());
                    }
                    case DELETED -> policies.remove(e.getName());
                    default -> {
                        return "unexpected " + e.getType() + " for policy " + e.getName();
                    }
                }
                return null;
            }
            default -> {
                return "event of unknown kind " + e.getKind() + " (" + e.getName() + ")";
            }
        }
    }

    private static String applyGroup(Map<String, Map<String, GroupMember>> groups, PolicyEvent e,
                                     java.util.List<GroupMember> members) {
        switch (e.getType()) {
            case ADDED -> {
                if (members == null) {
                    return "group event " + e.getName() + " without a group";
                }
                Map<String, GroupMember> m = new LinkedHashMap<>();
                members.forEach(x -> m.put(memberKey(x), x));
                groups.put(e.getName(), m);
            }
            case MODIFIED -> {
                if (e.hasGroupPatch()) {
                    Map<String, GroupMember> m = groups.computeIfAbsent(e.getName(), k -> new LinkedHashMap<>());
                    e.getGroupPatch().getRemovedMembersList().forEach(x -> m.remove(memberKey(x)));
                    e.getGroupPatch().getAddedMembersList().forEach(x -> m.put(memberKey(x), x));
                } else if (members != null) {
                    Map<String, GroupMember> m = new LinkedHashMap<>();
                    members.forEach(x -> m.put(memberKey(x), x));
                    groups.put(e.getName(), m);
                } else {
                    return "group MODIFIED " + e.getName() + " without a patch";
                }
            }
            case DELETED -> groups.remove(e.getName());
            default -> {
                return "unexpected " + e.getType() + " for group " + e.getName();
            }
        }
        return null;
    }
}
