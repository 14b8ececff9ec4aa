package dev.weft.agent.ovsdb;

import java.util.List;
import java.util.Map;

/**
 * A Bridge row as read from OVSDB.
 *
 * @param datapathType as stored: "" means the default, {@code system}; see {@link #effectiveDatapathType()}
 * @param failMode     {@code secure}, {@code standalone}, or "" when unset (Open vSwitch then behaves as standalone)
 * @param protocols    the OpenFlow versions the bridge accepts, e.g. OpenFlow13; empty means OVS's default set
 */
public record OvsBridge(String uuid, String name, String datapathType, String failMode, List<String> protocols,
                        Map<String, String> externalIds, Map<String, String> otherConfig, int portCount) {
    public OvsBridge {
        protocols = List.copyOf(protocols);
        externalIds = Map.copyOf(externalIds);
        otherConfig = Map.copyOf(otherConfig);
    }

    /** The datapath type Open vSwitch uses for this bridge ("" is {@code system}). */
    public String effectiveDatapathType() {
        return datapathType.isEmpty() ? "system" : datapathType;
    }
}
