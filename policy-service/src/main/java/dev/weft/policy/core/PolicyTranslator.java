package dev.weft.policy.core;

import dev.weft.net.AddressFormatException;
import dev.weft.net.IpPrefix;
import dev.weft.policy.core.CompiledPolicy.Direction;
import dev.weft.policy.core.CompiledPolicy.IpBlock;
import dev.weft.policy.core.CompiledPolicy.Port;
import dev.weft.policy.core.CompiledPolicy.Protocol;
import dev.weft.policy.core.CompiledPolicy.Rule;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.networking.v1.IPBlock;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPort;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicySpec;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.regex.Pattern;

/**
 * Kubernetes NetworkPolicy (networking.k8s.io/v1) to {@link CompiledPolicy}, with the full validation the API server
 * would do on the parts we program (so a policy that slipped through, e.g. from an old API server, is reported instead
 * of half-programmed). Equal selectors and port lists are interned: thousands of policies share one instance.
 * Not thread-safe (used under the engine's lock).
 */
public final class PolicyTranslator {

    /** IANA_SVC_NAME: at most 15 characters, lowercase letters, digits and '-', at least one letter, no '--'. */
    private static final Pattern PORT_NAME = Pattern.compile("[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?");

    private final Map<Object, WeakReference<Object>> interned = new WeakHashMap<>();
    /**
     * matchLabels-only selectors by their map, so that the 75,000th policy saying {@code app-1: scale-1} costs one map
     * lookup instead of a normalisation. Bounded: cleared when it grows past {@link #SELECTOR_CACHE_SIZE}.
     */
    private final java.util.HashMap<Map<String, String>, Selector> byMatchLabels = new java.util.HashMap<>();
    private static final int SELECTOR_CACHE_SIZE = 10_000;

    Selector selector(io.fabric8.kubernetes.api.model.LabelSelector ls) {
        if (ls == null) {
            return Selector.ALL;
        }
        if (ls.getMatchExpressions() == null || ls.getMatchExpressions().isEmpty()) {
            Map<String, String> ml = ls.getMatchLabels();
            if (ml == null || ml.isEmpty()) {
                return Selector.ALL;
            }
            Selector cached = byMatchLabels.get(ml);
            if (cached != null) {
                return cached;
            }
            Selector s = intern(Selector.of(ls));
            if (byMatchLabels.size() >= SELECTOR_CACHE_SIZE) {
                byMatchLabels.clear();
            }
            byMatchLabels.put(Map.copyOf(ml), s);
            return s;
        }
        return intern(Selector.of(ls));
    }

    @SuppressWarnings("unchecked")
    <T> T intern(T value) {
        WeakReference<Object> ref = interned.get(value);
        Object existing = ref == null ? null : ref.get();
        if (existing != null) {
            return (T) existing;
        }
        interned.put(value, new WeakReference<>(value));
        return value;
    }

    public CompiledPolicy compile(NetworkPolicy np, long generation) {
        String ns = np.getMetadata().getNamespace();
        NetworkPolicySpec spec = np.getSpec();
        if (spec == null) {
            throw new InvalidPolicyException("spec is missing");
        }
        // Selectors are interned (shared across namespaces); keys are not: the engine's group map shares groups.
        GroupKey appliedTo = GroupKey.inNamespace(ns, selector(spec.getPodSelector()));

        boolean hasEgressRules = spec.getEgress() != null && !spec.getEgress().isEmpty();
        boolean ingress;
        boolean egress;
        List<String> types = spec.getPolicyTypes();
        if (types == null || types.isEmpty()) {
            ingress = true;
            egress = hasEgressRules;
        } else {
            ingress = false;
            egress = false;
            for (String t : types) {
                switch (t == null ? "" : t) {
                    case "Ingress" -> ingress = true;
                    case "Egress" -> egress = true;
                    default -> throw new InvalidPolicyException("unknown policyType '" + t + "'");
                }
            }
        }

        List<Rule> rules = new ArrayList<>();
        // Rules of a direction that is not in policyTypes are ignored, as Kubernetes specifies.
        if (ingress && spec.getIngress() != null) {
            int i = 0;
            for (var r : spec.getIngress()) {
                rules.addAll(rule(Direction.IN, i, ns, r.getFrom(), r.getPorts(), "ingress[" + i + "]"));
                i++;
            }
        }
        if (egress && spec.getEgress() != null) {
            int i = 0;
            for (var r : spec.getEgress()) {
                rules.addAll(rule(Direction.OUT, i, ns, r.getTo(), r.getPorts(), "egress[" + i + "]"));
                i++;
            }
        }
        return new CompiledPolicy(ns, np.getMetadata().getName(), np.getMetadata().getUid(), generation,
                appliedTo, List.copyOf(rules), ingress, egress, logDenied(np));
    }

    /** {@code weft.dev/log: "true"} (any case); any other value, or none, logs nothing. */
    static boolean logDenied(NetworkPolicy np) {
        var annotations = np.getMetadata().getAnnotations();
        return annotations != null && "true".equalsIgnoreCase(String.valueOf(annotations.get(CompiledPolicy.LOG_ANNOTATION)).trim());
    }

    /**
     * Every pod of the cluster: the destinations of an egress rule with named ports and no {@code to}. A named port is
     * a container port of the destination pod, so "every destination" narrows to every pod, where the agent resolves
     * the name (as upstream's "should allow egress access on one named port" expects).
     */
    static final GroupKey ALL_PODS = GroupKey.acrossNamespaces(Selector.ALL, Selector.ALL);

