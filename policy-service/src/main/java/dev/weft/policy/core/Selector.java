package dev.weft.policy.core;

import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.LabelSelectorRequirement;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * A normalised Kubernetes label selector: matchLabels become single-value {@code In} requirements, requirements are
 * sorted and their values de-duplicated and sorted, so two selectors that select the same pods by the same rules have
 * the same {@link #canonical()} form. Groups are shared by that form.
 */
public final class Selector {

    public enum Op { IN, NOT_IN, EXISTS, DOES_NOT_EXIST }

    public record Requirement(String key, Op op, List<String> values) {

        boolean matches(Map<String, String> labels) {
            String v = labels.get(key);
            return switch (op) {
                case IN -> v != null && (values.size() == 1 ? values.getFirst().equals(v) : values.contains(v));
                case NOT_IN -> v == null || !values.contains(v);
                case EXISTS -> v != null;
                case DOES_NOT_EXIST -> v == null;
            };
        }

        void appendTo(StringBuilder sb) {
            switch (op) {
                case IN -> sb.append(key).append(" in (").append(String.join(",", values)).append(')');
                case NOT_IN -> sb.append(key).append(" notin (").append(String.join(",", values)).append(')');
                case EXISTS -> sb.append(key);
                case DOES_NOT_EXIST -> sb.append('!').append(key);
            }
        }
    }

    /** The empty selector: selects everything. */
    public static final Selector ALL = new Selector(List.of());

    private static final Comparator<Requirement> ORDER = Comparator.comparing(Requirement::key)
            .thenComparing(Requirement::op)
            .thenComparing(r -> String.join(",", r.values()));

    private final Requirement[] requirements;
    private final String canonical;

    private Selector(List<Requirement> sorted) {
        this.requirements = sorted.toArray(Requirement[]::new);
        StringBuilder sb = new StringBuilder();
        for (Requirement r : requirements) {
            if (!sb.isEmpty()) {
                sb.append(',');
            }
            r.appendTo(sb);
        }
        this.canonical = sb.toString();
    }

    /**
     * Normalises a fabric8 selector. A null selector is the empty one (callers decide what "absent" means).
     *
     * @throws InvalidPolicyException for an unknown operator, In/NotIn without values, Exists/DoesNotExist with values
     */
    public static Selector of(LabelSelector selector) {
        if (selector == null) {
            return ALL;
        }
        List<Requirement> reqs = new ArrayList<>();
        Map<String, String> matchLabels = selector.getMatchLabels();
        if (matchLabels != null) {
            for (var e : matchLabels.entrySet()) {
                requireKey(e.getKey());
                if (e.getValue() == null) {
                    throw new InvalidPolicyException("matchLabels " + e.getKey() + " has no value");
                }
                reqs.add(new Requirement(e.getKey(), Op.IN, List.of(e.getValue())));
            }
        }
        List<LabelSelectorRequirement> exprs = selector.getMatchExpressions();
        if (exprs != null) {
            for (LabelSelectorRequirement x : exprs) {
                requireKey(x.getKey());
                List<String> values = x.getValues() == null ? List.of() : List.copyOf(new TreeSet<>(x.getValues()));
                Op op = switch (x.getOperator() == null ? "" : x.getOperator()) {
                    case "In" -> Op.IN;
                    case "NotIn" -> Op.NOT_IN;
                    case "Exists" -> Op.EXISTS;
                    case "DoesNotExist" -> Op.DOES_NOT_EXIST;
                    default -> throw new InvalidPolicyException(
                            "unknown label selector operator '" + x.getOperator() + "' for key " + x.getKey());
                };
                boolean needsValues = op == Op.IN || op == Op.NOT_IN;
                if (needsValues && values.isEmpty()) {
                    throw new InvalidPolicyException("operator " + x.getOperator() + " on " + x.getKey() + " needs values");
                }
                if (!needsValues && !values.isEmpty()) {
                    throw new InvalidPolicyException("operator " + x.getOperator() + " on " + x.getKey() + " takes no values");
                }
                reqs.add(new Requirement(x.getKey(), op, values));
            }
        }
        if (reqs.isEmpty()) {
            return ALL;
        }
        reqs.sort(ORDER);
        // Identical requirements (matchLabels app=a and expression app In [a]) are one requirement.
        List<Requirement> distinct = new ArrayList<>(reqs.size());
        for (Requirement r : reqs) {
            if (distinct.isEmpty() || !distinct.getLast().equals(r)) {
                distinct.add(r);
            }
        }
        return new Selector(distinct);
    }

    private static void requireKey(String key) {
        if (key == null || key.isEmpty()) {
            throw new InvalidPolicyException("label selector with an empty key");
        }
    }

    public boolean matches(Map<String, String> labels) {
        for (Requirement r : requirements) {
            if (!r.matches(labels)) {
                return false;
            }
        }
        return true;
    }

    public boolean isAll() {
        return requirements.length == 0;
    }

    /**
     * The requirement used to index groups and to pick candidate pods: an {@code In} requirement (a pod must carry one
     * of its values), the one with the fewest values; null when there is none (the selector needs a namespace scan).
     */
    public Requirement anchor() {
        Requirement best = null;
        for (Requirement r : requirements) {
            if (r.op() == Op.IN && (best == null || r.values().size() < best.values().size())) {
                best = r;
            }
        }
        return best;
    }

    public List<Requirement> requirements() {
        return List.of(requirements);
    }

    public String canonical() {
        return canonical;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Selector s && s.canonical.equals(canonical);
    }

    @Override
    public int hashCode() {
        return canonical.hashCode();
    }

    @Override
    public String toString() {
        return canonical.isEmpty() ? "<all>" : canonical;
    }
}
