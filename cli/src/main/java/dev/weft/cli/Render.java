package dev.weft.cli;

import dev.weft.proto.agent.v1.AgentInfo;
import dev.weft.proto.agent.v1.AgentNetworkPolicy;
import dev.weft.proto.agent.v1.Flow;
import dev.weft.proto.agent.v1.PodInterface;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.weft.cli.Output.row;

/** How each `get` shows its objects, in the three output formats. */
final class Render {

    private Render() {
    }

    /** The Antrea walkthrough's ovs-ofctl-like lines: {@code table=90, n_packets=0, n_bytes=0, priority=200,ip,reg1=0x6 actions=...}. */
    static String flows(List<Flow> flows, Output.Format f) {
        if (f == Output.Format.TABLE) {
            StringBuilder sb = new StringBuilder();
            for (Flow x : flows) {
                sb.append("table=").append(x.getTableId()).append(", n_packets=").append(x.getNPackets())
                        .append(", n_bytes=").append(x.getNBytes()).append(", priority=").append(x.getPriority())
                        .append(x.getMatch().isEmpty() ? "" : "," + x.getMatch()).append(" actions=").append(x.getActions())
                        .append('\n');
            }
            return sb.toString();
        }
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Flow x : flows) {
            rows.add(row("table", x.getTableId(), "tableName", x.getTableName(), "cookie", String.format("0x%x", x.getCookie()),
                    "priority", x.getPriority(), "nPackets", x.getNPackets(), "nBytes", x.getNBytes(),
                    "durationSeconds", x.getDurationSeconds(), "match", x.getMatch(), "actions", x.getActions()));
        }
        return Output.structured(f, rows);
    }

    static String policies(List<AgentNetworkPolicy> items, Output.Format f) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (AgentNetworkPolicy p : items) {
            rows.add(f == Output.Format.TABLE
                    ? row("NAMESPACE", p.getNamespace(), "NAME", p.getName(), "APPLIED-TO", p.getAppliedToGroupsList(),
                    "RULES", p.getRules())
                    : row("namespace", p.getNamespace(), "name", p.getName(), "uid", p.getUid(), "generation", p.getGeneration(),
                    "appliedTo", p.getAppliedToGroupsList(), "rules", p.getRules(), "realized", p.getRealized(),
                    "flows", p.getFlows()));
        }
        return f == Output.Format.TABLE ? Output.table(List.of("NAMESPACE", "NAME", "APPLIED-TO", "RULES"), rows)
                : Output.structured(f, rows);
    }

    static String pods(List<PodInterface> items, Output.Format f) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (PodInterface p : items) {
            rows.add(f == Output.Format.TABLE
                    ? row("NAMESPACE", p.getNamespace(), "NAME", p.getName(), "INTERFACE-NAME", p.getInterfaceName(),
                    "IP", p.getIpsList(), "MAC", p.getMac(), "PORT-UUID", p.getPortUuid(), "OF-PORT", p.getOfport(),
                    "CONTAINER-ID", shortId(p.getContainerId()))
                    : row("namespace", p.getNamespace(), "name", p.getName(), "interfaceName", p.getInterfaceName(),
                    "ips", p.getIpsList(), "mac", p.getMac(), "portUuid", p.getPortUuid(), "ofport", p.getOfport(),
                    "containerId", p.getContainerId(), "netns", p.getNetns()));
        }
        return f == Output.Format.TABLE ? Output.table(List.of("NAMESPACE", "NAME", "INTERFACE-NAME", "IP", "MAC",
                "PORT-UUID", "OF-PORT", "CONTAINER-ID"), rows) : Output.structured(f, rows);
    }

    private static String shortId(String id) {
        return id.length() > 12 ? id.substring(0, 12) : id;
    }

    static String agentInfo(AgentInfo i, Output.Format f) {
        String status = i.getOpenflowConnected() && i.getOvsdbConnected() ? "Healthy" : "Degraded";
        if (f == Output.Format.TABLE) {
            return Output.table(List.of("NODE", "VERSION", "STATUS", "NODE-SUBNET", "NETWORK-POLICIES", "LOCAL-PODS", "FLOWS",
                            "ROUND", "OVS", "CONTROLLER", "RSS-MB"),
                    List.of(row("NODE", i.getNodeName(), "VERSION", i.getVersion(), "STATUS", status, "NODE-SUBNET", i.getPodCidrsList(),
                            "NETWORK-POLICIES", i.getNetworkPolicies(), "LOCAL-PODS", i.getLocalPods(), "FLOWS", i.getFlows(),
                            "ROUND", i.getRound(), "OVS", i.getOvsVersion().isEmpty() ? "-" : i.getOvsVersion(),
                            "CONTROLLER", i.getControllerConnected() ? "synced" : "disconnected",
                            "RSS-MB", i.getRssBytes() / (1024 * 1024))));
        }
        return Output.structured(f, row("nodeName", i.getNodeName(), "status", status, "version", i.getVersion(),
                "podCIDRs", i.getPodCidrsList(), "bridge", i.getBridge(), "ovsVersion", i.getOvsVersion(),
                "ovsdbConnected", i.getOvsdbConnected(), "openflowConnected", i.getOpenflowConnected(),
                "controllerConnected", i.getControllerConnected(), "localPods", i.getLocalPods(),
                "networkPolicies", i.getNetworkPolicies(), "flows", i.getFlows(), "round", i.getRound(),
                "rssBytes", i.getRssBytes(), "uptimeSeconds", i.getUptimeSeconds(), "gatewayIP", i.getGatewayIp(),
                "nodeIP", i.getNodeIp()));
    }

    /** IPv4 / IPv6 as people write them. */
    private static String family(dev.weft.proto.ipam.v1.IpFamily f) {
        return switch (f) {
            case IPV4 -> "IPv4";
            case IPV6 -> "IPv6";
            default -> "";
        };
    }

    static String ipamPools(List<dev.weft.proto.ipam.v1.PoolUtilization> pools, Output.Format f) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (var p : pools) {
            String used = String.format(java.util.Locale.ROOT, "%.1f%%", p.getUtilization() * 100);
            rows.add(f == Output.Format.TABLE
                    ? row("POOL", p.getPoolCidr(), "FAMILY", family(p.getFamily()), "NODE-MASK", "/" + p.getNodeMaskSize(),
                    "TOTAL", p.getTotalBlocks(), "ALLOCATED", p.getAllocatedBlocks(), "RESERVED", p.getReservedBlocks(),
                    "FREE", p.getFreeBlocks(), "USED", used)
                    : row("pool", p.getPoolCidr(), "family", family(p.getFamily()), "nodeMaskSize", p.getNodeMaskSize(),
                    "totalBlocks", p.getTotalBlocks(), "allocatedBlocks", p.getAllocatedBlocks(),
                    "reservedBlocks", p.getReservedBlocks(), "freeBlocks", p.getFreeBlocks(),
                    "utilization", p.getUtilization()));
        }
        return f == Output.Format.TABLE ? Output.table(List.of("POOL", "FAMILY", "NODE-MASK", "TOTAL", "ALLOCATED",
                "RESERVED", "FREE", "USED"), rows) : Output.structured(f, rows);
    }

    static String ipamNode(dev.weft.proto.ipam.v1.NodeAllocation n, Output.Format f) {
        List<String> cidrs = n.getCidrsList().stream().map(dev.weft.proto.ipam.v1.PodCidr::getCidr).toList();
        if (f == Output.Format.TABLE) {
            return Output.table(List.of("NODE", "STATE", "POD-CIDRS", "POOLS", "MESSAGE"), List.of(row("NODE", n.getNodeName(),
                    "STATE", n.getState().name(), "POD-CIDRS", cidrs.isEmpty() ? "-" : cidrs,
                    "POOLS", n.getCidrsList().stream().map(c -> c.getPool().isEmpty() ? "-" : c.getPool()).toList(),
                    "MESSAGE", n.getMessage())));
        }
        List<Map<String, Object>> blocks = new ArrayList<>();
        for (var c : n.getCidrsList()) {
            blocks.add(row("cidr", c.getCidr(), "family", family(c.getFamily()), "pool", c.getPool()));
        }
        return Output.structured(f, row("nodeName", n.getNodeName(), "nodeUID", n.getNodeUid(),
                "state", n.getState().name(), "podCIDRs", blocks, "message", n.getMessage()));
    }

    static String ipamLookup(dev.weft.proto.ipam.v1.LookupIpResponse r, Output.Format f) {
        if (f == Output.Format.TABLE) {
            return Output.table(List.of("IP", "FAMILY", "NODE", "POD-CIDR", "POOL"), List.of(row("IP", r.getIp(),
                    "FAMILY", family(r.getFamily()), "NODE", r.getNodeName().isEmpty() ? "<none>" : r.getNodeName(),
                    "POD-CIDR", r.getPodCidr().isEmpty() ? "-" : r.getPodCidr(), "POOL", r.getPool().isEmpty() ? "-" : r.getPool())));
        }
        return Output.structured(f, row("ip", r.getIp(), "family", family(r.getFamily()), "nodeName", r.getNodeName(),
                "podCIDR", r.getPodCidr(), "pool", r.getPool()));
    }
}
