package dev.weft.ipam;

import dev.weft.net.IpPrefix;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IpamSettingsTest {

    private static String error(List<String> pools, int v4, int v6, List<String> reserved) {
        return assertThrows(IllegalArgumentException.class, () -> IpamSettings.of(pools, v4, v6, reserved)).getMessage();
    }

    @Test
    void dualStackWithSeveralPoolsPerFamily() {
        IpamSettings s = IpamSettings.of(List.of("10.10.0.0/16", "fd00:10::/48", "10.20.0.0/16"), 24, 64,
                List.of("10.10.0.0/24"));
        assertEquals(3, s.pools().size());
        assertEquals(24, s.pools().get(0).blockPrefix());
        assertEquals(64, s.pools().get(1).blockPrefix());
        assertEquals(List.of(IpPrefix.parse("10.10.0.0/24")), s.reserved());
    }

    @Test
    void eachInvalidSettingIsNamedWithItsKey() {
        String m = error(List.of("10.10.0.1/16"), 24, 64, List.of());
        assertTrue(m.startsWith("Invalid IPAM configuration: ipam.cluster-cidrs:"), m);
        assertTrue(m.contains("did you mean 10.10.0.0/16"), m);

        m = error(List.of("10.10.0.0/16"), 31, 64, List.of());
        assertTrue(m.contains("ipam.node-mask-size-v4=31 is out of range: allowed 16-30"), m);
        m = error(List.of("10.10.0.0/16"), 15, 64, List.of());
        assertTrue(m.contains("ipam.node-mask-size-v4=15"), m);
        m = error(List.of("fd00::/48"), 24, 63, List.of());
        assertTrue(m.contains("ipam.node-mask-size-v6=63 is out of range: allowed 64-126"), m);
        m = error(List.of("fd00::/48"), 24, 127, List.of());
        assertTrue(m.contains("ipam.node-mask-size-v6=127"), m);

        m = error(List.of("10.10.0.0/24"), 20, 64, List.of());
        assertTrue(m.contains("node mask /20 is shorter than pool 10.10.0.0/24"), m);
        m = error(List.of("fd00::/32"), 24, 64, List.of());
        assertTrue(m.contains("ipam.node-mask-size-v6=64") && m.contains("2^32 blocks"), m);

        m = error(List.of("banana"), 24, 64, List.of());
        assertTrue(m.contains("'banana' is not a CIDR"), m);
        m = error(List.of(), 24, 64, List.of());
        assertTrue(m.contains("ipam.cluster-cidrs is empty"), m);
        m = error(List.of("10.10.0.0/16", "10.10.128.0/17"), 24, 64, List.of());
        assertTrue(m.contains("10.10.128.0/17 overlaps 10.10.0.0/16"), m);

        m = error(List.of("10.10.0.0/16"), 24, 64, List.of("10.99.0.0/24"));
        assertTrue(m.contains("ipam.reserved-cidrs: 10.99.0.0/24 lies outside every cluster CIDR"), m);
        m = error(List.of("10.10.0.0/16"), 24, 64, List.of("10.10.0.0/33"));
        assertTrue(m.contains("ipam.reserved-cidrs:"), m);
    }

    @Test
    void everyProblemIsReportedAtOnce() {
        String m = error(List.of("10.10.0.1/16"), 40, 200, List.of());
        assertTrue(m.contains("ipam.node-mask-size-v4=40") && m.contains("ipam.node-mask-size-v6=200")
                && m.contains("ipam.cluster-cidrs"), m);
    }
}
