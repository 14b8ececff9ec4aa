package dev.weft.policy.core;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Set;

/**
 * A set of pods selected by one normalised selection, shared by every policy that uses it, as AppliedToGroup (the
 * policy applies to its pods) and/or as AddressGroup (rule peers). Members are the selected pods that are scheduled.
 */
public final class Group {

    final GroupKey key;
    private String name;
    final HashSet<PodState> members = new HashSet<>(4);
    /** node -> number of members on it: the span of the group as an AppliedToGroup. */
    final HashMap<String, int[]> membersPerNode = new HashMap<>(4);
    /** Policies that apply to this group's pods. */
    final HashSet<PolicyState> appliedToOf = new HashSet<>(2);
    /** Policies whose rules use this group as peer. */
    final HashSet<PolicyState> addressOf = new HashSet<>(2);
    /**
     * As an AppliedToGroup: address group -> number of policies applied to this group that use it. Spans propagate
     * along these edges, once per (applied-to group, address group) pair rather than once per policy: 10,000 policies
     * sharing their groups cost one propagation, not 10,000.
     */
    final HashMap<Group, int[]> addressTargets = new HashMap<>(2);
    /**
     * node -> number of applied-to groups (with an {@link #addressTargets} edge to this group) that have members on
     * it: the span of this group as an AddressGroup.
     */
    final HashMap<String, int[]> addressSpan = new HashMap<>(4);
    boolean live = true;

    Group(GroupKey key) {
        this.key = key;
    }

    /** Hash of the normalised selection, computed on first use (the computation never needs it). */
    public String name() {
        String n = name;
        if (n == null) {
            name = n = key.hashName();
        }
        return n;
    }

    public GroupKey key() {
        return key;
    }

    public Set<PodState> members() {
        return members;
    }

    public Set<String> appliedToSpan() {
        return membersPerNode.keySet();
    }

    public Set<String> addressGroupSpan() {
        return addressSpan.keySet();
    }

    boolean usedAsAppliedTo() {
        return !appliedToOf.isEmpty();
    }

    boolean unused() {
        return appliedToOf.isEmpty() && addressOf.isEmpty();
    }

    @Override
    public String toString() {
        return key.canonical();
    }
}
