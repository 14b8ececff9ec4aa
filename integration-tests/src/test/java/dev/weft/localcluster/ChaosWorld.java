package dev.weft.localcluster;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * What the chaos test has asked the cluster for: pods (namespace, name, node, role label) and NetworkPolicies drawn
 * from a family whose meaning is easy to state (pods selected by role or all pods of a namespace; Ingress, Egress or
 * both; rules with peers by role, by namespace, by both, or none, and an optional TCP port). It renders them as
 * manifests and is the model the reachability matrix is checked against: {@link #expected} evaluates the Kubernetes
 * NetworkPolicy semantics for this family (a pod isolated in a direction is reachable only if some rule of a policy
 * selecting it allows the peer and the port; both ends' policies must allow).
 */
final class ChaosWorld {
    static final List<String> NAMESPACES = List.of("chaos-a", "chaos-b");
    static final List<String> ROLES = List.of("red", "blue", "green");
    static final List<String> NODES = List.of("node1", "node2", "node3");

    record Pod(String ns, String name, String node, String role) {
        String key() {
            return ns + "/" + name;
        }
    }

    /** A peer: by role in the policy's namespace (ns null), by namespace (role null), or both. */
    record Peer(String ns, String role) {
    }

    /** A rule: peers (none: every peer) and a TCP port (null: every port). */
    record Rule(List<Peer> peers, Integer port) {
    }

    /** A policy: the pods of role {@code role} in {@code ns} (null: all of them), per direction null or its rules. */
    record Policy(String ns, String name, String role, List<Rule> ingress, List<Rule> egress) {
    }

    final Map<String, Pod> pods = new TreeMap<>();
    final Map<String, Policy> policies = new TreeMap<>();
    private int podSerial, policySerial;

    Pod newPod(Random rnd) {
        String ns = NAMESPACES.get(rnd.nextInt(NAMESPACES.size()));
        return new Pod(ns, "p" + podSerial++, NODES.get(rnd.nextInt(NODES.size())), ROLES.get(rnd.nextInt(ROLES.size())));
    }

    Policy newPolicy(Random rnd, String ns, String name) {
        String role = rnd.nextInt(4) == 0 ? null : ROLES.get(rnd.nextInt(ROLES.size()));
        int types = 1 + rnd.nextInt(3); // 1 ingress, 2 egress, 3 both
        return new Policy(ns, name, role, (types & 1) != 0 ? rules(rnd) : null, (types & 2) != 0 ? rules(rnd) : null);
    }

    String newPolicyName() {
        return "np" + policySerial++;
    }

    private static List<Rule> rules(Random rnd) {
        List<Rule> rules = new ArrayList<>();
        for (int n = rnd.nextInt(3); n > 0; n--) { // 0 rules: the direction is deny-all
            List<Peer> peers = new ArrayList<>();
            for (int k = rnd.nextInt(3); k > 0; k--) {
                peers.add(switch (rnd.nextInt(3)) {
                    case 0 -> new Peer(null, ROLES.get(rnd.nextInt(ROLES.size())));
                    case 1 -> new Peer(NAMESPACES.get(rnd.nextInt(NAMESPACES.size())), null);
                    default -> new Peer(NAMESPACES.get(rnd.nextInt(NAMESPACES.size())), ROLES.get(rnd.nextInt(ROLES.size())));
                });
            }
            Integer port = switch (rnd.nextInt(3)) {
                case 0 -> 80;
                case 1 -> 81;
                default -> null;
            };
            rules.add(new Rule(peers, port));
        }
        return rules;
    }

    // ------------------------------------------------------------------ manifests

    static String namespaces() {
        return NAMESPACES.stream().map(Conformance::namespace).collect(Collectors.joining());
    }

    static String yaml(Pod p) {
        // Conformance's pod (serving TCP/UDP 80 and 81, named ports) with a role label and a node
        return Conformance.pod(p.ns(), p.name(), p.node()).replace("    pod: " + p.name() + "\n",
                "    pod: " + p.name() + "\n    role: " + p.role() + "\n");
    }

    static String yaml(Policy p) {
        StringBuilder spec = new StringBuilder();
        spec.append(p.role() == null ? "podSelector: {}\n" : "podSelector:\n  matchLabels: {role: " + p.role() + "}\n");
        List<String> types = new ArrayList<>();
        if (p.ingress() != null) {
            types.add("Ingress");
        }
        if (p.egress() != null) {
            types.add("Egress");
        }
        spec.append("policyTypes: [").append(String.join(", ", types)).append("]\n");
        if (p.ingress() != null) {
            spec.append(rulesYaml("ingress", "from", p.ingress()));
        }
        if (p.egress() != null) {
            spec.append(rulesYaml("egress", "to", p.egress()));
        }
        return Conformance.policy(p.ns(), p.name(), spec.toString()) + "---\n";
    }

    private static String rulesYaml(String direction, String peersKey, List<Rule> rules) {
        if (rules.isEmpty()) {
            return direction + ": []\n";
        }
        StringBuilder sb = new StringBuilder(direction + ":\n");
        for (Rule r : rules) {
            List<String> parts = new ArrayList<>();
            if (!r.peers().isEmpty()) {
                StringBuilder peers = new StringBuilder(peersKey + ":\n");
                for (Peer peer : r.peers()) {
                    String first = "  - ";
                    if (peer.ns() != null) {
                        peers.append(first).append("namespaceSelector: {matchLabels: {ns: ").append(peer.ns()).append("}}\n");
                        first = "    ";
                    }
                    if (peer.role() != null) {
                        peers.append(first).append("podSelector: {matchLabels: {role: ").append(peer.role()).append("}}\n");
                    }
                }
                parts.add(peers.toString());
            }
            if (r.port() != null) {
                parts.add("ports:\n  - {protocol: TCP, port: " + r.port() + "}\n");
            }
            if (parts.isEmpty()) {
                sb.append("- {}\n");
            } else {
                String body = String.join("", parts);
                sb.append("- ").append(body.indent(2).substring(2));
            }
        }
        return sb.toString();
    }

    /** Every object, for a re-apply that waits until pods run and policies are realized. */
    String allYaml() {
        StringBuilder sb = new StringBuilder(namespaces());
        pods.values().forEach(p -> sb.append(yaml(p)));
        policies.values().forEach(p -> sb.append(yaml(p)));
        return sb.toString();
    }

    // ------------------------------------------------------------------ the model

    private static boolean selects(Policy p, Pod pod) {
        return p.ns().equals(pod.ns()) && (p.role() == null || p.role().equals(pod.role()));
    }

    private static boolean peerMatches(Policy p, Peer peer, Pod other) {
        String ns = peer.ns() == null ? p.ns() : peer.ns();
        return other.ns().equals(ns) && (peer.role() == null || peer.role().equals(other.role()));
    }

    private static boolean ruleAllows(Policy p, Rule r, Pod other, int port) {
        return (r.port() == null || r.port() == port)
                && (r.peers().isEmpty() || r.peers().stream().anyMatch(peer -> peerMatches(p, peer, other)));
    }

    /** Whether {@code from} reaches {@code to} on TCP {@code port} under the policies. */
    boolean allows(Pod from, Pod to, int port) {
        List<Policy> ingress = policies.values().stream().filter(p -> p.ingress() != null && selects(p, to)).toList();
        boolean in = ingress.isEmpty() || ingress.stream().anyMatch(p -> p.ingress().stream().anyMatch(r -> ruleAllows(p, r, from, port)));
        List<Policy> egress = policies.values().stream().filter(p -> p.egress() != null && selects(p, from)).toList();
        boolean out = egress.isEmpty() || egress.stream().anyMatch(p -> p.egress().stream().anyMatch(r -> ruleAllows(p, r, to, port)));
        return in && out;
    }

    /** The reachability matrix of every pod to every other, as the {@code matrix} verb prints it in JSON. */
    Map<String, Map<String, Boolean>> expected(int port) {
        Map<String, Map<String, Boolean>> m = new LinkedHashMap<>();
        for (Pod from : pods.values()) {
            Map<String, Boolean> row = new LinkedHashMap<>();
            for (Pod to : pods.values()) {
                if (from != to) {
                    row.put(to.key(), allows(from, to, port));
                }
            }
            m.put(from.key(), row);
        }
        return m;
    }
}
