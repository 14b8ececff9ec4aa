package dev.weft.localcluster;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.ServiceSpec;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;

/**
 * What kube-apiserver does to a Service before storing it, for the local cluster (whose fabric8 API server validates
 * nothing): defaulting (type, protocol, targetPort, policies, IP family), validation with kubectl-like messages, and
 * allocation of a cluster IP from the service CIDR and of node ports from 30000-32767.
 * <p>Pure: {@link #admit} takes the Services already stored and the ones being applied, and returns the latter as they
 * are to be stored, or throws a {@link UserError} naming the first bad Service (then nothing is written). Allocation is
 * random like the real allocators (clients must not depend on an order), with the caller's {@link Random}.
 * <p>A replaced Service keeps its cluster IP (immutable, as upstream: asking for another one is an error) and, for a
 * port that does not ask for one, the node port it had.
 */
final class ServiceAdmission {
    static final String DEFAULT_SERVICE_CIDR = "10.96.0.0/16";
    static final int NODE_PORT_MIN = 30000;
    static final int NODE_PORT_MAX = 32767;
    static final Set<String> TYPES = Set.of("ClusterIP", "NodePort", "LoadBalancer", "ExternalName");
    static final Set<String> PROTOCOLS = Set.of("TCP", "UDP", "SCTP");
    /** The {@code kubernetes} Service in default: the only one that gets the first address of the CIDR. */
    static final String KUBERNETES = "default/kubernetes";

    private ServiceAdmission() {
    }

    /** The service CIDR of a cluster: {@code serviceCidr} of its state, the default for a state written before it existed. */
    static IpPrefix serviceCidr(ClusterState cluster) {
        return parseCidr(cluster.serviceCidr() == null ? DEFAULT_SERVICE_CIDR : cluster.serviceCidr());
    }

    static IpPrefix parseCidr(String text) {
        IpPrefix p;
        try {
            p = IpPrefix.parse(text);
        } catch (RuntimeException e) {
            throw new UserError("invalid service CIDR " + text + ": " + e.getMessage());
        }
        if (p.family() != AddressFamily.IPV4 || p.prefixLength() > 28 || p.prefixLength() < 12) {
            throw new UserError("service CIDR " + text + " must be IPv4, /12 to /28");
        }
        return p;
    }

    /** The address of the {@code kubernetes} Service: the first host address of the CIDR (10.96.0.1 for the default). */
    static IpAddress kubernetesIp(IpPrefix cidr) {
        return cidr.address(1);
    }

    static String key(Service s) {
        return s.getMetadata().getNamespace() + "/" + s.getMetadata().getName();
    }

    /**
     * The incoming Services defaulted, validated and allocated against the stored ones (a stored Service of the same
     * namespace/name is the one being replaced: its addresses are free for it and only for it).
     */
    static List<Service> admit(IpPrefix cidr, List<Service> stored, List<Service> incoming, Random random) {
        Map<String, Service> storedByKey = new HashMap<>();
        stored.forEach(s -> storedByKey.put(key(s), s));
        Set<String> incomingKeys = new HashSet<>();
        for (Service s : incoming) {
            if (!incomingKeys.add(key(s))) {
                throw new UserError("service/" + s.getMetadata().getName() + ": given twice in namespace " + s.getMetadata().getNamespace());
            }
        }
        // What other Services hold: every stored one that is not being replaced, then each admitted one in turn.
        Map<IpAddress, String> ipsTaken = new HashMap<>();
        Map<String, String> nodePortsTaken = new HashMap<>(); // "30080/TCP" -> owner
        for (Service s : stored) {
            if (!incomingKeys.contains(key(s))) {
                hold(s, ipsTaken, nodePortsTaken);
            }
        }
        List<Service> out = new ArrayList<>();
        for (Service s : incoming) {
            Service admitted = admitOne(cidr, storedByKey.get(key(s)), s, ipsTaken, nodePortsTaken, random);
            hold(admitted, ipsTaken, nodePortsTaken);
            out.add(admitted);
        }
        return out;
    }

    private static void hold(Service s, Map<IpAddress, String> ips, Map<String, String> nodePorts) {
        ServiceSpec spec = s.getSpec();
        if (spec == null) {
            return;
        }
        if (spec.getClusterIP() != null) {
            IpAddress.tryParse(spec.getClusterIP()).ifPresent(ip -> ips.put(ip, key(s)));
        }
        if (spec.getPorts() != null) {
            for (ServicePort p : spec.getPorts()) {
                if (p.getNodePort() != null && p.getNodePort() > 0) {
                    nodePorts.put(p.getNodePort() + "/" + p.getProtocol(), key(s));
                }
            }
        }
    }

