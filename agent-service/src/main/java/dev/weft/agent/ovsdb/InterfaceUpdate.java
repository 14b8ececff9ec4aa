package dev.weft.agent.ovsdb;

import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * Columns of an Interface row to set; absent ones are left as they are. Build from {@link #none()} with the withers.
 *
 * @param mac        {@code Interface.mac}: the MAC ovs-vswitchd gives an internal port (kept across its restarts)
 * @param mtuRequest {@code Interface.mtu_request}: without it ovs-vswitchd sets an internal port's MTU to the smallest
 *                   MTU of the bridge's other ports whenever ports change
 * @param options    {@code Interface.options}, replaced whole (e.g. a tunnel's remote_ip, key)
 */
public record InterfaceUpdate(Optional<String> type, Optional<String> mac, OptionalInt mtuRequest,
                              Optional<Map<String, String>> options) {

    public static InterfaceUpdate none() {
        return new InterfaceUpdate(Optional.empty(), Optional.empty(), OptionalInt.empty(), Optional.empty());
    }

    public InterfaceUpdate type(String t) {
        return new InterfaceUpdate(Optional.of(t), mac, mtuRequest, options);
    }

    public InterfaceUpdate mac(String m) {
        return new InterfaceUpdate(type, Optional.of(m), mtuRequest, options);
    }

    public InterfaceUpdate mtuRequest(int mtu) {
        return new InterfaceUpdate(type, mac, OptionalInt.of(mtu), options);
    }

    public InterfaceUpdate options(Map<String, String> o) {
        return new InterfaceUpdate(type, mac, mtuRequest, Optional.of(Map.copyOf(o)));
    }

    Row row() {
        Row r = Row.empty();
        if (type.isPresent()) {
            r = r.with("type", type.get());
        }
        if (mac.isPresent()) {
            r = r.with("mac", mac.get());
        }
        if (mtuRequest.isPresent()) {
            r = r.with("mtu_request", mtuRequest.getAsInt());
        }
        if (options.isPresent()) {
            r = r.withMap("options", options.get());
        }
        return r;
    }
}
