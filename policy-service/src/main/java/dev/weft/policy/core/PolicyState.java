package dev.weft.policy.core;

import java.util.List;
import java.util.Set;

/** One Kubernetes NetworkPolicy as the engine tracks it: its last valid compiled form and the groups it uses. */
public final class PolicyState {

    final String uid;
    final String namespace;
    final String name;
    /** The source's generation when it was last seen (valid or not). */
    long observedGeneration;
    /** The last valid form; null if the policy was never valid. Agents keep enforcing it while a later edit is invalid. */
    CompiledPolicy compiled;
    Group appliedTo;
    List<Group> addressGroups = List.of();
    /** Why the current generation is not computed; null when it is. */
    String error;
    boolean live = true;
    boolean statusDirty;
    /** The spec last seen (valid or not): an update with an equal spec is ignored. */
    io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicySpec lastSpec;
    /** The weft.dev/log annotation last seen: a metadata-only update that toggles it is computed, others are not. */
    boolean lastLogDenied;
    dev.weft.proto.controlplane.v1.NetworkPolicy proto;

    PolicyState(String uid, String namespace, String name) {
        this.uid = uid;
        this.namespace = namespace;
        this.name = name;
    }

    boolean active() {
        return live && compiled != null;
    }

    /** Nodes hosting pods this policy applies to. */
    public Set<String> span() {
        return active() ? appliedTo.membersPerNode.keySet() : Set.of();
    }

    public String uid() {
        return uid;
    }

    public String namespace() {
        return namespace;
    }

    public String name() {
        return name;
    }

    public long observedGeneration() {
        return observedGeneration;
    }

    public CompiledPolicy compiled() {
        return compiled;
    }

    public Group appliedTo() {
        return appliedTo;
    }

    public List<Group> addressGroups() {
        return addressGroups;
    }

    public String error() {
        return error;
    }
}
