package dev.weft.net;

import java.util.Objects;

/**
 * An address as it is configured on an interface: the address and the length of its subnet, written
 * "10.10.1.5/24" by ip-addr and in CNI results. Unlike an {@link IpPrefix}, the host bits are the point.
 */
public record InterfaceAddress(IpAddress address, int prefixLength) {

    public InterfaceAddress {
        Objects.requireNonNull(address, "address");
        if (prefixLength < 0 || prefixLength > address.family().bits()) {
            throw new IllegalArgumentException("prefix length /" + prefixLength + " is out of range for "
                    + address.family() + " (0-" + address.family().bits() + ")");
        }
    }

    /** Parses "address/length" with the same rules as {@link IpPrefix#parse}, host bits allowed. */
    public static InterfaceAddress parse(String text) {
        return Literals.interfaceAddress(text);
    }

    public AddressFamily family() {
        return address.family();
    }

    /** The subnet the address is in. */
    public IpPrefix subnet() {
        return IpPrefix.containing(address, prefixLength);
    }

    @Override
    public String toString() {
        return address + "/" + prefixLength;
    }
}
