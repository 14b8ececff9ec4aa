package dev.weft.agent.ovsdb;

import java.util.Map;
import java.util.Objects;

/**
 * A port to add to a bridge: one Port row with one Interface row of the same name.
 *
 * @param type          Interface type: "" (a system device such as a veth end), "internal", "geneve", ...
 * @param ofportRequest the OpenFlow port number to ask for; 0 lets Open vSwitch choose
 */
public record PortSpec(String name, String type, Map<String, String> options, Map<String, String> externalIds,
                       int ofportRequest) {
    public PortSpec {
        Objects.requireNonNull(name, "name");
        type = type == null ? "" : type;
        options = Map.copyOf(options == null ? Map.of() : options);
        externalIds = Map.copyOf(externalIds == null ? Map.of() : externalIds);
        if (name.isBlank() || name.length() > 15) {
            throw new IllegalArgumentException("port name must be 1..15 characters (a Linux interface name): '" + name + "'");
        }
        if (ofportRequest < 0 || ofportRequest > 65279) {
            throw new IllegalArgumentException("ofport_request out of range 1..65279: " + ofportRequest);
        }
    }

    public static PortSpec of(String name, String type) {
        return new PortSpec(name, type, Map.of(), Map.of(), 0);
    }
}