    /**
     * The rule in internal form; an egress rule without peers that mixes named and numbered ports becomes two rules
     * with the same index: the numbered ports to every address, the named ports to {@link #ALL_PODS}.
     */
    private List<Rule> rule(Direction dir, int index, String ns, List<NetworkPolicyPeer> peers, List<NetworkPolicyPort> ports,
                            String where) {
        List<GroupKey> groups = new ArrayList<>(1);
        List<IpBlock> blocks = new ArrayList<>(0);
        boolean any = peers == null || peers.isEmpty();
        if (!any) {
            int p = 0;
            for (NetworkPolicyPeer peer : peers) {
                String at = where + ".peer[" + p++ + "]";
                boolean hasSelector = peer.getPodSelector() != null || peer.getNamespaceSelector() != null;
                if (peer.getIpBlock() != null) {
                    if (hasSelector) {
                        throw new InvalidPolicyException(at + ": ipBlock cannot be combined with selectors");
                    }
                    blocks.add(ipBlock(peer.getIpBlock(), at));
                } else if (!hasSelector) {
                    throw new InvalidPolicyException(at + ": needs podSelector, namespaceSelector or ipBlock");
                } else {
                    Selector pods = selector(peer.getPodSelector());
                    GroupKey key = peer.getNamespaceSelector() == null
                            ? GroupKey.inNamespace(ns, pods)
                            : GroupKey.acrossNamespaces(selector(peer.getNamespaceSelector()), pods);
                    if (!groups.contains(key)) {
                        groups.add(key);
                    }
                }
            }
        }
        List<Port> validPorts = ports(ports, where);
        List<Port> named = validPorts.stream().filter(p -> p.name() != null).toList();
        if (dir == Direction.OUT && any && !named.isEmpty()) {
            Rule toPods = new Rule(dir, index, false, List.of(ALL_PODS), List.of(), named);
            if (named.size() == validPorts.size()) {
                return List.of(toPods);
            }
            List<Port> numbered = intern(validPorts.stream().filter(p -> p.name() == null).toList());
            return List.of(new Rule(dir, index, true, List.of(), List.of(), numbered), toPods);
        }
        return List.of(new Rule(dir, index, any, List.copyOf(groups), List.copyOf(blocks), validPorts));
    }

    /**
     * Host bits are cleared, not refused ("10.1.2.3/16" is 10.1.0.0/16): Kubernetes accepts such ipBlocks, so a
     * policy it admitted must not be rejected here.
     */
    private IpBlock ipBlock(IPBlock b, String at) {
        IpPrefix cidr;
        try {
            cidr = IpPrefix.parseContaining(b.getCidr());
        } catch (AddressFormatException e) {
            throw new InvalidPolicyException(at + ".ipBlock: " + e.getMessage());
        }
        List<String> except = new ArrayList<>();
        if (b.getExcept() != null) {
            for (String x : b.getExcept()) {
                IpPrefix ex;
                try {
                    ex = IpPrefix.parseContaining(x);
                } catch (AddressFormatException e) {
                    throw new InvalidPolicyException(at + ".ipBlock.except: " + e.getMessage());
                }
                // A strict subset, as Kubernetes validates it: an except equal to the cidr would leave nothing.
                if (!cidr.contains(ex) || ex.prefixLength() == cidr.prefixLength()) {
                    throw new InvalidPolicyException(at + ".ipBlock: except " + x + " is not inside " + b.getCidr());
                }
                except.add(ex.toString());
            }
        }
        return intern(new IpBlock(cidr.toString(), List.copyOf(except)));
    }

    private List<Port> ports(List<NetworkPolicyPort> ports, String where) {
        if (ports == null || ports.isEmpty()) {
            return List.of();
        }
        List<Port> out = new ArrayList<>(ports.size());
        int i = 0;
        for (NetworkPolicyPort p : ports) {
            String at = where + ".ports[" + i++ + "]";
            Protocol proto = protocol(p.getProtocol(), at);
            IntOrString port = p.getPort();
            Integer end = p.getEndPort();
            Port result;
            if (port == null || (port.getIntVal() == null && port.getStrVal() == null)) {
                if (end != null) {
                    throw new InvalidPolicyException(at + ": endPort requires port");
                }
                result = Port.all(proto);
            } else if (port.getIntVal() != null) {
                int n = port.getIntVal();
                checkPortNumber(n, at + ".port");
                int e = 0;
                if (end != null) {
                    checkPortNumber(end, at + ".endPort");
                    if (end < n) {
                        throw new InvalidPolicyException(at + ": endPort " + end + " is below port " + n);
                    }
                    e = end == n ? 0 : end;
                }
                result = new Port(proto, n, null, e);
            } else {
                String name = port.getStrVal();
                if (end != null) {
                    throw new InvalidPolicyException(at + ": endPort cannot be used with the named port '" + name + "'");
                }
                if (!PORT_NAME.matcher(name).matches() || name.contains("--") || name.chars().noneMatch(Character::isLetter)) {
                    throw new InvalidPolicyException(at + ": invalid port name '" + name + "'");
                }
                result = new Port(proto, 0, name, 0);
            }
            if (!out.contains(result)) {
                out.add(result);
            }
        }
        return intern(List.copyOf(out));
    }

    private static void checkPortNumber(int n, String at) {
        if (n < 1 || n > 65535) {
            throw new InvalidPolicyException(at + ": " + n + " is not a port number (1-65535)");
        }
    }

    static Protocol protocol(String p, String at) {
        if (p == null || p.isEmpty()) {
            return Protocol.TCP;
        }
        return switch (p) {
            case "TCP" -> Protocol.TCP;
            case "UDP" -> Protocol.UDP;
            case "SCTP" -> Protocol.SCTP;
            default -> throw new InvalidPolicyException(at + ": unknown protocol '" + p + "'");
        };
    }
}
