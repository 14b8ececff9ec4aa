package dev.weft.policy;

import dev.weft.proto.controlplane.v1.GroupMember;
import dev.weft.proto.controlplane.v1.NetworkPolicy;
import dev.weft.proto.controlplane.v1.PolicyEvent;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * What an agent holds after applying a node's PolicyEvents, with the stream contract checked on every event: no
 * ADDED twice, patches and DELETED only for known objects, a policy only after its groups, a group deleted only when
 * no policy refers to it, patches apply removed members before added ones. Shared by engine and gRPC tests.
 */
public final class AgentView {

    public final Map<String, Map<String, GroupMember>> addressGroups = new HashMap<>();
    public final Map<String, Map<String, GroupMember>> appliedToGroups = new HashMap<>();
    public final Map<String, NetworkPolicy> policies = new HashMap<>();
    public final List<PolicyEvent> log = new ArrayList<>();
    public boolean synced;

    public synchronized void reset() {
        addressGroups.clear();
        appliedToGroups.clear();
        policies.clear();
        synced = false;
    }

    private static String key(GroupMember m) {
        return m.getPod().getNamespace() + "/" + m.getPod().getName();
    }

    private static Map<String, GroupMember> members(List<GroupMember> list) {
        Map<String, GroupMember> m = new HashMap<>();
        list.forEach(x -> m.put(key(x), x));
        return m;
    }

    public synchronized void apply(PolicyEvent e) {
        log.add(e);
        switch (e.getType()) {
            case SYNC_COMPLETE -> synced = true;
            case ADDED -> {
                switch (e.getKind()) {
                    case ADDRESS_GROUP -> put(addressGroups, e.getName(), members(e.getAddressGroup().getMembersList()));
                    case APPLIED_TO_GROUP -> put(appliedToGroups, e.getName(), members(e.getAppliedToGroup().getMembersList()));
                    case NETWORK_POLICY -> {
                        checkRefs(e.getNetworkPolicy());
                        if (policies.put(e.getName(), e.getNetworkPolicy()) != null) {
                            throw new AssertionError("policy ADDED twice: " + e.getName());
                        }
                    }
                    default -> throw new AssertionError("bad kind " + e);
                }
            }
            case MODIFIED -> {
                switch (e.getKind()) {
                    case ADDRESS_GROUP -> patch(addressGroups, e);
                    case APPLIED_TO_GROUP -> patch(appliedToGroups, e);
                    case NETWORK_POLICY -> {
                        checkRefs(e.getNetworkPolicy());
                        if (policies.put(e.getName(), e.getNetworkPolicy()) == null) {
                            throw new AssertionError("MODIFIED unknown policy " + e.getName());
                        }
                    }
                    default -> throw new AssertionError("bad kind " + e);
                }
            }
            case DELETED -> {
                switch (e.getKind()) {
                    case ADDRESS_GROUP -> {
                        if (policies.values().stream().anyMatch(p -> p.getRulesList().stream()
                                .anyMatch(r -> r.getPeer().getAddressGroupsList().contains(e.getName())))) {
                            throw new AssertionError("address group deleted while in use: " + e.getName());
                        }
                        remove(addressGroups, e.getName());
                    }
                    case APPLIED_TO_GROUP -> {
                        if (policies.values().stream().anyMatch(p -> p.getAppliedToGroupsList().contains(e.getName()))) {
                            throw new AssertionError("applied-to group deleted while in use: " + e.getName());
                        }
                        remove(appliedToGroups, e.getName());
                    }
                    case NETWORK_POLICY -> {
                        if (policies.remove(e.getName()) == null) {
                            throw new AssertionError("DELETED unknown policy " + e.getName());
                        }
                    }
                    default -> throw new AssertionError("bad kind " + e);
                }
            }
            default -> throw new AssertionError("bad type " + e);
        }
    }

    private void checkRefs(NetworkPolicy p) {
        for (String g : p.getAppliedToGroupsList()) {
            if (!appliedToGroups.containsKey(g)) {
                throw new AssertionError("policy " + p.getName() + " before its applied-to group " + g);
            }
        }
        p.getRulesList().forEach(r -> r.getPeer().getAddressGroupsList().forEach(g -> {
            if (!addressGroups.containsKey(g)) {
                throw new AssertionError("policy " + p.getName() + " before its address group " + g);
            }
        }));
    }

    private static void put(Map<String, Map<String, GroupMember>> m, String name, Map<String, GroupMember> members) {
        if (m.put(name, members) != null) {
            throw new AssertionError("group ADDED twice: " + name);
        }
    }

    private static void remove(Map<String, Map<String, GroupMember>> m, String name) {
        if (m.remove(name) == null) {
            throw new AssertionError("DELETED unknown group " + name);
        }
    }

    private static void patch(Map<String, Map<String, GroupMember>> m, PolicyEvent e) {
        Map<String, GroupMember> g = m.get(e.getName());
        if (g == null) {
            throw new AssertionError("patch for unknown group " + e.getName());
        }
        for (GroupMember r : e.getGroupPatch().getRemovedMembersList()) {
            if (!r.equals(g.remove(key(r)))) {
                throw new AssertionError("patch removes a member it does not have: " + r);
            }
        }
        for (GroupMember a : e.getGroupPatch().getAddedMembersList()) {
            if (g.put(key(a), a) != null) {
                throw new AssertionError("patch adds a member twice: " + a);
            }
        }
    }

    public synchronized Set<String> addressMembers(String group) {
        Map<String, GroupMember> g = addressGroups.get(group);
        return g == null ? null : new TreeSet<>(g.keySet());
    }

    public synchronized Set<String> appliedToMembers(String group) {
        Map<String, GroupMember> g = appliedToGroups.get(group);
        return g == null ? null : new TreeSet<>(g.keySet());
    }

    public synchronized Set<String> policyNames() {
        return new TreeSet<>(policies.keySet());
    }

    /** Same content as a fresh snapshot would give (names and members), for re-sync comparisons. */
    public synchronized String digest() {
        StringBuilder b = new StringBuilder();
        for (var groups : List.of(addressGroups, appliedToGroups)) {
            new java.util.TreeMap<>(groups).forEach((name, members) -> b.append(name).append(
                    new java.util.TreeMap<>(members).entrySet().stream()
                            .map(x -> x.getKey() + x.getValue().getIpsList()).toList()).append('\n'));
        }
        new java.util.TreeMap<>(policies).forEach((name, p) -> b.append(name).append(':').append(p).append('\n'));
        return b.toString();
    }
}
