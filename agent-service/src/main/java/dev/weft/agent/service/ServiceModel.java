package dev.weft.agent.service;

import dev.weft.agent.host.NodePortSteering;
import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Services and EndpointSlices (discovery.k8s.io/v1) to the Service ports this node's datapath serves: a pure
 * function, so the informers' stores can be turned into the desired state at any time.
 *
 * <ul>
 *   <li>Services with a cluster IP (not headless, not ExternalName); every IPv4 cluster IP, every port (TCP, UDP,
 *   SCTP), the {@code kubernetes} Service included.</li>
 *   <li>Endpoints come from the slices labelled {@code kubernetes.io/service-name} in the Service's namespace; an
 *   endpoint serves a Service port when its slice has a port of the same name and protocol, and that slice port's
 *   number is the target (a targetPort by name is resolved per slice, so pods naming the port differently each get
 *   their own number).</li>
 *   <li>An endpoint takes new connections when it is ready ({@code conditions.ready} unset counts as ready) and not
 *   terminating.</li>
 *   <li>{@code internalTrafficPolicy: Local}: only the endpoints whose {@code nodeName} is this node.</li>
 *   <li>NodePort and LoadBalancer Services: each node port is also a Service port on {@link
 *   NodePortSteering#CLUSTER_VIP} (every ready endpoint, whatever the internal policy) and, with {@code
 *   externalTrafficPolicy: Local}, on {@link NodePortSteering#LOCAL_VIP} (this node's ready endpoints only).</li>
 *   <li>{@code sessionAffinity: ClientIP} with its timeout, on every Service port of the Service (node ports too).</li>
 * </ul>
 */
public final class ServiceModel {

    private static final Logger LOG = Logger.getLogger(ServiceModel.class);
    public static final String SERVICE_NAME_LABEL = "kubernetes.io/service-name";
    /** {@code sessionAffinityConfig.clientIP.timeoutSeconds} when ClientIP affinity leaves it unset (3 hours). */
    public static final int DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;

    private ServiceModel() {
    }

    /** The Service ports by key; a key claimed by two Services (a conflict the API server prevents) keeps the first. */
    public static Map<ServicePortKey, dev.weft.agent.service.ServicePort> resolve(Collection<Service> services,
                                                                                 Collection<EndpointSlice> slices,
                                                                                 String nodeName) {
        Map<String, List<EndpointSlice>> slicesByService = new HashMap<>();
        for (EndpointSlice s : slices) {
            if (s.getMetadata() == null || s.getMetadata().getLabels() == null) {
                continue;
            }
            String svc = s.getMetadata().getLabels().get(SERVICE_NAME_LABEL);
            if (svc != null && (s.getAddressType() == null || "IPv4".equals(s.getAddressType()))) {
                slicesByService.computeIfAbsent(s.getMetadata().getNamespace() + "/" + svc, k -> new ArrayList<>()).add(s);
            }
        }
        Map<ServicePortKey, dev.weft.agent.service.ServicePort> out = new TreeMap<>();
        List<Service> sorted = new ArrayList<>(services);
        sorted.sort((a, b) -> name(a).compareTo(name(b)));
        for (Service svc : sorted) {
            try {
                for (dev.weft.agent.service.ServicePort p : ports(svc, slicesByService.getOrDefault(name(svc), List.of()), nodeName)) {
                    out.putIfAbsent(p.key(), p);
                }
            } catch (IllegalArgumentException e) {
                LOG.warnf("Service %s not served: %s", name(svc), e.getMessage());
            }
        }
        return out;
    }

    static String name(Service s) {
        return s.getMetadata().getNamespace() + "/" + s.getMetadata().getName();
    }

    /** One Service's ports (empty for headless and ExternalName Services). */
    static List<dev.weft.agent.service.ServicePort> ports(Service svc, List<EndpointSlice> slices, String nodeName) {
        var spec = svc.getSpec();
        if (spec == null || "ExternalName".equals(spec.getType()) || spec.getPorts() == null) {
            return List.of();
        }
        List<String> ips = new ArrayList<>();
        if (spec.getClusterIPs() != null && !spec.getClusterIPs().isEmpty()) {
            ips.addAll(spec.getClusterIPs());
        } else if (spec.getClusterIP() != null) {
            ips.add(spec.getClusterIP());
        }
        ips.removeIf(ip -> ip == null || ip.isBlank() || "None".equals(ip)
                || IpAddress.tryParse(ip).filter(a -> a.family() == AddressFamily.IPV4).isEmpty());
        boolean localOnly = "Local".equals(spec.getInternalTrafficPolicy());
        boolean nodePorts = "NodePort".equals(spec.getType()) || "LoadBalancer".equals(spec.getType());
        boolean externalLocal = "Local".equals(spec.getExternalTrafficPolicy());
        int affinity = affinityTimeoutSeconds(svc);
        List<dev.weft.agent.service.ServicePort> out = new ArrayList<>();
        for (ServicePort sp : spec.getPorts()) {
            ServicePortKey.Protocol proto = ServicePortKey.Protocol.parse(sp.getProtocol());
            String portName = sp.getName() == null ? "" : sp.getName();
            List<ServiceEndpoint> endpoints = new ArrayList<>(), all = new ArrayList<>(), local = new ArrayList<>();
            for (EndpointSlice slice : slices) {
                Integer target = targetPort(slice, portName, proto);
                if (target == null || slice.getEndpoints() == null) {
                    continue;
                }
                for (Endpoint e : slice.getEndpoints()) {
                    if (!takesNewConnections(e) || e.getAddresses() == null) {
                        continue;
                    }
                    boolean onThisNode = Objects.equals(nodeName, e.getNodeName());
                    for (String a : e.getAddresses()) {
                        if (IpAddress.tryParse(a).filter(x -> x.family() == AddressFamily.IPV4).isPresent()) {
                            ServiceEndpoint se = new ServiceEndpoint(a, target);
                            all.add(se);
                            if (onThisNode) {
                                local.add(se);
                            }
                            if (!localOnly || onThisNode) {
                                endpoints.add(se);
                            }
                        }
                    }
                }
            }
            for (String ip : ips) {
                out.add(new dev.weft.agent.service.ServicePort(new ServicePortKey(ip, proto, sp.getPort()), name(svc),
                        portName, endpoints, affinity));
            }
            Integer np = sp.getNodePort();
            if (nodePorts && np != null && np > 0 && !ips.isEmpty()) {
                // the node port as two more Service ports on the virtual addresses the host steers it to: any
                // endpoint (internal traffic, externalTrafficPolicy Cluster), this node's (Local, from outside)
                out.add(new dev.weft.agent.service.ServicePort(new ServicePortKey(NodePortSteering.CLUSTER_VIP, proto, np),
                        name(svc), portName, all, affinity));
                if (externalLocal) {
                    out.add(new dev.weft.agent.service.ServicePort(new ServicePortKey(NodePortSteering.LOCAL_VIP, proto, np),
                            name(svc), portName, local, affinity));
                }
            }
        }
        return out;
    }

    /**
     * {@code spec.sessionAffinity}: {@code None} (or unset) is 0; {@code ClientIP} is its
     * {@code sessionAffinityConfig.clientIP.timeoutSeconds}, 10800 when unset (the API server's default). Any other
     * value, or a timeout outside 1..86400, is an IllegalArgumentException naming the field: the Service is not
     * served rather than served without the affinity it asks for.
     */
    static int affinityTimeoutSeconds(Service svc) {
        String affinity = svc.getSpec().getSessionAffinity();
        if (affinity == null || affinity.isEmpty() || "None".equals(affinity)) {
            return 0;
        }
        if (!"ClientIP".equals(affinity)) {
            throw new IllegalArgumentException("spec.sessionAffinity " + affinity + " is neither None nor ClientIP");
        }
        var config = svc.getSpec().getSessionAffinityConfig();
        Integer timeout = config == null || config.getClientIP() == null ? null : config.getClientIP().getTimeoutSeconds();
        if (timeout == null) {
            return DEFAULT_AFFINITY_TIMEOUT_SECONDS;
        }
        if (timeout < 1 || timeout > dev.weft.agent.service.ServicePort.MAX_AFFINITY_TIMEOUT_SECONDS) {
            throw new IllegalArgumentException("spec.sessionAffinityConfig.clientIP.timeoutSeconds " + timeout
                    + " out of 1.." + dev.weft.agent.service.ServicePort.MAX_AFFINITY_TIMEOUT_SECONDS);
        }
        return timeout;
    }

    /** The node ports among resolved Service ports (what the host steers into the gateway). */
    public static List<NodePortSteering.NodePort> nodePorts(Map<ServicePortKey, dev.weft.agent.service.ServicePort> ports) {
        List<NodePortSteering.NodePort> out = new ArrayList<>();
        for (ServicePortKey k : ports.keySet()) {
            if (k.clusterIp().equals(NodePortSteering.CLUSTER_VIP)) {
                boolean local = ports.containsKey(new ServicePortKey(NodePortSteering.LOCAL_VIP, k.protocol(), k.port()));
                out.add(new NodePortSteering.NodePort(k.protocol().name(), k.port(), local));
            }
        }
        return out;
    }

    /** The slice's port number for the Service port of this name and protocol, or null when the slice has none. */
    static Integer targetPort(EndpointSlice slice, String portName, ServicePortKey.Protocol proto) {
        if (slice.getPorts() == null) {
            return null;
        }
        for (EndpointPort p : slice.getPorts()) {
            String n = p.getName() == null ? "" : p.getName();
            if (n.equals(portName) && ServicePortKey.Protocol.parse(p.getProtocol()) == proto && p.getPort() != null
                    && p.getPort() > 0 && p.getPort() <= 65535) {
                return p.getPort();
            }
        }
        return null;
    }

    /** Ready (unset means ready) and not terminating: what kube-proxy sends new connections to. */
    static boolean takesNewConnections(Endpoint e) {
        var c = e.getConditions();
        if (c == null) {
            return true;
        }
        return !Boolean.FALSE.equals(c.getReady()) && !Boolean.TRUE.equals(c.getTerminating());
    }
}
