package dev.weft.agent.openflow;

import java.nio.file.Path;

/** Where the switch listens: {@code unix:/var/run/openvswitch/br-int.mgmt} or {@code tcp:127.0.0.1:6653} (a ptcp: listener). */
public record OfEndpoint(Path unixSocket, String host, int port) {

    public static OfEndpoint parse(String spec) {
        if (spec.startsWith("unix:")) {
            return new OfEndpoint(Path.of(spec.substring(5)), null, 0);
        }
        if (spec.startsWith("tcp:")) {
            String rest = spec.substring(4);
            int colon = rest.lastIndexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException("OpenFlow endpoint " + spec + ": expected tcp:HOST:PORT");
            }
            return new OfEndpoint(null, rest.substring(0, colon), Integer.parseInt(rest.substring(colon + 1)));
        }
        throw new IllegalArgumentException("OpenFlow endpoint " + spec + ": expected unix:PATH or tcp:HOST:PORT");
    }

    public boolean isUnix() {
        return unixSocket != null;
    }

    @Override
    public String toString() {
        return isUnix() ? "unix:" + unixSocket : "tcp:" + host + ":" + port;
    }
}
