package dev.weft.agent.ovsdb;

import java.util.Map;

/**
 * One Port of a bridge with its (single) Interface, as read from OVSDB.
 *
 * @param ofport      the OpenFlow port number; 0 while ovs-vswitchd has not assigned one, -1 when it failed to
 * @param externalIds the Interface's external_ids overlaid by the Port's (we write the same keys on both)
 * @param error       the Interface's error column (why ofport is -1), empty when none
 */
public record OvsPort(String portUuid, String interfaceUuid, String name, String type, int ofport,
                      Map<String, String> externalIds, Map<String, String> options, String error) {
    public OvsPort {
        externalIds = Map.copyOf(externalIds);
        options = Map.copyOf(options);
    }
}