    private static Service admitOne(IpPrefix cidr, Service old, Service in, Map<IpAddress, String> ipsTaken,
                                    Map<String, String> nodePortsTaken, Random random) {
        String who = "service/" + in.getMetadata().getName();
        Service s = new io.fabric8.kubernetes.api.model.ServiceBuilder(in).build(); // never change the caller's object
        ServiceSpec spec = s.getSpec();
        if (spec == null) {
            throw new UserError(who + ": no spec");
        }
        String type = spec.getType() == null ? "ClusterIP" : spec.getType();
        if (!TYPES.contains(type)) {
            throw new UserError(who + ": spec.type: Unsupported value: \"" + type + "\": supported values: \"ClusterIP\", "
                    + "\"ExternalName\", \"LoadBalancer\", \"NodePort\"");
        }
        spec.setType(type);
        boolean external = type.equals("NodePort") || type.equals("LoadBalancer");
        if (type.equals("ExternalName")) {
            if (spec.getExternalName() == null || spec.getExternalName().isBlank()) {
                throw new UserError(who + ": spec.externalName: Required value (type ExternalName)");
            }
            if (spec.getClusterIP() != null && !spec.getClusterIP().isBlank()) {
                throw new UserError(who + ": spec.clusterIP: Forbidden: may not be set for ExternalName services");
            }
        }
        List<ServicePort> ports = spec.getPorts() == null ? new ArrayList<>() : new ArrayList<>(spec.getPorts());
        boolean headless = "None".equals(spec.getClusterIP());
        if (ports.isEmpty() && !headless && !type.equals("ExternalName")) {
            throw new UserError(who + ": spec.ports: Required value");
        }
        if (headless && external) {
            throw new UserError(who + ": spec.clusterIP: Invalid value: \"None\": may not be set to 'None' for " + type + " services");
        }
        Set<String> names = new HashSet<>();
        Set<String> portProtocols = new HashSet<>();
        for (int i = 0; i < ports.size(); i++) {
            ServicePort p = ports.get(i);
            String at = who + ": spec.ports[" + i + "]";
            String protocol = p.getProtocol() == null ? "TCP" : p.getProtocol();
            if (!PROTOCOLS.contains(protocol)) {
                throw new UserError(at + ".protocol: Unsupported value: \"" + protocol + "\": supported values: \"SCTP\", \"TCP\", \"UDP\"");
            }
            p.setProtocol(protocol);
            if (p.getPort() == null || p.getPort() < 1 || p.getPort() > 65535) {
                throw new UserError(at + ".port: Invalid value: " + p.getPort() + ": must be between 1 and 65535, inclusive");
            }
            if (ports.size() > 1 && (p.getName() == null || p.getName().isBlank())) {
                throw new UserError(at + ".name: Required value (every port of a multi-port Service is named)");
            }
            if (p.getName() != null && !p.getName().isEmpty()) {
                if (!p.getName().matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?") || p.getName().length() > 63) {
                    throw new UserError(at + ".name: Invalid value: \"" + p.getName() + "\": a DNS-1123 label is required");
                }
                if (!names.add(p.getName())) {
                    throw new UserError(at + ".name: Duplicate value: \"" + p.getName() + "\"");
                }
            }
            if (!portProtocols.add(p.getPort() + "/" + protocol)) {
                throw new UserError(at + ": Duplicate value: port " + p.getPort() + "/" + protocol);
            }
            IntOrString target = p.getTargetPort();
            if (target == null || (target.getIntVal() == null && (target.getStrVal() == null || target.getStrVal().isEmpty()))) {
                p.setTargetPort(new IntOrString(p.getPort()));
            } else if (target.getIntVal() != null) {
                if (target.getIntVal() < 1 || target.getIntVal() > 65535) {
                    throw new UserError(at + ".targetPort: Invalid value: " + target.getIntVal() + ": must be between 1 and 65535, inclusive");
                }
            } else if (!validPortName(target.getStrVal())) {
                throw new UserError(at + ".targetPort: Invalid value: \"" + target.getStrVal()
                        + "\": a port name (at most 15 lowercase letters, digits and '-', with a letter) or a number");
            }
            if (p.getNodePort() != null && p.getNodePort() != 0) {
                if (!external) {
                    throw new UserError(at + ".nodePort: Forbidden: may not be used when `type` is '" + type + "'");
                }
                if (p.getNodePort() < NODE_PORT_MIN || p.getNodePort() > NODE_PORT_MAX) {
                    throw new UserError(at + ".nodePort: Invalid value: " + p.getNodePort() + ": provided port is not in the valid range. "
                            + "The range of valid ports is " + NODE_PORT_MIN + "-" + NODE_PORT_MAX);
                }
            } else {
                p.setNodePort(null);
            }
        }
        spec.setPorts(ports);
        // Policies and their defaults.
        spec.setSessionAffinity(oneOf(who, "spec.sessionAffinity", spec.getSessionAffinity(), "None", Set.of("None", "ClientIP")));
        sessionAffinityConfig(who, spec);
        if (type.equals("ExternalName")) {
            spec.setInternalTrafficPolicy(null);
        } else {
            spec.setInternalTrafficPolicy(oneOf(who, "spec.internalTrafficPolicy", spec.getInternalTrafficPolicy(), "Cluster", Set.of("Cluster", "Local")));
        }
        if (external) {
            spec.setExternalTrafficPolicy(oneOf(who, "spec.externalTrafficPolicy", spec.getExternalTrafficPolicy(), "Cluster", Set.of("Cluster", "Local")));
        } else if (spec.getExternalTrafficPolicy() != null) {
            throw new UserError(who + ": spec.externalTrafficPolicy: Invalid value: \"" + spec.getExternalTrafficPolicy()
                    + "\": may only be set for NodePort and LoadBalancer services");
        }
        // The cluster IP: kept on replace (immutable), asked for, or allocated.
        String oldIp = old == null || old.getSpec() == null ? null : old.getSpec().getClusterIP();
        if (type.equals("ExternalName")) {
            spec.setClusterIP(null);
            spec.setClusterIPs(null);
        } else if (headless) {
            spec.setClusterIPs(List.of("None"));
        } else {
            String asked = spec.getClusterIP() == null || spec.getClusterIP().isBlank() ? null : spec.getClusterIP();
            IpAddress ip;
            if (asked != null) {
                ip = IpAddress.tryParse(asked).filter(a -> a.family() == AddressFamily.IPV4)
                        .orElseThrow(() -> new UserError(who + ": spec.clusterIP: Invalid value: \"" + asked + "\": must be a valid IPv4 address or None"));
                if (oldIp != null && !oldIp.equals(ip.toString())) {
                    throw new UserError(who + ": spec.clusterIP: Invalid value: \"" + asked + "\": field is immutable (it is " + oldIp + ")");
                }
                if (oldIp == null) {
                    checkAsked(who, cidr, ip, key(s), ipsTaken);
                }
            } else if (oldIp != null && !"None".equals(oldIp)) {
                ip = IpAddress.parse(oldIp);
            } else {
                ip = allocateIp(who, cidr, ipsTaken, random);
            }
            spec.setClusterIP(ip.toString());
            spec.setClusterIPs(List.of(ip.toString()));
        }
        if (!type.equals("ExternalName")) {
            spec.setIpFamilies(List.of("IPv4"));
            spec.setIpFamilyPolicy("SingleStack");
        }
        if (external) {
            Set<String> mine = new HashSet<>();
            for (int i = 0; i < ports.size(); i++) {
                ServicePort p = ports.get(i);
                if (p.getNodePort() == null) {
                    Integer kept = keptNodePort(old, p);
                    p.setNodePort(kept != null && !nodePortsTaken.containsKey(kept + "/" + p.getProtocol())
                            ? kept : allocateNodePort(who, p.getProtocol(), nodePortsTaken, mine, random));
                }
                String np = p.getNodePort() + "/" + p.getProtocol();
                String owner = nodePortsTaken.get(np);
                if (owner != null) {
                    throw new UserError(who + ": spec.ports[" + i + "].nodePort: Invalid value: " + p.getNodePort()
                            + ": provided port is already allocated (to service " + owner + ")");
                }
                if (!mine.add(np)) {
                    throw new UserError(who + ": spec.ports[" + i + "].nodePort: Duplicate value: " + p.getNodePort());
                }
            }
        }
        return s;
    }

