package dev.weft.agent.ovsdb;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A bridge to create: the Bridge row, its local internal port of the same name (what {@code ovs-vsctl add-br}
 * creates too), and its place in {@code Open_vSwitch.bridges}.
 *
 * @param datapathType {@code system} (kernel module) or {@code netdev} (userspace)
 * @param failMode     {@code secure} (no flows until a controller installs them) or {@code standalone}
 * @param protocols    OpenFlow versions to accept, e.g. [OpenFlow10, OpenFlow13]
 */
public record BridgeSpec(String name, String datapathType, String failMode, List<String> protocols,
                         Map<String, String> externalIds, Map<String, String> otherConfig) {
    public BridgeSpec {
        Objects.requireNonNull(name, "name");
        if (name.isBlank() || name.length() > 15) {
            throw new IllegalArgumentException("bridge name must be 1..15 characters (a Linux interface name): '" + name + "'");
        }
        datapathType = datapathType == null ? "" : datapathType;
        failMode = failMode == null ? "" : failMode;
        protocols = List.copyOf(protocols == null ? List.of() : protocols);
        externalIds = Map.copyOf(externalIds == null ? Map.of() : externalIds);
        otherConfig = Map.copyOf(otherConfig == null ? Map.of() : otherConfig);
    }
}
