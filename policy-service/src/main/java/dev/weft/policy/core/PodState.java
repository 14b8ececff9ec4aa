package dev.weft.policy.core;

import dev.weft.proto.controlplane.v1.GroupMember;
import dev.weft.proto.controlplane.v1.NamedPort;
import dev.weft.proto.controlplane.v1.PodReference;
import dev.weft.proto.controlplane.v1.Protocol;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What the computation keeps of one pod: immutable, replaced as a whole when the pod changes (identity equality, so
 * group member sets hold exactly one version of a pod). The labels map and IP strings are the informer's own objects,
 * not copies: the computation adds no per-pod data beyond this object.
 */
public final class PodState {

    public record PortName(String name, CompiledPolicy.Protocol protocol, int port) {
    }

    final String namespace;
    final String name;
    final Map<String, String> labels;
    /** Null while the pod is not scheduled. */
    final String node;
    final List<String> ips;
    final List<PortName> namedPorts;
    private GroupMember member;

    PodState(String namespace, String name, Map<String, String> labels, String node, List<String> ips,
             List<PortName> namedPorts) {
        this.namespace = namespace;
        this.name = name;
        this.labels = labels;
        this.node = node;
        this.ips = ips;
        this.namedPorts = namedPorts;
    }

    public String namespace() {
        return namespace;
    }

    public String name() {
        return name;
    }

    public String node() {
        return node;
    }

    public List<String> ips() {
        return ips;
    }

    boolean scheduled() {
        return node != null;
    }

    boolean hasIps() {
        return !ips.isEmpty();
    }

    boolean sameAs(PodState o) {
        return Objects.equals(node, o.node) && ips.equals(o.ips) && labels.equals(o.labels)
                && namedPorts.equals(o.namedPorts);
    }

    /** The wire form, built once per pod version and shared by every group and stream that carries it. */
    GroupMember member() {
        GroupMember m = member;
        if (m == null) {
            GroupMember.Builder b = GroupMember.newBuilder()
                    .setPod(PodReference.newBuilder().setNamespace(namespace).setName(name))
                    .addAllIps(ips);
            if (node != null) {
                b.setNodeName(node);
            }
            for (PortName p : namedPorts) {
                b.addNamedPorts(NamedPort.newBuilder().setName(p.name()).setPort(p.port())
                        .setProtocol(Protocol.valueOf(p.protocol().name())));
            }
            member = m = b.build();
        }
        return m;
    }

    @Override
    public String toString() {
        return namespace + "/" + name + "@" + node + ips;
    }
}
