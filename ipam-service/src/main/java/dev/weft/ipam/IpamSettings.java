package dev.weft.ipam;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpPrefix;

import java.util.ArrayList;
import java.util.List;

/**
 * The validated pool layout: every cluster CIDR as a {@link CidrPool} with its family's node mask, plus the reserved
 * ranges. Construction collects every problem of the configuration and reports them together.
 */
public record IpamSettings(List<CidrPool> pools, List<IpPrefix> reserved) {

    public static final int MIN_MASK_V4 = 16;
    public static final int MAX_MASK_V4 = 30;
    public static final int MIN_MASK_V6 = 64;
    public static final int MAX_MASK_V6 = 126;

    public IpamSettings {
        pools = List.copyOf(pools);
        reserved = List.copyOf(reserved);
    }

    public static IpamSettings from(IpamConfig config) {
        return of(config.clusterCidrs(), config.nodeMaskSizeV4(), config.nodeMaskSizeV6(),
                config.reservedCidrs().orElse(List.of()));
    }

    /** IllegalArgumentException listing every problem, each naming its configuration key. */
    public static IpamSettings of(List<String> clusterCidrs, int maskV4, int maskV6, List<String> reservedCidrs) {
        List<String> errors = new ArrayList<>();
        if (maskV4 < MIN_MASK_V4 || maskV4 > MAX_MASK_V4) {
            errors.add("ipam.node-mask-size-v4=" + maskV4 + " is out of range: allowed " + MIN_MASK_V4 + "-" + MAX_MASK_V4);
        }
        if (maskV6 < MIN_MASK_V6 || maskV6 > MAX_MASK_V6) {
            errors.add("ipam.node-mask-size-v6=" + maskV6 + " is out of range: allowed " + MIN_MASK_V6 + "-" + MAX_MASK_V6);
        }
        List<CidrPool> pools = new ArrayList<>();
        List<String> texts = clusterCidrs == null ? List.of() : clusterCidrs.stream().map(String::strip)
                .filter(s -> !s.isEmpty()).toList();
        if (texts.isEmpty()) {
            errors.add("ipam.cluster-cidrs is empty: configure at least one IPv4 or IPv6 CIDR");
        }
        for (String text : texts) {
            IpPrefix cidr;
            try {
                cidr = IpPrefix.parse(text);
            } catch (IllegalArgumentException e) {
                errors.add("ipam.cluster-cidrs: " + e.getMessage());
                continue;
            }
            for (CidrPool other : pools) {
                if (other.cidr().overlaps(cidr)) {
                    errors.add("ipam.cluster-cidrs: " + cidr + " overlaps " + other.cidr());
                }
            }
            int mask = cidr.family() == AddressFamily.IPV4 ? maskV4 : maskV6;
            String key = cidr.family() == AddressFamily.IPV4 ? "ipam.node-mask-size-v4" : "ipam.node-mask-size-v6";
            try {
                pools.add(new CidrPool(cidr, mask));
            } catch (IllegalArgumentException e) {
                errors.add(key + "=" + mask + ": " + e.getMessage());
            }
        }
        List<IpPrefix> reserved = new ArrayList<>();
        for (String text : reservedCidrs == null ? List.<String>of() : reservedCidrs) {
            if (text.isBlank()) {
                continue;
            }
            try {
                IpPrefix r = IpPrefix.parse(text.strip());
                if (pools.stream().noneMatch(p -> p.cidr().overlaps(r))) {
                    errors.add("ipam.reserved-cidrs: " + r + " lies outside every cluster CIDR");
                }
                reserved.add(r);
            } catch (IllegalArgumentException e) {
                errors.add("ipam.reserved-cidrs: " + e.getMessage());
            }
        }
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException("Invalid IPAM configuration: " + String.join("; ", errors));
        }
        return new IpamSettings(pools, reserved);
    }
}
