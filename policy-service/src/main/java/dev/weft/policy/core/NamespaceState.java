package dev.weft.policy.core;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * One namespace: its labels, its pods indexed by name and by label, and the namespace-scoped groups indexed by their
 * anchor label, so that a pod event evaluates only the groups that can select it and a new group reads only the pods
 * that can match it.
 */
final class NamespaceState {

    final String name;
    Map<String, String> labels = Map.of();
    /** False for a namespace only known from its pods (the Namespace event has not arrived, or it was deleted). */
    boolean exists;
    final HashMap<String, PodState> pods = new HashMap<>(8);
    /** label key -> value -> pods with that label. */
    final HashMap<String, HashMap<String, HashSet<PodState>>> podsByLabel = new HashMap<>(4);
    /** anchor key -> anchor value -> namespace-scoped groups whose anchor requirement accepts that value. */
    final HashMap<String, HashMap<String, HashSet<Group>>> groupsByAnchor = new HashMap<>(4);
    /** Namespace-scoped groups without an anchor (empty selector, only NotIn/Exists/...). */
    final HashSet<Group> unanchoredGroups = new HashSet<>(2);

    NamespaceState(String name) {
        this.name = name;
    }

    void index(PodState p) {
        pods.put(p.name, p);
        for (var e : p.labels.entrySet()) {
            podsByLabel.computeIfAbsent(e.getKey(), k -> new HashMap<>(2))
                    .computeIfAbsent(e.getValue(), v -> new HashSet<>(4)).add(p);
        }
    }

    void unindex(PodState p) {
        pods.remove(p.name, p);
        for (var e : p.labels.entrySet()) {
            var byValue = podsByLabel.get(e.getKey());
            if (byValue == null) {
                continue;
            }
            Set<PodState> set = byValue.get(e.getValue());
            if (set != null && set.remove(p) && set.isEmpty()) {
                byValue.remove(e.getValue());
                if (byValue.isEmpty()) {
                    podsByLabel.remove(e.getKey());
                }
            }
        }
    }

    void addGroup(Group g) {
        Selector.Requirement a = g.key.podSelector().anchor();
        if (a == null) {
            unanchoredGroups.add(g);
            return;
        }
        var byValue = groupsByAnchor.computeIfAbsent(a.key(), k -> new HashMap<>(2));
        for (String v : a.values()) {
            byValue.computeIfAbsent(v, x -> new HashSet<>(2)).add(g);
        }
    }

    void removeGroup(Group g) {
        Selector.Requirement a = g.key.podSelector().anchor();
        if (a == null) {
            unanchoredGroups.remove(g);
            return;
        }
        var byValue = groupsByAnchor.get(a.key());
        if (byValue == null) {
            return;
        }
        for (String v : a.values()) {
            Set<Group> set = byValue.get(v);
            if (set != null && set.remove(g) && set.isEmpty()) {
                byValue.remove(v);
            }
        }
        if (byValue.isEmpty()) {
            groupsByAnchor.remove(a.key());
        }
    }

    /** Namespace-scoped groups that may select a pod with these labels. */
    void candidateGroups(Map<String, String> podLabels, Set<Group> out) {
        out.addAll(unanchoredGroups);
        if (groupsByAnchor.isEmpty()) {
            return;
        }
        for (var e : podLabels.entrySet()) {
            var byValue = groupsByAnchor.get(e.getKey());
            if (byValue != null) {
                Set<Group> set = byValue.get(e.getValue());
                if (set != null) {
                    out.addAll(set);
                }
            }
        }
    }

    /** Pods of this namespace that may match the selector (all pods when it has no anchor). */
    Iterable<PodState> candidatePods(Selector selector) {
        Selector.Requirement a = selector.anchor();
        if (a == null) {
            return pods.values();
        }
        var byValue = podsByLabel.get(a.key());
        if (byValue == null) {
            return java.util.List.of();
        }
        if (a.values().size() == 1) {
            Set<PodState> s = byValue.get(a.values().getFirst());
            return s == null ? java.util.List.of() : s;
        }
        java.util.List<PodState> out = new java.util.ArrayList<>();
        for (String v : a.values()) {
            Set<PodState> s = byValue.get(v);
            if (s != null) {
                out.addAll(s);
            }
        }
        return out;
    }

    boolean unused() {
        return !exists && pods.isEmpty() && unanchoredGroups.isEmpty() && groupsByAnchor.isEmpty();
    }
}