    private static void checkAsked(String who, IpPrefix cidr, IpAddress ip, String key, Map<IpAddress, String> taken) {
        if (!cidr.contains(ip)) {
            throw new UserError(who + ": spec.clusterIP: Invalid value: \"" + ip + "\": provided IP is not in the valid range. "
                    + "The range of valid IPs is " + cidr);
        }
        if (ip.equals(cidr.first()) || ip.equals(cidr.last())) {
            throw new UserError(who + ": spec.clusterIP: Invalid value: \"" + ip + "\": the network and broadcast addresses of "
                    + cidr + " are not allocated");
        }
        if (ip.equals(kubernetesIp(cidr)) && !key.equals(KUBERNETES)) {
            throw new UserError(who + ": spec.clusterIP: Invalid value: \"" + ip + "\": reserved for the kubernetes Service");
        }
        String owner = taken.get(ip);
        if (owner != null) {
            throw new UserError(who + ": spec.clusterIP: Invalid value: \"" + ip + "\": provided IP is already allocated (to service " + owner + ")");
        }
    }

    /** A random free host address of the CIDR, never the first (the kubernetes Service's), network or broadcast. */
    private static IpAddress allocateIp(String who, IpPrefix cidr, Map<IpAddress, String> taken, Random random) {
        long hosts = cidr.size().longValueExact();
        long start = 2 + (long) (random.nextDouble() * (hosts - 3));
        for (long i = 0; i < hosts - 3; i++) {
            long offset = 2 + Math.floorMod(start - 2 + i, hosts - 3);
            IpAddress ip = cidr.address(offset);
            if (!taken.containsKey(ip)) {
                return ip;
            }
        }
        throw new UserError(who + ": no free cluster IP in the service CIDR " + cidr + " (" + taken.size() + " allocated)");
    }

