package dev.weft.agent;

import dev.weft.agent.health.Watchdog;
import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.ovsdb.OvsdbClient;
import dev.weft.agent.ovsdb.OvsdbProbe;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.pipeline.DatapathService;
import dev.weft.agent.policy.PolicyAgent;
import dev.weft.proto.agent.v1.AgentInfo;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Instance;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The agent's state as operators see it, in one place: what `weftctl get agentinfo` prints and what the agent
 * publishes in its WeftAgentInfo object.
 */
@ApplicationScoped
public class AgentState {
    private final AgentConfig config;
    private final DatapathService datapath;
    private final PolicyAgent policy;
    private final Instance<OvsdbClient> ovsdb;
    private final Watchdog watchdog;

    AgentState(AgentConfig config, DatapathService datapath, PolicyAgent policy, Instance<OvsdbClient> ovsdb,
               Watchdog watchdog) {
        this.config = config;
        this.datapath = datapath;
        this.policy = policy;
        this.ovsdb = ovsdb;
        this.watchdog = watchdog;
    }

    /**
     * The agent's version: the build's (the Maven project version, which Quarkus records as quarkus.application.version
     * in the application and in tests alike); "dev" only if the configuration has none.
     */
    public static String version() {
        return org.eclipse.microprofile.config.ConfigProvider.getConfig()
                .getOptionalValue("quarkus.application.version", String.class).orElse("dev");
    }

    /** Loops of the agent stuck past their bound (liveness DOWN when not empty), described. */
    public java.util.List<String> stalls() {
        return watchdog.stalls().stream().map(Watchdog.Stall::describe).toList();
    }

    /** The four conditions of WeftAgentInfo, without the rest of the info (cheap enough to look at every few seconds). */
    public record Conditions(boolean healthy, boolean controllerConnected, boolean ovsdbConnected, boolean openflowConnected) {
        /** The conditions as {@code info}, and the stalls listed with it, show them. */
        public static Conditions of(AgentInfo info, java.util.List<String> stalls) {
            return new Conditions(stalls.isEmpty(), info.getControllerConnected(), info.getOvsdbConnected(),
                    info.getOpenflowConnected());
        }
    }

    public Conditions conditions() {
        return new Conditions(watchdog.stalls().isEmpty(), policy.controller().isSynced(),
                OvsdbProbe.check(config.resolvedOvsdbSocket(), Duration.ofMillis(500)) == null,
                datapath.datapath().isReady());
    }

    public AgentInfo info() {
        Datapath dp = datapath.datapath();
        Conditions conditions = conditions();
        boolean ovsdbUp = conditions.ovsdbConnected();
        AgentInfo.Builder info = AgentInfo.newBuilder()
                .setNodeName(config.resolvedNodeName())
                .setVersion(version())
                .setBridge(config.bridge())
                .setOvsdbConnected(ovsdbUp)
                .setOpenflowConnected(conditions.openflowConnected())
                .setControllerConnected(conditions.controllerConnected())
                .setLocalPods(dp.localPods().size())
                .setNetworkPolicies(policy.controller().views().size())
                .setFlows(dp.flowCount())
                .setRound(dp.round())
                .setRssBytes(residentSetBytes())
                .setUptimeSeconds(ManagementFactory.getRuntimeMXBean().getUptime() / 1000);
        NodeNetwork n = dp.nodeNetwork();
        if (n != null) {
            info.addAllPodCidrs(n.podCidrs());
            if (!n.gatewayIps().isEmpty()) {
                info.setGatewayIp(n.gatewayIps().get(0));
            }
            if (n.nodeIp() != null) {
                info.setNodeIp(n.nodeIp());
            }
        }
        if (ovsdbUp && ovsdb.isResolvable()) {
            try {
                info.setOvsVersion(ovsdb.get().ovsVersion());
            } catch (Exception e) {
                // shown as empty
            }
        }
        return info.build();
    }

    /** VmRSS from /proc: what the node pays for this agent (heap figures hide metaspace, code cache, direct buffers). */
    public static long residentSetBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // not Linux: unknown
        }
        return 0;
    }
}
