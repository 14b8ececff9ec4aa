package dev.weft.agent.node;

import java.util.List;
import java.util.Objects;

/**
 * A local pod's network attachment as plumbed by CNI ADD: the contract between the CNI server (which creates it)
 * and the datapath (which forwards to it and enforces policy on its OpenFlow port).
 *
 * @param ips          pod addresses without prefix length, IPv4 first
 * @param hostIfName   the host end of the veth, which is the OVS port/interface name
 * @param portUuid     the OVSDB Port row UUID
 * @param ofport       the OpenFlow port number assigned by Open vSwitch
 */
public record PodInterface(String namespace, String name, String containerId, String ifName, String netns,
                           List<String> ips, String mac, String hostIfName, String portUuid, int ofport) {
    public PodInterface {
        Objects.requireNonNull(namespace);
        Objects.requireNonNull(name);
        ips = List.copyOf(ips);
    }

    public String key() {
        return namespace + "/" + name;
    }
}