    private static int allocateNodePort(String who, String protocol, Map<String, String> taken, Set<String> mine, Random random) {
        int range = NODE_PORT_MAX - NODE_PORT_MIN + 1;
        int start = random.nextInt(range);
        for (int i = 0; i < range; i++) {
            int port = NODE_PORT_MIN + (start + i) % range;
            String key = port + "/" + protocol;
            if (!taken.containsKey(key) && !mine.contains(key)) {
                return port;
            }
        }
        throw new UserError(who + ": no free node port in " + NODE_PORT_MIN + "-" + NODE_PORT_MAX + " for " + protocol);
    }

    /** The node port the replaced Service had for the same port number and protocol. */
    private static Integer keptNodePort(Service old, ServicePort p) {
        if (old == null || old.getSpec() == null || old.getSpec().getPorts() == null) {
            return null;
        }
        return old.getSpec().getPorts().stream()
                .filter(o -> Objects.equals(o.getPort(), p.getPort()) && Objects.equals(o.getProtocol(), p.getProtocol()))
                .map(ServicePort::getNodePort).filter(n -> n != null && n > 0).findFirst().orElse(null);
    }

    private static String oneOf(String who, String field, String value, String dflt, Set<String> allowed) {
        if (value == null || value.isEmpty()) {
            return dflt;
        }
        if (!allowed.contains(value)) {
            throw new UserError(who + ": " + field + ": Unsupported value: \"" + value + "\": supported values: "
                    + String.join(", ", allowed.stream().sorted().map(a -> "\"" + a + "\"").toList()));
        }
        return value;
    }

    /** IANA_SVC_NAME, what a named targetPort (and a container port's name) must be. */
    static boolean validPortName(String name) {
        return name != null && name.length() <= 15 && name.matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?") && name.matches(".*[a-z].*")
                && !name.contains("--");
    }

    /** kube-apiserver's ClientIP affinity timeout: the default (3 hours) and the allowed range (a day at most). */
    static final int AFFINITY_TIMEOUT_DEFAULT = 10800, AFFINITY_TIMEOUT_MAX = 86400;

    /**
     * As kube-apiserver: {@code ClientIP} gets {@code sessionAffinityConfig.clientIP.timeoutSeconds} defaulted to
     * 10800 and checked to be in 1..86400; {@code None} allows no config.
     */
    private static void sessionAffinityConfig(String who, io.fabric8.kubernetes.api.model.ServiceSpec spec) {
        var config = spec.getSessionAffinityConfig();
        if ("None".equals(spec.getSessionAffinity())) {
            if (config != null && config.getClientIP() != null) {
                throw new UserError(who + ": spec.sessionAffinityConfig: Invalid value: must not be set when"
                        + " `sessionAffinity` is None");
            }
            spec.setSessionAffinityConfig(null);
            return;
        }
        if (config == null) {
            config = new io.fabric8.kubernetes.api.model.SessionAffinityConfig();
            spec.setSessionAffinityConfig(config);
        }
        if (config.getClientIP() == null) {
            config.setClientIP(new io.fabric8.kubernetes.api.model.ClientIPConfig());
        }
        Integer timeout = config.getClientIP().getTimeoutSeconds();
        if (timeout == null) {
            config.getClientIP().setTimeoutSeconds(AFFINITY_TIMEOUT_DEFAULT);
        } else if (timeout < 1 || timeout > AFFINITY_TIMEOUT_MAX) {
            throw new UserError(who + ": spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: " + timeout
                    + ": must be greater than 0 and less than " + AFFINITY_TIMEOUT_MAX);
        }
    }
}
