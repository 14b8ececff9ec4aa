package dev.weft.agent.host;

import java.io.IOException;
import java.util.List;

/**
 * The host side of the gateway port: its MAC, MTU, the pod CIDR's gateway address and link up, in the node's network
 * namespace. One {@code ip -batch}; every command is idempotent ({@code addr replace}), so it doubles as the repair.
 */
public final class GatewayInterface {

    private GatewayInterface() {
    }

    /** @param address the gateway address with the pod CIDR's prefix, e.g. 10.244.1.1/24 */
    public static void configure(HostCommands host, String name, String mac, int mtu, String address) throws IOException {
        host.ipBatch(List.of(
                "link set " + name + " address " + mac + " mtu " + mtu,
                "addr replace " + address + " dev " + name,
                "link set " + name + " up"));
    }
}
