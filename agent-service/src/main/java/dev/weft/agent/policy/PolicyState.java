package dev.weft.agent.policy;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import dev.weft.proto.controlplane.v1.GroupMember;
import dev.weft.proto.controlplane.v1.NamedPort;
import dev.weft.proto.controlplane.v1.NetworkPolicy;
import dev.weft.proto.controlplane.v1.PolicyEvent;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * This node's view of the controlplane: address groups, applied-to groups (members on this node) and policies, as
 * received from policy-service. A new stream builds a fresh state that replaces the old one at SYNC_COMPLETE.
 */
public final class PolicyState {

    final Map<String, Map<String, Member>> addressGroups = new LinkedHashMap<>();
    final Map<String, Map<String, Member>> appliedToGroups = new LinkedHashMap<>();
    final Map<String, NetworkPolicy> policies = new LinkedHashMap<>();

    private static final int[] NO_V4 = new int[0];
    private static final String[] NO_V6 = new String[0];
    private static final NamedPort[] NO_PORTS = new NamedPort[0];

    /**
     * A group member as the compiler needs it, kept compact (~130 bytes, not the ~400 of the proto object): groups
     * of thousands of peers are the agent's largest state after the flows themselves.
     *
     * @param podKey namespace/name, also the member's key in its group
     */
    record Member(String podKey, int[] ipv4, String[] ipv6, NamedPort[] namedPorts) {
        static Member of(GroupMember m) {
            String key = m.getPod().getNamespace() + "/" + m.getPod().getName();
            IpAddress[] ips = new IpAddress[m.getIpsCount()];
            int v4 = 0;
            for (int k = 0; k < ips.length; k++) {
                ips[k] = IpAddress.parse(m.getIps(k));
                if (ips[k].family() == AddressFamily.IPV4) {
                    v4++;
                }
            }
            int v6 = ips.length - v4;
            int[] a = v4 == 0 ? NO_V4 : new int[v4];
            String[] b = v6 == 0 ? NO_V6 : new String[v6];
            int i = 0;
            int j = 0;
            for (IpAddress ip : ips) {
                if (ip.family() == AddressFamily.IPV4) {
                    a[i++] = ip.ipv4Bits();
                } else {
                    b[j++] = ip.toString();
                }
            }
            NamedPort[] ports = m.getNamedPortsCount() == 0 ? NO_PORTS : m.getNamedPortsList().toArray(NamedPort[]::new);
            return new Member(key, a, b, ports);
        }
    }

    public Map<String, NetworkPolicy> policies() {
        return policies;
    }

    /** A group as weftctl shows it: its name and each member's pod (namespace/name) with its IPs. */
    public record GroupView(String name, java.util.List<MemberView> members) {
        public GroupView {
            members = java.util.List.copyOf(members);
        }
    }

    public record MemberView(String pod, java.util.List<String> ips) {
        public MemberView {
            ips = java.util.List.copyOf(ips);
        }
    }

    /** The address groups ({@code appliedTo} false) or applied-to groups, sorted by name, members sorted by pod. */
    public java.util.List<GroupView> groupViews(boolean appliedTo) {
        Map<String, Map<String, Member>> groups = appliedTo ? appliedToGroups : addressGroups;
        java.util.List<GroupView> out = new java.util.ArrayList<>(groups.size());
        for (var g : new java.util.TreeMap<>(groups).entrySet()) {
            java.util.List<MemberView> members = new java.util.ArrayList<>(g.getValue().size());
            for (Member m : new java.util.TreeMap<>(g.getValue()).values()) {
                java.util.List<String> ips = new java.util.ArrayList<>(m.ipv4().length + m.ipv6().length);
                for (int v4 : m.ipv4()) {
                    ips.add(IpAddress.ofIpv4(v4).toString());
                }
                ips.addAll(java.util.List.of(m.ipv6()));
                members.add(new MemberView(m.podKey(), ips));
            }
            out.add(new GroupView(g.getKey(), members));
        }
        return out;
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

    private static String applyGroup(Map<String, Map<String, Member>> groups, PolicyEvent e,
                                     java.util.List<GroupMember> members) {
        switch (e.getType()) {
            case ADDED -> {
                if (members == null) {
                    return "group event " + e.getName() + " without a group";
                }
                groups.put(e.getName(), toMap(members));
            }
            case MODIFIED -> {
                if (e.hasGroupPatch()) {
                    Map<String, Member> m = groups.computeIfAbsent(e.getName(), k -> new LinkedHashMap<>());
                    e.getGroupPatch().getRemovedMembersList().forEach(x ->
                            m.remove(x.getPod().getNamespace() + "/" + x.getPod().getName()));
                    e.getGroupPatch().getAddedMembersList().forEach(x -> {
                        Member mb = Member.of(x);
                        m.put(mb.podKey(), mb);
                    });
                } else if (members != null) {
                    groups.put(e.getName(), toMap(members));
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

    private static Map<String, Member> toMap(java.util.List<GroupMember> members) {
        Map<String, Member> m = new java.util.HashMap<>(members.size() * 4 / 3 + 1);
        for (GroupMember x : members) {
            Member mb = Member.of(x);
            m.put(mb.podKey(), mb);
        }
        return m;
    }
}
